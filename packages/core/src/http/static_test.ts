// Static files served by the kernel, with real clients (fetch, curl, raw TCP) over real
// sockets against the built library: validators and 304, ranges, precompressed variants,
// HEAD, traversal in every form, and files changing during a download.

import assert from "node:assert/strict";
import { brotliCompressSync, gzipSync } from "node:zlib";
import { testCerts } from "../_certs.ts";
import { serve } from "./serve.ts";
import type { HttpServer, StaticMount } from "./types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Site {
  dir: string;
  public: string;
  secret: string;
  calls: { n: number };
  server: HttpServer;
  base: string;
  [Symbol.asyncDispose](): Promise<void>;
}

async function site(): Promise<Site> {
  const dir = await Deno.makeTempDir({ prefix: "krepis-static-" });
  const pub = `${dir}/public`;
  await Deno.mkdir(`${pub}/sub`, { recursive: true });
  await Deno.mkdir(`${dir}/outside`);
  const secret = "TOP-SECRET-" + crypto.randomUUID();
  await Deno.writeTextFile(`${dir}/secret.txt`, secret);
  await Deno.writeTextFile(`${dir}/outside/secret.txt`, secret);
  await Deno.writeTextFile(
    `${pub}/hello.txt`,
    "hello, static world\n".repeat(200),
  );
  await Deno.writeTextFile(`${pub}/index.html`, "<h1>home</h1>");
  await Deno.writeTextFile(`${pub}/sub/index.html`, "<h1>sub</h1>");
  const js = "console.log('app');\n".repeat(100);
  await Deno.writeTextFile(`${pub}/app.js`, js);
  await Deno.writeFile(`${pub}/app.js.br`, brotliCompressSync(js));
  await Deno.writeFile(`${pub}/app.js.gz`, gzipSync(js));
  await Deno.symlink(`${dir}/secret.txt`, `${pub}/link-out`);
  await Deno.symlink(`${dir}/outside`, `${pub}/dir-out`);
  await Deno.symlink(`${pub}/hello.txt`, `${pub}/link-in`);
  const calls = { n: 0 };
  const server = await serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
    // The same directory again, its large files sent with sendfile(2).
    static: { "/assets": pub, "/sent": { root: pub, sendfile: true } },
  }, () => {
    calls.n++;
    return new Response("from the handler");
  });
  return {
    dir,
    public: pub,
    secret,
    calls,
    server,
    base: `http://127.0.0.1:${server.addr.port}`,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** curl's status line, headers (lower-cased names) and body bytes. */
async function curl(
  args: string[],
): Promise<{ status: number; headers: Map<string, string>; body: Uint8Array }> {
  const headerFile = await Deno.makeTempFile();
  try {
    const out = await new Deno.Command("curl", {
      args: ["-s", "--max-time", "30", "-D", headerFile, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const lines = (await Deno.readTextFile(headerFile)).split("\r\n");
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const i = line.indexOf(":");
      if (i > 0) {
        headers.set(line.slice(0, i).toLowerCase(), line.slice(i + 1).trim());
      }
    }
    return {
      status: Number(lines[0].split(" ")[1]),
      headers,
      body: out.stdout,
    };
  } finally {
    await Deno.remove(headerFile);
  }
}

/** Sends a raw request line (no client-side normalisation) and returns the response. */
async function raw(server: HttpServer, target: string): Promise<string> {
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  try {
    await conn.write(
      encoder.encode(
        `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      ),
    );
    const chunks: string[] = [];
    const buf = new Uint8Array(16 * 1024);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      chunks.push(decoder.decode(buf.subarray(0, n)));
    }
    return chunks.join("");
  } finally {
    conn.close();
  }
}

Deno.test("static: files, content types, index files and redirects; the handler never runs", async () => {
  await using s = await site();
  const res = await fetch(`${s.base}/assets/hello.txt`);
  assert.deepEqual(res.status, 200);
  assert.deepEqual(
    await res.text(),
    await Deno.readTextFile(`${s.public}/hello.txt`),
  );
  assert.deepEqual(
    res.headers.get("content-type"),
    "text/plain; charset=utf-8",
  );
  assert.deepEqual(res.headers.get("accept-ranges"), "bytes");
  assert.ok(res.headers.get("etag")?.startsWith('"'));
  assert.ok(res.headers.get("last-modified")?.endsWith("GMT"));

  const h2 = await curl([
    "--http2-prior-knowledge",
    `${s.base}/assets/hello.txt`,
  ]);
  assert.deepEqual(
    h2.body,
    await Deno.readFile(`${s.public}/hello.txt`),
  );

  const home = await fetch(`${s.base}/assets/`);
  assert.deepEqual([home.status, await home.text()], [200, "<h1>home</h1>"]);
  assert.deepEqual(
    home.headers.get("content-type"),
    "text/html; charset=utf-8",
  );
  const redirect = await fetch(`${s.base}/assets/sub?x=1`, {
    redirect: "manual",
  });
  await redirect.body?.cancel();
  assert.deepEqual(redirect.status, 301);
  assert.deepEqual(redirect.headers.get("location"), "/assets/sub/?x=1");
  const sub = await fetch(`${s.base}/assets/sub`);
  assert.deepEqual(await sub.text(), "<h1>sub</h1>");

  const missing = await fetch(`${s.base}/assets/nope.txt`);
  await missing.body?.cancel();
  assert.deepEqual(missing.status, 404);
  const post = await fetch(`${s.base}/assets/hello.txt`, {
    method: "POST",
    body: "x",
  });
  await post.body?.cancel();
  assert.deepEqual([post.status, post.headers.get("allow")], [
    405,
    "GET, HEAD",
  ]);
  const inside = await fetch(`${s.base}/assets/link-in`);
  assert.deepEqual(inside.status, 200);
  await inside.body?.cancel();

  assert.deepEqual(s.calls.n, 0);
  assert.deepEqual(s.server.stats().requestsTotal, 0);
  // Outside the prefix (also a look-alike prefix) the handler answers as usual.
  for (const path of ["/", "/assetsx/hello.txt"]) {
    assert.deepEqual(
      await (await fetch(s.base + path)).text(),
      "from the handler",
    );
  }
  assert.deepEqual(s.calls.n, 2);
});

Deno.test("static: conditional requests answer 304 (fetch and curl)", async () => {
  await using s = await site();
  const url = `${s.base}/assets/hello.txt`;
  const first = await fetch(url);
  await first.body?.cancel();
  const etag = first.headers.get("etag")!;
  const modified = first.headers.get("last-modified")!;

  const byTag = await fetch(url, { headers: { "if-none-match": etag } });
  assert.deepEqual([byTag.status, await byTag.text()], [304, ""]);
  assert.deepEqual(byTag.headers.get("etag"), etag);
  const weak = await fetch(url, {
    headers: { "if-none-match": `"other", W/${etag}` },
  });
  assert.deepEqual(weak.status, 304);
  await weak.body?.cancel();
  const stale = await fetch(url, { headers: { "if-none-match": '"other"' } });
  assert.deepEqual(stale.status, 200);
  await stale.body?.cancel();

  const byDate = await curl(["-H", `If-Modified-Since: ${modified}`, url]);
  assert.deepEqual([byDate.status, byDate.body.length], [304, 0]);
  const older = new Date(Date.parse(modified) - 60_000).toUTCString();
  const changed = await curl(["-H", `If-Modified-Since: ${older}`, url]);
  assert.deepEqual(changed.status, 200);

  // A new version of the file gets a new tag: the old one no longer matches.
  await Deno.writeTextFile(`${s.public}/hello.txt`, "new content");
  const after = await fetch(url, { headers: { "if-none-match": etag } });
  assert.deepEqual([after.status, await after.text()], [200, "new content"]);
  assert.notDeepEqual(after.headers.get("etag"), etag);
});

Deno.test("static: single ranges give 206, unsatisfiable ones 416 (curl)", async () => {
  await using s = await site();
  const url = `${s.base}/assets/hello.txt`;
  const whole = await Deno.readFile(`${s.public}/hello.txt`);
  const part = await curl(["-r", "6-11", url]);
  assert.deepEqual(part.status, 206);
  assert.deepEqual(decoder.decode(part.body), " stati");
  assert.deepEqual(
    part.headers.get("content-range"),
    `bytes 6-11/${whole.length}`,
  );
  const tail = await curl(["-r", "-5", url]);
  assert.deepEqual([tail.status, part.headers.get("content-length")], [
    206,
    "6",
  ]);
  assert.deepEqual(tail.body, whole.subarray(whole.length - 5));
  const open = await curl(["-H", "Range: bytes=3990-", url]);
  assert.deepEqual(open.body, whole.subarray(3990));

  const beyond = await curl(["-H", `Range: bytes=${whole.length}-`, url]);
  assert.deepEqual(beyond.status, 416);
  assert.deepEqual(
    beyond.headers.get("content-range"),
    `bytes */${whole.length}`,
  );
  assert.deepEqual(beyond.body.length, 0);
  // A stale If-Range sends the whole current file instead of a piece of it.
  const stale = await curl(["-r", "0-1", "-H", 'If-Range: "old"', url]);
  assert.deepEqual([stale.status, stale.body.length], [200, whole.length]);
  // fetch too.
  const viaFetch = await fetch(url, { headers: { range: "bytes=0-4" } });
  assert.deepEqual([viaFetch.status, await viaFetch.text()], [206, "hello"]);
});

Deno.test("static: .br/.gz siblings chosen by Accept-Encoding, with Vary", async () => {
  await using s = await site();
  const url = `${s.base}/assets/app.js`;
  const js = await Deno.readFile(`${s.public}/app.js`);
  const br = await curl(["-H", "Accept-Encoding: gzip, br", url]);
  assert.deepEqual(br.headers.get("content-encoding"), "br");
  assert.deepEqual(br.body, await Deno.readFile(`${s.public}/app.js.br`));
  assert.deepEqual(br.headers.get("vary"), "accept-encoding");
  assert.deepEqual(
    br.headers.get("content-type"),
    "text/javascript; charset=utf-8",
  );
  const gz = await curl(["-H", "Accept-Encoding: gzip, br;q=0", url]);
  assert.deepEqual(gz.headers.get("content-encoding"), "gzip");
  assert.deepEqual(gz.body, await Deno.readFile(`${s.public}/app.js.gz`));
  const plain = await curl([url]);
  assert.deepEqual(plain.headers.get("content-encoding"), undefined);
  assert.deepEqual(plain.body, js);
  assert.notDeepEqual(br.headers.get("etag"), plain.headers.get("etag"));
  // curl decoding on its own, and fetch (which asks for gzip and br) get the original.
  const decoded = await curl(["--compressed", url]);
  assert.deepEqual(decoded.body, js);
  const res = await fetch(url);
  assert.deepEqual(new Uint8Array(await res.arrayBuffer()), js);
});

Deno.test("static: HEAD sends the headers of GET and no body", async () => {
  await using s = await site();
  const url = `${s.base}/assets/hello.txt`;
  const size = (await Deno.stat(`${s.public}/hello.txt`)).size;
  const head = await curl(["-I", url]);
  assert.deepEqual(head.status, 200);
  assert.deepEqual(head.headers.get("content-length"), String(size));
  // With -I curl prints the head to stdout: nothing may follow it.
  assert.ok(decoder.decode(head.body).endsWith("\r\n\r\n"));
  assert.ok(!decoder.decode(head.body).includes("hello, static"));
  const res = await fetch(url, { method: "HEAD" });
  assert.deepEqual([res.status, await res.text()], [200, ""]);
  assert.deepEqual(res.headers.get("content-length"), String(size));
});

Deno.test("static: every traversal form is refused, symlinks out of the root included", async () => {
  await using s = await site();
  const forms = [
    "/assets/../secret.txt",
    "/assets/sub/../../secret.txt",
    "/assets/%2e%2e/secret.txt",
    "/assets/%2E%2E/secret.txt",
    "/assets/.%2e/secret.txt",
    "/assets/..%2fsecret.txt",
    "/assets/sub%2f..%2f..%2fsecret.txt",
    "/assets/..%5csecret.txt",
    "/assets//etc/passwd",
    `/assets/${encodeURIComponent(`${s.dir}/secret.txt`)}`,
    `/assets/%2f${s.dir.slice(1)}/secret.txt`,
    "/assets/link-out",
    "/assets/dir-out/secret.txt",
    "/assets/hello.txt%00.js",
  ];
  for (const target of forms) {
    const response = await raw(s.server, target);
    const status = Number(response.split(" ")[1]);
    assert.ok([400, 404].includes(status), `${target}: ${response}`);
    assert.ok(!response.includes(s.secret), `${target} leaked the file`);
    // curl without its own path normalisation agrees.
    const viaCurl = await curl(["--path-as-is", s.base + target]);
    assert.ok([400, 404].includes(viaCurl.status), `${target}: curl`);
    assert.ok(!decoder.decode(viaCurl.body).includes(s.secret));
  }
  assert.deepEqual(s.calls.n, 0);
  // The server is fine afterwards.
  assert.deepEqual((await fetch(`${s.base}/assets/hello.txt`)).status, 200);
});

/** Starts a download of `path`, reads `first` bytes, runs `change`, reads on to the end. */
async function downloadAcross(
  s: Site,
  path: string,
  first: number,
  change: () => Promise<void>,
): Promise<{ head: string; body: Uint8Array }> {
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: s.server.addr.port,
  });
  const chunks: Uint8Array[] = [];
  let total = 0;
  let changed = false;
  try {
    await conn.write(
      encoder.encode(
        `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      ),
    );
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      if (!changed && total >= first) {
        changed = true;
        await change();
      }
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
      total += n;
    }
  } finally {
    conn.close();
  }
  const all = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  const split = all.findIndex((_, i) =>
    all[i] === 13 && all[i + 1] === 10 && all[i + 2] === 13 && all[i + 3] === 10
  );
  return {
    head: decoder.decode(all.subarray(0, split)),
    body: all.subarray(split + 4),
  };
}

Deno.test("static: a file truncated, rewritten or replaced during its download never mixes bytes", async () => {
  await using s = await site();
  const size = 48 << 20; // larger than the socket buffers, so the server is mid-file
  const big = `${s.public}/big.bin`;
  const write = (byte: number, len = size) =>
    Deno.writeFile(big, new Uint8Array(len).fill(byte));
  const onlyA = (body: Uint8Array) => body.every((b) => b === 97);

  await write(97);
  const truncated = await downloadAcross(
    s,
    "/assets/big.bin",
    1 << 20,
    () => Deno.truncate(big, size / 2),
  );
  assert.ok(truncated.head.includes(`content-length: ${size}`), truncated.head);
  assert.ok(truncated.body.length < size, "the response must be cut short");
  assert.ok(onlyA(truncated.body), "bytes of another version were sent");

  await write(97);
  // Last changed long ago, so the in-place write below surely moves its mtime (changes
  // within one timestamp tick of each other are indistinguishable to any server).
  await Deno.utime(big, 1_000_000, 1_000_000);
  const rewritten = await downloadAcross(
    s,
    "/assets/big.bin",
    1 << 20,
    async () => {
      const file = await Deno.open(big, { write: true });
      await file.write(new Uint8Array(size).fill(98)); // same length, new bytes, in place
      file.close();
    },
  );
  assert.ok(rewritten.body.length < size, "the response must be cut short");
  assert.ok(onlyA(rewritten.body), "bytes of another version were sent");

  await write(97);
  const replaced = await downloadAcross(
    s,
    "/assets/big.bin",
    1 << 20,
    async () => {
      await Deno.writeFile(`${big}.new`, new Uint8Array(size).fill(98));
      await Deno.rename(`${big}.new`, big); // atomic replace: the old inode stays readable
    },
  );
  assert.deepEqual(replaced.body.length, size);
  assert.ok(onlyA(replaced.body), "the download switched versions");

  // Still serving, now the new version.
  const after = new Uint8Array(
    await (await fetch(`${s.base}/assets/big.bin`)).arrayBuffer(),
  );
  assert.deepEqual(after.length, size);
  assert.ok(after.every((b) => b === 98));
});

Deno.test("static: a settled file is sent from a sealed copy: exact bytes, and a change in place is never mixed in", async () => {
  await using s = await site();
  const size = (3 << 19) + 5; // 1.5 MiB: cached (≤ 2 MiB) and sent with sendfile (> 256 KiB)
  const big = `${s.public}/cached.bin`;
  const content = new Uint8Array(size).map((_, i) => (i * 7 + (i >> 12)) % 251);
  await Deno.writeFile(big, content);
  const url = `${s.base}/assets/cached.bin`;
  const same = (a: Uint8Array, b: Uint8Array) =>
    a.length === b.length && a.every((x, i) => x === b[i]);
  // The kernel keeps a file once its last change (ctime) is 2 s old (see
  // static_files/cache.rs). Deno's `ctime` is cut to whole seconds, up to 1 s early, so
  // the wait counts from `mtime`, which the write set to the same instant, in ms.
  const changed = (await Deno.stat(big)).mtime ?? new Date();
  while (Date.now() < changed.getTime() + 2500) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const first = await fetch(url); // read from the file, and kept
  const etag = first.headers.get("etag");
  assert.ok(same(new Uint8Array(await first.arrayBuffer()), content));
  const again = await fetch(url); // from the sealed copy
  assert.equal(again.headers.get("etag"), etag);
  assert.ok(same(new Uint8Array(await again.arrayBuffer()), content));
  const range = await curl(["-r", "1000-300999", url]);
  assert.equal(range.status, 206);
  assert.ok(same(range.body, content.subarray(1000, 301000)));
  const h2 = await curl(["--http2-prior-knowledge", url]); // the mapped copy, no sendfile
  assert.ok(same(h2.body, content));

  // Overwritten in place (same length) while a download of the copy is under way: that
  // download is the old version, whole; the next request sees the new one.
  const during = await downloadAcross(
    s,
    "/assets/cached.bin",
    64 << 10,
    async () => {
      const file = await Deno.open(big, { write: true });
      await file.write(new Uint8Array(size).fill(98));
      file.close();
    },
  );
  assert.ok(same(during.body, content), "bytes of another version were sent");
  const after = new Uint8Array(await (await fetch(url)).arrayBuffer());
  assert.ok(after.length === size && after.every((b) => b === 98));
  await Deno.truncate(big, 1000);
  const short = new Uint8Array(await (await fetch(url)).arrayBuffer());
  assert.ok(short.length === 1000 && short.every((b) => b === 98));
  assert.equal(s.calls.n, 0, "the handler never runs");
});

Deno.test("static: a sendfile mount sends large files exactly (fetch, curl, h2c), ranges and HEAD too", async () => {
  await using s = await site();
  const size = 3 * (1 << 20) + 5;
  const content = new Uint8Array(size).map((_, i) => (i * 7 + (i >> 12)) % 251);
  await Deno.writeFile(`${s.public}/big.bin`, content);
  const url = `${s.base}/sent/big.bin`;
  const same = (a: Uint8Array, b: Uint8Array) =>
    a.length === b.length && a.every((x, i) => x === b[i]);

  const fetched = await fetch(url);
  assert.equal(fetched.headers.get("content-length"), String(size));
  assert.ok(same(new Uint8Array(await fetched.arrayBuffer()), content));
  // The default mount (pread) sends the same bytes with the same validators.
  const plain = await fetch(`${s.base}/assets/big.bin`);
  assert.equal(plain.headers.get("etag"), fetched.headers.get("etag"));
  assert.ok(same(new Uint8Array(await plain.arrayBuffer()), content));

  const range = await curl(["-r", "1000-2100999", url]);
  assert.equal(range.status, 206);
  assert.equal(
    range.headers.get("content-range"),
    `bytes 1000-2100999/${size}`,
  );
  assert.ok(same(range.body, content.subarray(1000, 2101000)));

  const head = await fetch(url, { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-length"), String(size));
  assert.equal((await head.arrayBuffer()).byteLength, 0);

  // HTTP/2 frames its own data: the same mount reads the file there.
  const h2 = await curl(["--http2-prior-knowledge", url]);
  assert.equal(h2.status, 200);
  assert.ok(same(h2.body, content));

  // One keep-alive connection: a sent file, a small file, the sent file again, HTTP/1.0.
  const hello = await Deno.readFile(`${s.public}/hello.txt`);
  const kept = await curl([url, `${s.base}/sent/hello.txt`, url]);
  const both = new Uint8Array(2 * size + hello.length);
  both.set(content);
  both.set(hello, size);
  both.set(content, size + hello.length);
  assert.ok(same(kept.body, both), "responses on one connection stay apart");
  const old = await curl(["--http1.0", url]);
  assert.ok(same(old.body, content));
  assert.equal(s.calls.n, 0, "the handler never runs");

  // TLS encrypts in user space: the same mount over HTTP/1.1 + TLS reads the file.
  const certs = await testCerts();
  await using secure = await serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
    tls: { cert: certs.cert, key: certs.key },
    static: { "/sent": { root: s.public, sendfile: true } },
  }, () => new Response("from the handler"));
  const client = Deno.createHttpClient({ caCerts: [certs.ca], http2: false });
  try {
    const overTls = await fetch(
      `https://localhost:${secure.addr.port}/sent/big.bin`,
      { client },
    );
    assert.ok(same(new Uint8Array(await overTls.arrayBuffer()), content));
  } finally {
    client.close();
  }
});

Deno.test("static: a sendfile mount cuts a truncated file short and keeps a replaced one whole", async () => {
  await using s = await site();
  const size = 48 << 20; // larger than the socket buffers, so the server is mid-file
  const big = `${s.public}/big.bin`;
  const onlyA = (body: Uint8Array) => body.every((b) => b === 97);

  await Deno.writeFile(big, new Uint8Array(size).fill(97));
  const truncated = await downloadAcross(
    s,
    "/sent/big.bin",
    1 << 20,
    () => Deno.truncate(big, size / 2),
  );
  assert.ok(truncated.head.includes(`content-length: ${size}`), truncated.head);
  assert.ok(truncated.body.length < size, "the response must be cut short");
  assert.ok(onlyA(truncated.body), "bytes of another version were sent");

  await Deno.writeFile(big, new Uint8Array(size).fill(97));
  const replaced = await downloadAcross(
    s,
    "/sent/big.bin",
    1 << 20,
    async () => {
      await Deno.writeFile(`${big}.new`, new Uint8Array(size).fill(98));
      await Deno.rename(`${big}.new`, big);
    },
  );
  assert.equal(replaced.body.length, size);
  assert.ok(onlyA(replaced.body), "the download switched versions");
});

Deno.test("static: bad mounts are refused before anything listens", async () => {
  const attempt = (mounts: Record<string, string | StaticMount>) =>
    serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: () => {},
      static: mounts,
    }, () => new Response());
  for (
    const [mounts, message] of [
      [{ "assets": "." }, "must be a plain path"],
      [{ "/a": "/definitely/not/here" }, "static root"],
      [{ "/a": "./deno.json" }, "not a directory"],
      [
        { "/a": { root: ".", sendfile: "yes" as unknown as boolean } },
        "a boolean sendfile",
      ],
    ] as const
  ) {
    let error: unknown;
    try {
      await (await attempt(mounts)).shutdown();
    } catch (e) {
      error = e;
    }
    assert.ok(
      String(error).includes(message),
      `${JSON.stringify(mounts)}: ${error}`,
    );
  }
});

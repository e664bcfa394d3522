/**
 * `serve()` over real sockets with the real kernel library: compatibility with what
 * `Deno.serve` does, the request context, bodies, HTTP/2 and TLS.
 */

import assert from "node:assert/strict";
import { serve } from "@krepis/core/http";
import { base, exchange, listen, readUntil, run } from "./_test_util.ts";

Deno.test("serves requests with remote address and request context", async () => {
  const seen: { ip: string; port: number; ctx: Record<string, unknown> }[] = [];
  await using server = await listen((req, info) => {
    seen.push({
      ip: info.remoteAddr.hostname,
      port: info.remoteAddr.port,
      ctx: { ...info.ctx, signal: info.ctx.signal },
    });
    return new Response(`${req.method} ${new URL(req.url).pathname}`);
  });
  const res = await fetch(`${base(server)}/hello?x=1`, {
    headers: {
      traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    },
  });
  assert.equal(await res.text(), "GET /hello");
  assert.equal(res.headers.get("content-type"), "text/plain;charset=UTF-8");
  const plain = await fetch(`${base(server)}/`);
  await plain.body?.cancel();
  const [traced, fresh] = seen;
  assert.equal(traced.ip, "127.0.0.1");
  assert.ok(traced.port > 0);
  assert.equal(traced.ctx.traceId, "4bf92f3577b34da6a3ce929d0e0e4736");
  assert.equal(traced.ctx.parentSpanId, "00f067aa0ba902b7");
  assert.match(traced.ctx.spanId as string, /^[0-9a-f]{16}$/);
  assert.match(traced.ctx.requestId as string, /^[0-9a-f]{16}$/);
  // The default request deadline: 5 minutes.
  assert.ok(
    Math.abs((traced.ctx.deadline as number) - Date.now() - 300_000) < 30_000,
  );
  assert.ok(traced.ctx.signal instanceof AbortSignal);
  assert.match(fresh.ctx.traceId as string, /^[0-9a-f]{32}$/);
  assert.notEqual(fresh.ctx.traceId, traced.ctx.traceId);
  assert.equal(fresh.ctx.parentSpanId, undefined);
});

Deno.test("the request is a standard Request", async () => {
  await using server = await listen(async (req) => {
    assert.ok(req instanceof Request);
    const body = await req.json() as { n: number };
    return Response.json({
      n: body.n + 1,
      ua: req.headers.get("x-custom"),
      used: req.bodyUsed,
      mode: req.mode,
      cloned: req.clone().url === req.url,
    });
  });
  const res = await fetch(base(server), {
    method: "POST",
    headers: { "x-custom": "yes" },
    body: JSON.stringify({ n: 41 }),
  });
  assert.deepEqual(await res.json(), {
    n: 42,
    ua: "yes",
    used: true,
    mode: "cors",
    cloned: true,
  });
});

Deno.test("Deno's own Request code accepts the request", async () => {
  await using server = await listen(async (req) => {
    const copy = new Request(req);
    copy.headers.set("x-copied", "1");
    const form = await new Request(copy).formData();
    return new Response(
      `${copy.method} ${copy.headers.get("x-copied")} ${form.get("a")}`,
    );
  });
  const res = await fetch(base(server), {
    method: "POST",
    body: new URLSearchParams({ a: "b" }),
  });
  assert.equal(await res.text(), "POST 1 b");
});

Deno.test("default onListen prints the address, like Deno.serve", async () => {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    await using server = await serve(
      { hostname: "127.0.0.1", port: 0 },
      () => new Response("x"),
    );
    assert.deepEqual(lines, [
      `Listening on http://127.0.0.1:${server.addr.port}/`,
    ]);
    assert.equal(server.addr.transport, "tcp");
  } finally {
    console.log = log;
  }
});

Deno.test("set-cookie repeats, HEAD, 204 and 304 behave as under Deno.serve", async () => {
  await using server = await listen((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/cookies") {
      const headers = new Headers();
      headers.append("set-cookie", "a=1");
      headers.append("set-cookie", "b=2");
      return new Response("c", { headers });
    }
    if (path === "/204") return new Response(null, { status: 204 });
    if (path === "/304") return new Response(null, { status: 304 });
    return new Response("body for get and head");
  });
  const cookies = await fetch(`${base(server)}/cookies`);
  await cookies.body?.cancel();
  assert.deepEqual(cookies.headers.getSetCookie(), ["a=1", "b=2"]);
  const head = await exchange(
    server,
    "HEAD / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
  );
  assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(head, /content-length: 21\r\n/);
  assert.ok(head.endsWith("\r\n\r\n"), "HEAD has no body");
  for (const status of [204, 304]) {
    const raw = await exchange(
      server,
      `GET /${status} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n`,
    );
    assert.match(raw, new RegExp(`^HTTP/1.1 ${status} `));
    assert.ok(raw.endsWith("\r\n\r\n"), `${status} has no body: ${raw}`);
    assert.doesNotMatch(raw, /transfer-encoding/);
  }
});

Deno.test("chunked bodies, Expect: 100-continue, keep-alive and pipelining", async () => {
  await using server = await listen(async (req) => {
    const text = await req.text();
    return new Response(`${new URL(req.url).pathname}:${text.length}`);
  });
  // fetch sends a ReadableStream body chunked.
  const stream = new ReadableStream({
    start(c) {
      c.enqueue(new TextEncoder().encode("abc"));
      c.enqueue(new TextEncoder().encode("defg"));
      c.close();
    },
  });
  const res = await fetch(`${base(server)}/chunked`, {
    method: "POST",
    body: stream,
  });
  assert.equal(await res.text(), "/chunked:7");

  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  try {
    await conn.write(new TextEncoder().encode(
      "POST /continue HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n",
    ));
    const interim = await readUntil(conn, "\r\n\r\n");
    assert.equal(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    await conn.write(new TextEncoder().encode("hello"));
    assert.match(await readUntil(conn, "/continue:5"), /200 OK/);
    // Same connection (keep-alive), three pipelined requests in one write.
    await conn.write(new TextEncoder().encode(
      "GET /a HTTP/1.1\r\nhost: t\r\n\r\nGET /b HTTP/1.1\r\nhost: t\r\n\r\nGET /c HTTP/1.1\r\nhost: t\r\n\r\n",
    ));
    const out = await readUntil(conn, "HTTP/1.1 200", 3);
    const order = ["/a:0", "/b:0", "/c:0"].map((s) => out.indexOf(s));
    assert.ok(order.every((i) => i >= 0), out);
    assert.deepEqual([...order].sort((x, y) => x - y), order, "in order");
  } finally {
    conn.close();
  }
});

Deno.test("a buffered body read with arrayBuffer() is the handler's own copy", async () => {
  let kept: ArrayBuffer | undefined;
  await using server = await listen(async (req) => {
    kept = await req.arrayBuffer();
    return new Response(
      String(new Uint8Array(kept).reduce((a, b) => a + b, 0)),
    );
  });
  const res = await fetch(base(server), {
    method: "POST",
    body: new Uint8Array([1, 2, 3, 4]),
  });
  assert.equal(await res.text(), "10");
  assert.deepEqual(new Uint8Array(kept!), new Uint8Array([1, 2, 3, 4]));
  assert.equal(server.stats().bodyBytesLent, 0);
});

Deno.test("a buffered body read as a stream can be echoed back", async () => {
  await using server = await listen((req) => new Response(req.body));
  for (const size of [5, 100_000]) {
    const body = new Uint8Array(size).map((_, i) => i & 0xff);
    const res = await fetch(base(server), { method: "POST", body });
    assert.deepEqual(await res.bytes(), body);
  }
  assert.equal(server.stats().requestsInFlight, 0);
  assert.equal(server.stats().bodyBytesLent, 0);
});

Deno.test("large bodies stream both ways", async () => {
  await using server = await listen(async (req) => {
    if (req.method === "POST") {
      let total = 0;
      let chunks = 0;
      for await (const chunk of req.body!) {
        total += chunk.length;
        chunks++;
      }
      return new Response(`${total} in ${chunks > 1 ? "many" : "one"}`);
    }
    let i = 0;
    return new Response(
      new ReadableStream({
        pull(c) {
          if (i++ < 64) c.enqueue(new Uint8Array(16 * 1024).fill(97));
          else c.close();
        },
      }),
    );
  }, { maxBodySize: 32 << 20 });
  // 9 MiB is past the 8 MiB buffering limit: it reaches the handler as a stream.
  const big = new Uint8Array(9 << 20).fill(1);
  const up = await fetch(base(server), { method: "POST", body: big });
  assert.equal(await up.text(), `${9 << 20} in many`);
  const down = await fetch(base(server));
  assert.equal(down.headers.get("transfer-encoding"), "chunked");
  assert.equal((await down.arrayBuffer()).byteLength, 64 * 16 * 1024);
  assert.equal(server.stats().requestsInFlight, 0);
});

Deno.test("large byte and string bodies are lent to the kernel intact", async () => {
  const bytes = new Uint8Array(1 << 20).map((_, i) => (i * 7) & 0xff);
  const text = "ü".repeat(100_000);
  await using server = await listen((req) =>
    req.url.endsWith("/bytes") ? new Response(bytes) : new Response(text)
  );
  for (let i = 0; i < 3; i++) {
    const [a, b] = await Promise.all([
      fetch(`${base(server)}/bytes`).then((r) => r.bytes()),
      fetch(`${base(server)}/text`).then((r) => r.text()),
    ]);
    assert.deepEqual(a, bytes);
    assert.equal(b, text);
  }
});

Deno.test("HTTP/2 with prior knowledge (h2c) and over TLS with ALPN", async () => {
  await using server = await listen((req) =>
    new Response(`h2 ${new URL(req.url).pathname}`)
  );
  const h2c = await run("curl", [
    "-sS",
    "-i",
    "--http2-prior-knowledge",
    `${base(server)}/plain`,
  ]);
  assert.match(h2c, /^HTTP\/2 200/);
  assert.ok(h2c.endsWith("h2 /plain"));

  const dir = await Deno.makeTempDir();
  try {
    await run("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost",
      "-keyout",
      `${dir}/key.pem`,
      "-out",
      `${dir}/cert.pem`,
    ]);
    await using tls = await listen((req) => new Response(`tls ${req.url}`), {
      tls: {
        cert: await Deno.readTextFile(`${dir}/cert.pem`),
        key: await Deno.readTextFile(`${dir}/key.pem`),
      },
    });
    const port = tls.addr.port;
    const resolve = `localhost:${port}:127.0.0.1`;
    const url = `https://localhost:${port}/secure`;
    const h2 = await run("curl", [
      "-sS",
      "-i",
      "-k",
      "--http2",
      "--resolve",
      resolve,
      url,
    ]);
    assert.match(h2, /^HTTP\/2 200/);
    assert.ok(h2.endsWith(`tls ${url}`), h2);
    const h1 = await run("curl", [
      "-sS",
      "-i",
      "-k",
      "--http1.1",
      "--resolve",
      resolve,
      url,
    ]);
    assert.match(h1, /^HTTP\/1\.1 200/);
    const res = await fetch(url.replace("localhost", "127.0.0.1"), {
      client: Deno.createHttpClient({
        caCerts: [await Deno.readTextFile(`${dir}/cert.pem`)],
      }),
    }).catch((e) => e);
    // The certificate names localhost, not 127.0.0.1: verification must refuse it.
    assert.ok(res instanceof Error);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad options are refused with a clear error", async () => {
  assert.throws(
    () => serve({ port: 70_000, onListen: () => {} }, () => new Response()),
    RangeError,
  );
  assert.throws(
    () =>
      serve({
        hostname: "127.0.0.1",
        port: 0,
        maxHeaderSize: 10,
        onListen: () => {},
      }, () => new Response()),
    /maxHeaderSize must be at least 8192/,
  );
  assert.throws(
    () =>
      serve({
        hostname: "127.0.0.1",
        port: 0,
        maxHeaderSize: 64 * 1024 + 1,
        onListen: () => {},
      }, () => new Response()),
    /maxHeaderSize must be at most 65536 bytes \(the HTTP\/1\.1 parser's fixed head limit\)/,
  );
  assert.throws(
    () =>
      serve({
        hostname: "127.0.0.1",
        port: 0,
        tls: { cert: "nope", key: "nope" },
        onListen: () => {},
      }, () => new Response()),
    /tls certificate PEM holds no certificate/,
  );
  await using first = listen(() => new Response());
  assert.throws(
    () => listen(() => new Response(), { port: first.addr.port }),
    Deno.errors.AddrInUse,
  );
});

/**
 * Request bodies live in kernel memory that is freed when the request ends; none of it may
 * reach user code. Each test runs ordinary handler code against a real server and checks
 * that the bytes a handler got stay its own and the process survives.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  base,
  connectAndWrite,
  eventually,
  listen,
  run,
} from "./_test_util.ts";
import { type Pair, pair } from "./_wire.ts";

const pattern = (size: number, seed: number) =>
  new Uint8Array(size).map((_, i) => (i * 31 + seed) & 0xff);

const post = (url: string, body: BodyInit) =>
  fetch(url, { method: "POST", body });

Deno.test("new Response(req.body) echoes small and large bodies", async () => {
  await using server = await listen((req) => new Response(req.body));
  for (const size of [1, 4096, 70_000, 1 << 20]) {
    const body = pattern(size, size);
    const res = await post(base(server), body);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.bytes(), body);
  }
  assert.equal(server.stats().requestsInFlight, 0);
});

Deno.test("formData() parses multipart and urlencoded bodies", async () => {
  await using server = await listen(async (req) => {
    const form = await req.formData();
    const file = form.get("f");
    const size = file instanceof File ? (await file.bytes()).length : -1;
    return new Response(`${form.get("a")}:${size}`);
  });
  for (let i = 0; i < 3; i++) {
    const url = await post(base(server), new URLSearchParams({ a: `x${i}` }));
    assert.equal(await url.text(), `x${i}:-1`);
    const multipart = new FormData();
    multipart.set("a", `m${i}`);
    multipart.set("f", new File([pattern(5000, i)], "f.bin"));
    const mp = await post(base(server), multipart);
    assert.equal(await mp.text(), `m${i}:5000`);
  }
});

Deno.test("req.clone() lets both copies be read", async () => {
  await using server = await listen(async (req) => {
    const copy = req.clone();
    const [a, b] = await Promise.all([req.text(), copy.bytes()]);
    return new Response(`${a}|${new TextDecoder().decode(b)}`);
  });
  for (const body of ["hello", "z".repeat(100_000)]) {
    const res = await post(base(server), body);
    assert.equal(await res.text(), `${body}|${body}`);
  }
});

Deno.test("req.body.getReader() reads the whole body", async () => {
  await using server = await listen(async (req) => {
    const reader = req.body!.getReader();
    let total = 0;
    let sum = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      for (const b of value) sum = (sum + b) % 65521;
    }
    return new Response(`${total}:${sum}`);
  });
  const body = pattern(10_000, 3);
  const expected = body.reduce((a, b) => (a + b) % 65521, 0);
  const res = await post(base(server), body);
  assert.equal(await res.text(), `10000:${expected}`);
});

Deno.test("bytes a handler keeps still hold its request's body after later requests", async () => {
  const kept: Uint8Array[] = [];
  const keptBuffers: ArrayBuffer[] = [];
  await using server = await listen(async (req) => {
    const how = new URL(req.url).pathname;
    if (how === "/stream") {
      for await (const chunk of req.body!) kept.push(chunk);
    } else if (how === "/bytes") kept.push(await req.bytes());
    else if (how === "/blob") {
      kept.push(new Uint8Array(await (await req.blob()).arrayBuffer()));
    } else keptBuffers.push(await req.arrayBuffer());
    return new Response("ok");
  });
  const sent: Uint8Array[] = [];
  for (let i = 0; i < 4; i++) {
    for (const how of ["/stream", "/bytes", "/blob", "/array"]) {
      const body = pattern(4096, i * 4 + sent.length);
      sent.push(body);
      assert.equal(await (await post(base(server) + how, body)).text(), "ok");
    }
  }
  // Later requests reuse the kernel's memory; what was kept must not change.
  const got = [...kept, ...keptBuffers.map((b) => new Uint8Array(b))];
  const want = [
    ...sent.filter((_, i) => i % 4 !== 3),
    ...sent.filter((_, i) => i % 4 === 3),
  ];
  assert.equal(got.length, want.length);
  got.forEach((bytes, i) => assert.deepEqual(bytes, want[i]));
});

Deno.test("a handler may transfer() and mutate what it read", async () => {
  const moved: ArrayBuffer[] = [];
  await using server = await listen(async (req) => {
    const how = new URL(req.url).pathname;
    const buffer = how === "/bytes"
      ? (await req.bytes()).buffer
      : how === "/stream"
      ? (await req.body!.getReader().read()).value!.buffer
      : await req.arrayBuffer();
    const mine = buffer.transfer();
    moved.push(mine);
    // Writing to it must not reach the kernel, whose memory the next request reuses.
    const view = new Uint8Array(mine);
    const sum = view.reduce((a, b) => a + b, 0);
    view.fill(0xee);
    return new Response(`${mine.byteLength}:${sum}`);
  });
  const sent: Uint8Array[] = [];
  for (let i = 0; i < 3; i++) {
    for (const how of ["/array", "/bytes", "/stream"]) {
      const body = pattern(4096, sent.length);
      sent.push(body);
      const res = await post(base(server) + how, body);
      const sum = body.reduce((a, b) => a + b, 0);
      assert.equal(await res.text(), `4096:${sum}`);
    }
  }
  // Every moved buffer still holds exactly what its handler wrote, untouched by later requests.
  assert.equal(moved.length, sent.length);
  for (const buffer of moved) {
    assert.deepEqual(new Uint8Array(buffer), new Uint8Array(4096).fill(0xee));
  }
});

Deno.test("a streamed response stops reading the request body before the kernel frees it", async () => {
  // Reading the body once the kernel has freed it (bodyBytesLent back to 0) must fail,
  // never return bytes from freed memory.
  let readAfterFree = 0;
  let probed = 0;
  let current: Request | undefined;
  await using server = await listen((req) => {
    current = req;
    return new Response(
      new ReadableStream({
        start(c) {
          c.enqueue(new Uint8Array([1]));
          c.close();
        },
      }),
    );
  });
  const probe = setInterval(() => {
    if (current === undefined || server.stats().bodyBytesLent !== 0) return;
    const req = current;
    current = undefined;
    probed++;
    req.text().then((t) => {
      if (t.length > 0) readAfterFree++;
    }, () => {});
  }, 0);
  try {
    for (let i = 0; i < 300; i++) {
      const res = await post(base(server), pattern(65536, i));
      assert.deepEqual(await res.bytes(), new Uint8Array([1]));
    }
  } finally {
    clearInterval(probe);
  }
  assert.ok(probed > 0, "the probe ran");
  assert.equal(readAfterFree, 0);
});

Deno.test("a large response body is sent intact even if the handler reads the Response again", async () => {
  const body = pattern(4 << 20, 9);
  const outcomes: string[] = [];
  await using server = await listen(() => {
    const res = new Response(body);
    // Once returned, the Response is the server's: reading it again must not expose the
    // memory the kernel is writing to the socket.
    setTimeout(async () => {
      try {
        const mine = await res.arrayBuffer();
        new Uint8Array(mine).fill(0);
        mine.transfer();
        outcomes.push("read");
      } catch {
        outcomes.push("refused");
      }
    }, 0);
    return res;
  });
  for (let i = 0; i < 5; i++) {
    const res = await fetch(base(server), {
      signal: AbortSignal.timeout(10_000),
    });
    assert.deepEqual(await res.bytes(), body);
  }
  await eventually("every re-read to settle", () => outcomes.length === 5);
  assert.deepEqual(outcomes, Array(5).fill("refused"));
});

Deno.test("a handler whose client left reads the body it had not read yet from a copy, after the kernel freed its own", async () => {
  let left = false;
  let text: string | undefined;
  let json: unknown;
  let freed = false;
  await using server = await listen(async (req, info) => {
    const again = req.clone();
    await new Promise((resolve) =>
      info.ctx.signal.addEventListener("abort", resolve)
    );
    left = true;
    await eventually("the slot to be freed", () => freed);
    text = await req.text();
    json = await again.json();
    return new Response("too late");
  });
  const conn = await connectAndWrite(
    server,
    'POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 10\r\n\r\n{"a":"\u00e9"}',
  );
  await eventually("the request", () => server.stats().bodyBytesLent === 10);
  conn.close();
  await eventually("the abort", () => left);
  await eventually(
    "the kernel to free the body",
    () =>
      server.stats().requestsInFlight === 0 &&
      server.stats().bodyBytesLent === 0,
  );
  freed = true;
  await eventually("the handler's reads", () => json !== undefined);
  assert.equal(text, '{"a":"\u00e9"}');
  assert.deepEqual(json, { a: "\u00e9" });
});

Deno.test("a large response body is sent intact while a clone of the Response is read and detached", async () => {
  // `clone()` shares the bytes of a body known up front, and a stream taken from one
  // Response gives its bytes to the next: user code can hold the very buffer the server
  // writes from, and detach (free) it meanwhile. Deno.serve keeps the bytes alive by
  // reference; the same handler must get the same body from both servers.
  const body = pattern(16 << 20, 5);
  const detached: number[] = [];
  const handler = () => {
    const res = new Response(body);
    const copy = res.clone();
    const reused = new Response(new Response(body).body);
    const later = reused.clone();
    setTimeout(async () => {
      for (const other of [copy, later]) {
        const mine = await other.arrayBuffer();
        detached.push(mine.byteLength);
        mine.transfer(0);
      }
    }, 0);
    return detached.length % 4 === 0 ? res : reused;
  };
  await using kernel = await listen(handler);
  const deno = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    handler,
  );
  try {
    for (const url of [base(kernel), `http://127.0.0.1:${deno.addr.port}/`]) {
      for (let i = 0; i < 2; i++) {
        const res = await fetch(url, { signal: AbortSignal.timeout(20_000) });
        // Let the detach happen while most of the body is still to be written.
        await new Promise((resolve) => setTimeout(resolve, 100));
        assert.deepEqual(await res.bytes(), body, url);
      }
    }
  } finally {
    await deno.shutdown();
  }
  await eventually("every detach", () => detached.length === 8);
});

/** The base URLs of both servers of `servers`: the kernel's, then `Deno.serve`'s. */
function urlsOf(servers: Pair): string[] {
  return [servers.krepis, servers.deno].map((port) =>
    `http://127.0.0.1:${port}`
  );
}

/** Detaches the bytes `clone` shares with the Response it was cloned from. */
async function detach(clone: Response): Promise<void> {
  (await clone.arrayBuffer()).transfer(0);
}

Deno.test("a large response body is sent intact when a clone's bytes are detached right after the handler returns", async () => {
  // The kernel reads a large body only during the call that hands it over, which happens
  // as the response is recorded: user code running right after the handler (a microtask,
  // another handler's timer) must find nothing of it left to free.
  const bodies = [64 * 1024, 1 << 20, 6 << 20].map((size, i) =>
    pattern(size, 11 + i)
  );
  let detached = 0;
  const handler = (req: Request) => {
    const url = new URL(req.url);
    const body = bodies[Number(url.searchParams.get("size"))];
    // A header beyond the content type takes the server's general path (the fast one reads
    // Deno's serve fields); there too no user code may run before the bytes are handed over.
    const res = url.searchParams.has("headers")
      ? new Response(body, { headers: { "x-kind": "headers" } })
      : new Response(body);
    const copy = res.clone();
    const later = () => detach(copy).then(() => detached++);
    if (url.pathname === "/micro") queueMicrotask(later);
    else setTimeout(later, 0);
    return url.searchParams.has("async") ? Promise.resolve(res) : res;
  };
  await using servers = await pair(handler);
  let asked = 0;
  for (const url of urlsOf(servers)) {
    for (const path of ["/micro", "/timer"]) {
      // With "&headers&async", the clone's detach (queued first) completes before a read
      // through `response.bytes()` would: Deno.serve still sends the bytes.
      for (const mode of ["", "&async", "&headers", "&headers&async"]) {
        for (let size = 0; size < bodies.length; size++) {
          const res = await fetch(`${url}${path}?size=${size}${mode}`, {
            signal: AbortSignal.timeout(20_000),
          });
          asked++;
          assert.deepEqual(await res.bytes(), bodies[size], res.url);
        }
      }
    }
  }
  await eventually("every detach", () => detached === asked);
});

/**
 * Sends a GET on a raw connection, waits `ms` before reading a byte (so the server's
 * socket fills and the rest of the body must wait), then reads the whole response.
 */
async function slowGet(url: string, ms: number): Promise<Uint8Array> {
  const { hostname, port } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  try {
    await conn.write(
      new TextEncoder().encode(
        "GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, ms));
    const chunks: Uint8Array[] = [];
    const chunk = new Uint8Array(256 * 1024);
    for (;;) {
      const n = await conn.read(chunk);
      if (n === null) break;
      chunks.push(chunk.slice(0, n));
    }
    const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      all.set(c, at);
      at += c.length;
    }
    const text = new TextDecoder("latin1").decode(all.subarray(0, 4096));
    const end = text.indexOf("\r\n\r\n");
    assert.ok(end > 0 && text.startsWith("HTTP/1.1 200"), text.slice(0, 200));
    const length = /content-length: *(\d+)/i.exec(text.slice(0, end));
    assert.ok(length, "a sized response");
    const body = all.subarray(end + 4);
    assert.equal(body.length, Number(length[1]));
    return body;
  } finally {
    conn.close();
  }
}

Deno.test("a large response body a slow client reads after its bytes were detached arrives intact", async () => {
  // The client reads nothing for a while: the socket takes part of the body at once and the
  // rest waits, in kernel memory by then, while user code frees the handler's bytes and
  // allocates afresh (freed memory is reused or unmapped: reading it would show).
  const body = pattern(16 << 20, 3);
  let detached = 0;
  const handler = () => {
    const res = new Response(body);
    const copy = res.clone();
    setTimeout(async () => {
      await detach(copy);
      detached++;
      for (let i = 0; i < 16; i++) new Uint8Array(1 << 20).fill(0xee);
    }, 0);
    return res;
  };
  await using servers = await pair(handler);
  for (const url of urlsOf(servers)) {
    const got = await slowGet(url, 300);
    assert.ok(
      got.length === body.length && got.every((b, i) => b === body[i]),
      url,
    );
  }
  assert.equal(detached, 2);
});

Deno.test("over HTTP/2 (h2c) and compressed, a large response body arrives intact while a clone's bytes are detached", async () => {
  // HTTP/2 and compression take the body as one frame: a copy made inside the handing
  // over, or of what the kernel kept after it.
  const body = pattern(3 << 20, 21);
  const text = new TextEncoder().encode("kernel ".repeat(200_000));
  let detached = 0;
  await using server = await listen((req) => {
    const res = req.url.endsWith("/text")
      ? new Response(text, { headers: { "content-type": "text/plain" } })
      : new Response(body);
    const copy = res.clone();
    queueMicrotask(async () => {
      await detach(copy);
      detached++;
      // Fresh allocations: memory freed meanwhile is reused or unmapped.
      for (let i = 0; i < 16; i++) new Uint8Array(1 << 20).fill(0xee);
    });
    return res;
  });
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/body`;
    for (let i = 0; i < 3; i++) {
      await run("curl", [
        "-sS",
        "--http2-prior-knowledge",
        "-o",
        file,
        `${base(server)}/bytes`,
      ]);
      assert.deepEqual(await Deno.readFile(file), body);
    }
    const gzip = await fetch(`${base(server)}/text`, {
      headers: { "accept-encoding": "gzip" },
    });
    assert.equal(gzip.headers.get("content-encoding"), "gzip");
    assert.deepEqual(await gzip.bytes(), text);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  await eventually("every detach", () => detached === 4);
});

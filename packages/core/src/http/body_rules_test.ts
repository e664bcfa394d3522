/**
 * The request side of the `Deno.serve` contract (issue 9, items 7, 11 and 14): the handler
 * starts with the request head and a body stream, body reading follows the Fetch rules
 * (used, locked, closed), and serving does not depend on mutable globals. Each runs side
 * by side with `Deno.serve`.
 */

import assert from "node:assert/strict";
import type { ServeHandler } from "@krepis/core/http";
import { eventually, listen, readUntil } from "./_test_util.ts";
import { denoServe, parseResponses, raw, readFor } from "./_raw.ts";

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

function pair(handler: ServeHandler) {
  const krepis = listen(handler);
  const deno = denoServe(handler as Deno.ServeHandler<Deno.NetAddr>);
  return {
    servers: [["krepis", krepis], ["deno", deno]] as const,
    async [Symbol.asyncDispose]() {
      await Promise.all([krepis.shutdown(), deno.shutdown()]);
    },
  };
}

Deno.test("the handler starts at the request head and may answer before the body arrives", async () => {
  await using both = pair(() =>
    new Response("no thanks", { status: 401, headers: { connection: "close" } })
  );
  for (const [name, server] of both.servers) {
    const reply = await raw(server.addr.port, [
      "POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: 1000000\r\n\r\n",
      new Uint8Array(10),
    ], { timeoutMs: 1_500 });
    const responses = parseResponses(reply.text);
    assert.equal(responses[0]?.status, 401, `${name}: ${reply.text}`);
    assert.equal(responses[0].body, "no thanks");
  }
});

Deno.test("a request body streams into the handler: an echo answers each chunk before the next is sent", async () => {
  await using both = pair((req) => new Response(req.body));
  for (const [name, server] of both.servers) {
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.addr.port,
    });
    try {
      await conn.write(encoder.encode(
        "POST /echo HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n5\r\nping1\r\n",
      ));
      let seen = "";
      const buf = new Uint8Array(4096);
      while (!seen.includes("ping1")) {
        const n = await conn.read(buf);
        assert.notEqual(n, null, `${name}: closed early: ${seen}`);
        seen += latin1.decode(buf.subarray(0, n!));
      }
      await conn.write(encoder.encode("5\r\nping2\r\n0\r\n\r\n"));
      while (!seen.endsWith("0\r\n\r\n")) {
        const n = await conn.read(buf);
        if (n === null) break;
        seen += latin1.decode(buf.subarray(0, n));
      }
      const [response] = parseResponses(seen);
      assert.equal(response.body, "ping1ping2", name);
      assert.ok(response.complete, name);
    } finally {
      conn.close();
    }
  }
});

Deno.test("Expect: 100-continue gets its interim response before the handler reads, and the body reaches it", async () => {
  let gate = Promise.withResolvers<void>();
  await using both = pair(async (req) => {
    await gate.promise;
    return new Response(`got ${await req.text()}`);
  });
  for (const [name, server] of both.servers) {
    gate = Promise.withResolvers<void>();
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.addr.port,
    });
    try {
      await conn.write(encoder.encode(
        "POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 3\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n",
      ));
      const interim = await readUntil(conn, "\r\n\r\n");
      assert.equal(interim, "HTTP/1.1 100 Continue\r\n\r\n", name);
      gate.resolve(); // only now may the handler read
      await conn.write(encoder.encode("xyz"));
      const rest = await readFor(conn, 5_000);
      assert.equal(parseResponses(rest.text)[0].body, "got xyz", name);
    } finally {
      conn.close();
    }
  }
});

/** What each body rule did, as text, so both servers' outcomes compare as one array. */
function outcome(run: () => unknown): Promise<string> {
  return Promise.resolve().then(run).then(
    (value) => `ok ${typeof value === "string" ? value : typeof value}`,
    (error) => `threw ${(error as Error).constructor.name}`,
  );
}

Deno.test("bodyUsed, reading twice, clone() of a used or locked body, and reading after the response follow Deno.serve", async () => {
  const outcomes: Record<string, string[]> = { krepis: [], deno: [] };
  const kept: Record<string, Request> = {};
  const handler = (name: "krepis" | "deno"): ServeHandler => async (req) => {
    const out = outcomes[name];
    const path = new URL(req.url).pathname;
    if (path === "/used") {
      const reader = req.body!.getReader();
      while (!(await reader.read()).done) { /* read to the end */ }
      reader.releaseLock();
      out.push(`bodyUsed ${req.bodyUsed}`);
      out.push(await outcome(() => req.text()));
      out.push(await outcome(() => req.clone()));
    } else if (path === "/locked") {
      req.body!.getReader();
      out.push(`bodyUsed ${req.bodyUsed}`);
      out.push(await outcome(() => req.clone()));
      out.push(await outcome(() => req.text()));
    } else if (path === "/clone") {
      const copy = req.clone();
      out.push(await outcome(() => copy.text()));
      out.push(await outcome(() => req.text()));
      const original: string[] = [];
      req.headers.forEach((v, k) => original.push(`${k}=${v}`));
      const copied: string[] = [];
      copy.headers.forEach((v, k) => copied.push(`${k}=${v}`));
      out.push(`headers ${original.join("&") === copied.join("&")}`);
    } else if (path === "/keep") {
      kept[name] = req;
    }
    return new Response("ok");
  };
  const krepis = listen(handler("krepis"));
  const deno = denoServe(handler("deno") as Deno.ServeHandler<Deno.NetAddr>);
  try {
    for (
      const [name, server] of [["krepis", krepis], ["deno", deno]] as const
    ) {
      const base = `http://127.0.0.1:${server.addr.port}`;
      for (const path of ["/used", "/locked", "/clone", "/keep"]) {
        const res = await fetch(base + path, {
          method: "POST",
          body: "x".repeat(5_000),
          headers: { "x-one": "1", "x-two": "caf\u00e9" },
        });
        await res.text();
      }
      await eventually(`${name} to finish the request`, () => name in kept);
      // The response went out: reading the body now throws (never "").
      await new Promise((r) => setTimeout(r, 50));
      outcomes[name].push(await outcome(() => kept[name].text()));
    }
  } finally {
    await Promise.all([krepis.shutdown(), deno.shutdown()]);
  }
  assert.deepEqual(outcomes.krepis, outcomes.deno);
  assert.deepEqual(outcomes.krepis, [
    "bodyUsed true",
    "threw TypeError",
    "threw TypeError",
    "bodyUsed false",
    "threw TypeError",
    "threw TypeError",
    `ok ${"x".repeat(5_000)}`,
    `ok ${"x".repeat(5_000)}`,
    "headers true",
    "threw TypeError",
  ]);
});

Deno.test("serving does not depend on a polluted Array.prototype[Symbol.iterator]", async () => {
  const handler: ServeHandler = async (req) => {
    const body = req.method === "POST" ? await req.text() : "";
    const url = new URL(req.url);
    if (url.pathname === "/stream") {
      return new Response(
        new ReadableStream({
          start(controller) {
            controller.enqueue(encoder.encode("streamed"));
            controller.close();
          },
        }),
      );
    }
    const headers = new Headers();
    headers.append("set-cookie", "a=1");
    headers.append("set-cookie", "b=2");
    headers.set("x-got", req.headers.get("x-send") ?? "none");
    return new Response(`${req.method} ${body}`, { headers });
  };
  const krepis = listen(handler);
  const deno = denoServe(handler as Deno.ServeHandler<Deno.NetAddr>);
  const ports = [krepis.addr.port, deno.addr.port];
  const results: string[] = [];
  const files = await Deno.makeTempDir();
  await Deno.writeTextFile(`${files}/a.txt`, "static");
  const iterator = Object.getOwnPropertyDescriptor(
    Array.prototype,
    Symbol.iterator,
  )!;
  Object.defineProperty(Array.prototype, Symbol.iterator, {
    configurable: true,
    writable: true,
    value: function polluted() {
      throw new Error("polluted array iterator");
    },
  });
  try {
    // No array iteration in here: the test itself must not trip over the pollution.
    for (let i = 0; i < ports.length; i++) {
      const base = `http://127.0.0.1:${ports[i]}`;
      const get = await fetch(`${base}/`, { headers: { "x-send": "v" } });
      results.push(
        `${get.status} ${await get.text()} ${get.headers.get("x-got")} ${
          get.headers.get("set-cookie")
        }`,
      );
      const post = await fetch(`${base}/`, { method: "POST", body: "data" });
      results.push(`${post.status} ${await post.text()}`);
      const stream = await fetch(`${base}/stream`);
      results.push(`${stream.status} ${await stream.text()}`);
    }
    // A server started while polluted (its options carry arrays), with kernel-served files.
    const late = listen(() => new Response("late"), {
      static: { "/files": { root: files, index: ["index.html"] } },
    });
    const res = await fetch(`http://127.0.0.1:${late.addr.port}/`);
    results.push(`${res.status} ${await res.text()}`);
    const file = await fetch(`http://127.0.0.1:${late.addr.port}/files/a.txt`);
    results.push(`${file.status} ${await file.text()}`);
    results.push(`stats ${late.stats().requestsTotal >= 1}`);
    await late.shutdown();
  } finally {
    Object.defineProperty(Array.prototype, Symbol.iterator, iterator);
    await Promise.all([krepis.shutdown(), deno.shutdown()]);
  }
  assert.deepEqual(results.slice(0, 3), results.slice(3, 6));
  assert.deepEqual(results.slice(0, 3), [
    "200 GET  v a=1, b=2",
    "200 POST data",
    "200 streamed",
  ]);
  assert.deepEqual(results.slice(6), ["200 late", "200 static", "stats true"]);
  await Deno.remove(files, { recursive: true });
});

Deno.test("a streamed body read whole: arrayBuffer() and bytes().buffer hold exactly the body, as with Deno.serve", async () => {
  // The body follows the head after a pause, so the handler starts on a body stream and
  // the whole body arrives as one chunk of the kernel's read buffer.
  await using both = pair(async (req) => {
    const url = new URL(req.url);
    const size = url.pathname === "/bytes"
      ? (await req.bytes()).buffer.byteLength
      : (await req.arrayBuffer()).byteLength;
    return new Response(String(size), { headers: { connection: "close" } });
  });
  for (const [name, server] of both.servers) {
    // A small body, and one larger than half the kernel's 64 KiB read buffer (such a
    // read is handed over without a copy).
    for (const size of [5, 40_000]) {
      for (const path of ["/array-buffer", "/bytes"]) {
        const reply = await raw(server.addr.port, [
          `POST ${path} HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n`,
          `${size.toString(16)}\r\n${"x".repeat(size)}\r\n0\r\n\r\n`,
        ], { pauseMs: 100, timeoutMs: 2_000 }); // Deno.serve keeps the connection open
        const responses = parseResponses(reply.text);
        assert.equal(
          responses[0]?.body,
          String(size),
          `${name} ${path} ${size}: ${reply.text.slice(0, 200)}`,
        );
      }
    }
  }
});

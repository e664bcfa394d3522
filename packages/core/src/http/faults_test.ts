/**
 * Bad input and faults: each is answered by the kernel or contained, and nothing leaks.
 */

import assert from "node:assert/strict";
import {
  connectAndWrite,
  eventually,
  exchange,
  listen,
  measureInChild,
} from "./_test_util.ts";

Deno.test("malformed, oversize-head and oversize-body requests never reach TypeScript", async () => {
  let calls = 0;
  await using server = await listen(() => {
    calls++;
    return new Response("ok");
  }, { maxBodySize: 1000, maxHeaderSize: 8192 });
  const malformed = await exchange(
    server,
    "GET / HTTP/1.1\r\nno colon here\r\n\r\n",
  );
  assert.match(malformed, /^HTTP\/1\.1 400 /);
  const binary = await exchange(
    server,
    new Uint8Array([0x16, 3, 1, 0, 0xa5, 1, 13, 10, 13, 10]),
  );
  assert.match(binary, /^HTTP\/1\.1 400 /);
  const head = await exchange(
    server,
    `GET / HTTP/1.1\r\nhost: t\r\nx-big: ${"a".repeat(20_000)}\r\n\r\n`,
  );
  assert.match(head, /^HTTP\/1\.1 431 /);
  const sized = await exchange(
    server,
    "POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 1001\r\n\r\n",
  );
  assert.match(sized, /^HTTP\/1\.1 413 /);
  const chunks = Array.from(
    { length: 3 },
    () => `1f4\r\n${"b".repeat(500)}\r\n`,
  ).join("");
  const chunked = await exchange(
    server,
    `POST / HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n${chunks}0\r\n\r\n`,
  );
  assert.match(chunked, /^HTTP\/1\.1 413 /);
  assert.equal(calls, 0);
  assert.equal(server.stats().rejectedTotal, 3, "431 and two 413s");
  const ok = await fetch(`http://127.0.0.1:${server.addr.port}/`);
  assert.equal(await ok.text(), "ok");
});

Deno.test("a throwing handler gives 500 without details and calls onError", async () => {
  const errors: unknown[] = [];
  await using server = await listen((req) => {
    if (req.url.endsWith("/async")) {
      return Promise.reject(new Error("secret async detail"));
    }
    if (req.url.endsWith("/custom")) throw new RangeError("custom");
    throw new Error("secret detail");
  }, {
    onError: (error) => {
      errors.push(error);
      if (error instanceof RangeError) {
        return new Response("handled", { status: 418 });
      }
      return new Response("Internal Server Error", { status: 500 });
    },
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  for (const path of ["/sync", "/async"]) {
    const res = await fetch(base + path);
    assert.equal(res.status, 500);
    const text = await res.text();
    assert.doesNotMatch(text, /secret/);
  }
  const custom = await fetch(`${base}/custom`);
  assert.equal(custom.status, 418);
  assert.equal(await custom.text(), "handled");
  assert.equal(errors.length, 3);
  assert.equal((errors[0] as Error).message, "secret detail");
});

Deno.test("a handler that returns no Response gives 500 and a TypeError to onError", async () => {
  const errors: unknown[] = [];
  await using server = await listen(
    () => ({ status: 200 }) as unknown as Response,
    {
      onError: (error) => {
        errors.push(error);
        return new Response("Internal Server Error", { status: 500 });
      },
    },
  );
  const res = await fetch(`http://127.0.0.1:${server.addr.port}/`);
  assert.equal(res.status, 500);
  await res.body?.cancel();
  assert.ok(errors[0] instanceof TypeError);
  assert.match((errors[0] as Error).message, /must be a response/);
});

Deno.test("without onError a failure is logged and answered 500 with no error text", async () => {
  const logged: unknown[] = [];
  const error = console.error;
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    await using server = await listen(() => {
      throw new Error("do not leak me");
    });
    const res = await fetch(`http://127.0.0.1:${server.addr.port}/`);
    assert.equal(res.status, 500);
    assert.equal(await res.text(), "Internal Server Error");
    assert.equal(logged.length, 1);
  } finally {
    console.error = error;
  }
});

Deno.test("a handler that never settles times out, fires its signal and frees the slot", async () => {
  let aborted: unknown;
  let deadline = 0;
  let entered = 0;
  const server = listen((_req, info) => {
    entered = Date.now();
    deadline = info.ctx.deadline;
    info.ctx.signal.addEventListener(
      "abort",
      () => aborted = info.ctx.signal.reason,
    );
    return new Promise<Response>(() => {});
  }, { requestTimeout: 200 });
  const started = Date.now();
  const res = await fetch(`http://127.0.0.1:${server.addr.port}/`);
  await res.body?.cancel();
  assert.equal(res.status, 503);
  assert.ok(Date.now() - started >= 190);
  // 200 ms after the request arrived, which lies between `started` and the handler's
  // start: bounds that hold however slow a loaded machine makes the fetch.
  assert.ok(
    deadline >= started + 200 && deadline <= entered + 201,
    `deadline ${deadline - started} ms after the fetch, handler at ${
      entered - started
    } ms`,
  );
  await eventually("the abort signal", () => aborted !== undefined);
  assert.equal((aborted as DOMException).name, "AbortError");
  await eventually(
    "the slot to be freed",
    () => server.stats().requestsInFlight === 0,
  );
  assert.equal(server.stats().timeoutsTotal, 1);
  // `finished` waits for handlers; one that never settles is let go at a shutdown deadline.
  await server.shutdown({ timeout: 0 });
});

Deno.test("a client that disconnects mid-request fires the signal and leaks nothing", async () => {
  let arrived = false;
  let aborted = false;
  let kept: ArrayBuffer | undefined;
  await using server = await listen(async (req, info) => {
    kept = await req.arrayBuffer();
    arrived = true;
    await new Promise((resolve) =>
      info.ctx.signal.addEventListener("abort", resolve)
    );
    aborted = true;
    assert.ok(req.signal.aborted, "req.signal is the same signal");
    return new Response("too late");
  });
  const conn = await connectAndWrite(
    server,
    "POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 3\r\n\r\nabc",
  );
  await eventually("the request", () => arrived);
  assert.equal(server.stats().bodyBytesLent, 3);
  conn.close();
  await eventually("the abort", () => aborted);
  await eventually(
    "the slot to be freed",
    () => server.stats().requestsInFlight === 0,
  );
  assert.equal(
    new TextDecoder().decode(kept),
    "abc",
    "the handler's copy outlives the freed slot",
  );
  assert.equal(server.stats().bodyBytesLent, 0);
  assert.equal(server.stats().abortedTotal, 1);
});

Deno.test("shutdown lets in-flight requests finish, then closes", async () => {
  let arrived = false;
  const server = await listen(async () => {
    arrived = true;
    await new Promise((r) => setTimeout(r, 300));
    return new Response("finished anyway");
  });
  const port = server.addr.port;
  const pending = fetch(`http://127.0.0.1:${port}/`).then((r) => r.text());
  await eventually("the request", () => arrived);
  const done = server.shutdown();
  assert.equal(await pending, "finished anyway");
  await done;
  await server.finished;
  await assert.rejects(() => Deno.connect({ hostname: "127.0.0.1", port }));
});

Deno.test("an aborted signal option shuts the server down", async () => {
  const controller = new AbortController();
  const server = await listen(() => new Response("x"), {
    signal: controller.signal,
  });
  controller.abort();
  await server.finished;
  await assert.rejects(() =>
    Deno.connect({ hostname: "127.0.0.1", port: server.addr.port })
  );
});

/**
 * 1,000 requests a batch: three to warm up, then two halves of four; a leak shows as
 * growth in the second half, after allocators and the JIT have settled. Measured in a
 * child process (`_malformed_load.ts`) that counts only itself: RSS less the V8 heap's
 * free space, once garbage is collected and glibc trimmed, with two malloc arenas. Plain
 * RSS of the test process moved -1 to +10 MiB from one half to the next under a busy loop
 * on the other core (uploads waiting to be collected, load-dependent arenas), past the
 * 8 MiB bound; in the child, collected and trimmed, V8 still grew its heap by 6–7 MiB
 * in the second half while the live heap grew by 0.1 MiB.
 */
Deno.test("10k requests mixing malformed input leave the server serving with stable memory", async () => {
  const { stats, last, warm, mid, end } = await measureInChild(
    "./_malformed_load.ts",
  );
  const growth = end - mid;
  console.log(
    `memory in use after warm-up ${warm} KiB, +${mid - warm}, then +${growth}`,
  );
  assert.equal(stats.requestsTotal, 11 * 880);
  assert.equal(stats.responsesTotal, stats.requestsTotal);
  assert.ok(stats.rejectedTotal >= 11 * 30, `rejected ${stats.rejectedTotal}`);
  assert.equal(stats.requestsInFlight, 0);
  assert.equal(stats.bodyBytesLent, 0);
  assert.ok(
    growth < 8 * 1024,
    `memory in use grew by ${growth} KiB in the second half`,
  );
  assert.equal(last, "ok 0");
});

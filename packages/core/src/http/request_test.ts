/**
 * `KernelRequest.header`, the app's header read that skips building `Headers`, answers as
 * `req.headers.get` does for what clients send (repeated names, case, padding, absence).
 */

import assert from "node:assert/strict";
import { serve } from "./serve.ts";
import { KernelRequest } from "./request.ts";
import { exchange } from "./_wire.ts";

Deno.test("KernelRequest.header answers as req.headers.get, before and after Headers are built", async () => {
  const names = ["content-type", "content-length", "x-dup", "x-pad", "absent"];
  const seen: { early: (string | null)[]; headers: (string | null)[] }[] = [];
  const server = serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => {
      const kernel = req as unknown as KernelRequest;
      // Read before anything built the request's Headers, then through them.
      const early = names.map((n) => KernelRequest.header(kernel, n));
      const headers = names.map((n) => req.headers.get(n));
      assert.deepEqual(
        names.map((n) => KernelRequest.header(kernel, n)),
        headers,
      );
      seen.push({ early, headers });
      return new Response("ok");
    },
  );
  try {
    const request =
      "POST / HTTP/1.1\r\nhost: t\r\nContent-Type: application/json\r\n" +
      "x-dup: a\r\nX-Dup: b\r\nx-pad: \t v \r\ncontent-length: 2\r\n" +
      "connection: close\r\n\r\n{}";
    const res = await exchange(server.addr.port, request);
    assert.equal(res.status, 200);
  } finally {
    await server.shutdown();
  }
  assert.equal(seen.length, 1);
  assert.deepEqual(seen[0].early, seen[0].headers);
  assert.deepEqual(seen[0].headers, [
    "application/json",
    "2",
    "a, b",
    "v",
    null,
  ]);
});

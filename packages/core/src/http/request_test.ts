/**
 * `KernelRequest.header`, the app's header read that skips building `Headers`, answers as
 * `req.headers.get` does for what clients send (repeated names, case, padding, absence).
 */

import assert from "node:assert/strict";
import { serve } from "./serve.ts";
import { KernelRequest } from "./request.ts";
import { exchange, pair } from "./_wire.ts";

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

Deno.test("many requests at once (small records decoded a block at a time, large ones and some not ASCII alone) read as under Deno.serve", async () => {
  // Read after an await, when later turns have reused the inbox the records came in.
  const handler = async (req: Request) => {
    await new Promise((resolve) => setTimeout(resolve, 1));
    return Response.json({
      method: req.method,
      url: new URL(req.url).pathname + new URL(req.url).search,
      headers: [...req.headers].filter(([name]) => name.startsWith("x-")),
    });
  };
  await using servers = await pair(handler);
  const ask = (port: number, i: number) =>
    fetch(`http://127.0.0.1:${port}/r/${i}?q=${"k".repeat(i % 50)}`, {
      method: i % 3 === 0 ? "DELETE" : "GET",
      headers: {
        // Small records share decoded blocks, several per turn; from about the 80th on
        // they are large enough to be decoded alone.
        "x-pad": "v".repeat(50 + i * 5),
        "x-i": String(i),
        // Every seventh is not ASCII: that record is decoded field by field.
        ...(i % 7 === 3 ? { "x-latin1": "caf\u00e9" } : {}),
      },
    }).then((res) => res.json());
  const n = 120;
  const indices = [...Array(n).keys()];
  const [ours, theirs] = await Promise.all([
    Promise.all(indices.map((i) => ask(servers.krepis, i))),
    Promise.all(indices.map((i) => ask(servers.deno, i))),
  ]);
  assert.deepEqual(ours, theirs);
  assert.equal(
    ours[3].headers.find(([n]: string[]) => n === "x-latin1")[1],
    "caf\u00e9",
  );
  assert.equal(ours[n - 1].url, `/r/${n - 1}?q=${"k".repeat((n - 1) % 50)}`);
});

Deno.test("req.method is the method as sent, common or not, as under Deno.serve", async () => {
  const handler = (req: Request) =>
    new Response(null, { headers: { "x-method": req.method } });
  await using servers = await pair(handler);
  // The common ones come back as literals (`records.ts` `METHODS`); near misses, other
  // cases and other tokens as sent.
  const methods = [
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "PATCH",
    "OPTIONS",
    "patch",
    "GETS",
    "PO",
    "PURGE",
    "M-SEARCH",
  ];
  const ask = async (port: number, method: string) => {
    const res = await fetch(`http://127.0.0.1:${port}/m`, { method });
    await res.body?.cancel();
    return res.headers.get("x-method");
  };
  for (const method of methods) {
    const ours = await ask(servers.krepis, method);
    assert.equal(ours, await ask(servers.deno, method), method);
    assert.equal(ours, method);
  }
});

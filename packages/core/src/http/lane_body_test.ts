/**
 * Request bodies on the kernel's HTTP/1.1 lane, against `Deno.serve`: a body that comes
 * with its head (pipelined after others on one connection) and one whose head arrives
 * before it (the lane hands that head back to the `http` way) reach the handler as
 * `Deno.serve` hands them over.
 */

import assert from "node:assert/strict";
import { latin1, pair } from "./_wire.ts";

/** Echoes what the handler saw, one JSON line per request. */
async function echo(req: Request): Promise<Response> {
  const body = await req.text();
  const seen = {
    method: req.method,
    url: req.url,
    type: req.headers.get("content-type"),
    length: req.headers.get("content-length"),
    body,
  };
  return new Response(JSON.stringify(seen) + "\n");
}

/** Writes `parts` on one connection (pausing `pause` ms between them) and reads to its end. */
async function conversation(
  port: number,
  parts: string[],
  pause: number,
): Promise<string[]> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), 10_000);
  let text = "";
  const reading = (async () => {
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
  })();
  for (const [i, part] of parts.entries()) {
    if (i > 0) await new Promise((r) => setTimeout(r, pause));
    await conn.write(latin1(part));
  }
  await reading;
  clearTimeout(timer);
  try {
    conn.close();
  } catch { /* closed by the timer or the peer */ }
  return text.match(/^\{.*\}$/gm) ?? [];
}

function post(path: string, body: string, close = false): string {
  return `POST ${path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${new TextEncoder().encode(body).length}\r\n` +
    (close ? "Connection: close\r\n" : "") + `\r\n${body}`;
}

Deno.test("lane bodies: pipelined requests with bodies come whole and apart, as in Deno.serve", async () => {
  await using servers = await pair(echo);
  const wire = [
    post("/todos", '{"title":"a"}') +
    post("/todos?x=1", '{"title":"bé"}') +
    "GET /todos HTTP/1.1\r\nHost: t\r\n\r\n" +
    post("/last", "z", true),
  ];
  const deno = await conversation(servers.deno, wire, 0);
  const krepis = await conversation(servers.krepis, wire, 0);
  assert.equal(deno.length, 4);
  assert.deepEqual(krepis, deno);
});

Deno.test("lane bodies: a head that arrives before its body is served as in Deno.serve", async () => {
  await using servers = await pair(echo);
  const head = post("/later", "").replace(
    "Content-Length: 0",
    "Content-Length: 11",
  );
  // The head alone, the body 150 ms later, then a request on the same connection.
  const wire = [head, '{"late":1}\n', post("/next", "{}", true)];
  const deno = await conversation(servers.deno, wire, 150);
  const krepis = await conversation(servers.krepis, wire, 150);
  assert.equal(deno.length, 2);
  assert.equal(JSON.parse(deno[0]).body, '{"late":1}\n');
  assert.deepEqual(krepis, deno);
});

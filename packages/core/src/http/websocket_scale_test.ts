/**
 * Many open WebSockets at once (issue 9 item 20): events of all of a server's sockets come
 * through one queue, taken after each turn of the server's loop (no wait of their own), so
 * 1000 open sockets hold no more threads than one does — compared with
 * `Deno.upgradeWebSocket` in the same run.
 */

import assert from "node:assert/strict";
import { serve, upgradeWebSocket } from "@krepis/core/http";

const SOCKETS = 1000;
/** Clients connecting at once. */
const BATCH = 100;

/** Resident memory of this process, MiB. */
function rssMiB(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

function threads(): number {
  let n = 0;
  for (const _ of Deno.readDirSync("/proc/self/task")) n++;
  return n;
}

/** `promise`, or an error naming `what` after `ms` (so the test is bounded in time). */
async function within<T>(ms: number, what: string, promise: Promise<T>) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: over ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

function open(port: number): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  return new Promise((resolve, reject) => {
    ws.onopen = () => resolve(ws);
    ws.onerror = (e) => reject(new Error((e as ErrorEvent).message));
  });
}

function reply(ws: WebSocket, text: string): Promise<unknown> {
  const got = new Promise((r) =>
    ws.addEventListener("message", (e) => r(e.data), { once: true })
  );
  ws.send(text);
  return got;
}

/** Opens SOCKETS clients, has each echo once, closes them; returns thread counts. */
async function load(port: number, serverSide: () => number) {
  // One socket first, so the one-off threads (runtime, the parked wait) exist already.
  const warm = await within(30_000, "first socket", open(port));
  assert.equal(await reply(warm, "warm"), "warm");
  const before = threads();
  const rssBefore = rssMiB();
  const sockets: WebSocket[] = [warm];
  for (let i = 1; i < SOCKETS; i += BATCH) {
    const batch: Promise<WebSocket>[] = [];
    for (let j = i; j < Math.min(i + BATCH, SOCKETS); j++) {
      batch.push(open(port));
    }
    sockets.push(...await within(60_000, `sockets ${i}…`, Promise.all(batch)));
  }
  const echoes = await within(
    60_000,
    "echoes",
    Promise.all(sockets.map((ws, i) => reply(ws, `m${i}`))),
  );
  // Counted after the echoes: a client may see its handshake before the server's
  // `open` event ran.
  const open_ = serverSide();
  const during = threads();
  const rssDuring = rssMiB();
  await within(
    60_000,
    "closing",
    Promise.all(sockets.map((ws) => {
      const done = new Promise((r) => ws.onclose = r);
      ws.close();
      return done;
    })),
  );
  return { before, during, open: open_, echoes, rss: rssDuring - rssBefore };
}

Deno.test(`${SOCKETS} concurrent WebSockets: every one echoes, the thread count stays flat (as with Deno.upgradeWebSocket)`, async () => {
  const handler = (upgrade: typeof upgradeWebSocket, live: Set<WebSocket>) =>
  (
    req: Request,
  ) => {
    const { socket, response } = upgrade(req);
    socket.onopen = () => live.add(socket);
    socket.onclose = () => live.delete(socket);
    socket.onmessage = (e) => socket.send(e.data);
    return response;
  };
  const results = [];
  for (const kind of ["deno", "krepis"] as const) {
    const live = new Set<WebSocket>();
    const options = { hostname: "127.0.0.1", port: 0, onListen() {} };
    const server = kind === "deno"
      ? Deno.serve(options, handler(Deno.upgradeWebSocket, live))
      : serve(options, handler(upgradeWebSocket, live));
    const result = await load(server.addr.port, () => live.size);
    await within(30_000, "shutdown", server.shutdown());
    results.push(result);
    console.log(
      `${kind}: threads ${result.before} with one socket, ${result.during} with ${result.open} open; RSS +${
        result.rss.toFixed(0)
      } MiB (clients included)`,
    );
  }
  for (const result of results) {
    assert.equal(result.open, SOCKETS);
    assert.deepEqual(
      result.echoes,
      Array.from({ length: SOCKETS }, (_, i) => `m${i}`),
    );
  }
  // A thread per socket (the old per-socket wait) would add hundreds; a handful of
  // blocking-pool threads may come and go with the server's other waits.
  const [deno, krepis] = results;
  assert.ok(
    krepis.during - krepis.before <= 8,
    `threads grew from ${krepis.before} to ${krepis.during}`,
  );
  assert.ok(deno.during - deno.before <= 8);
});

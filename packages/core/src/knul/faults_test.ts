/**
 * Hostile clients on stock `Deno.connectQuic`: garbage, streams opened and reset by the
 * thousand, a client that stops reading. The server keeps serving, and its in-flight
 * count, file descriptors and memory come back to their baseline.
 */
import assert from "node:assert/strict";
import { createContext } from "../context/context.ts";
import { memorySink } from "../context/logger.ts";
import { testCerts } from "./_certs.ts";
import { connectKnul } from "./client.ts";
import { serveKnul } from "./server.ts";

const log = memorySink("error");
const te = new TextEncoder();

function frame(type: number, payload: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(5 + payload.length);
  out[0] = type;
  new DataView(out.buffer).setUint32(1, payload.length);
  out.set(payload, 5);
  return out;
}
/** A KnulHeader with only `method` (field 1, length-delimited). */
function header(method: string): Uint8Array<ArrayBuffer> {
  const m = te.encode(method);
  return frame(0x01, new Uint8Array([0x0a, m.length, ...m]));
}

function fds(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}
function rssMiB(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}
async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

Deno.test("knul faults: garbage, 10k reset streams and a client that stops reading", async () => {
  const certs = await testCerts();
  let runs = 0;
  await using server = await serveKnul({
    cert: certs.cert,
    key: certs.key,
    log,
  }, {
    echo: (_ctx, x) => (runs++, x),
    big: () => "x".repeat(4 << 20),
    wait: (ctx) =>
      new Promise((resolve) =>
        ctx.signal.addEventListener("abort", () => resolve(null))
      ),
  });
  await using client = await connectKnul({
    hostname: "127.0.0.1",
    port: server.addr.port,
    caCerts: [certs.ca],
    serverName: "localhost",
  });
  const ctx = createContext({ log });
  assert.equal(await client.call(ctx, "echo", 1), 1);
  const quic = () =>
    Deno.connectQuic({
      hostname: "127.0.0.1",
      port: server.addr.port,
      alpnProtocols: ["knul/1"],
      caCerts: [certs.ca],
      serverName: "localhost",
    });
  // Warm up the paths measured below before taking the baseline.
  const warm = await quic();
  warm.close({ closeCode: 0, reason: "" });
  const baseFds = fds();
  const baseRss = rssMiB();

  const conn = await quic();
  // Random garbage on a few streams.
  for (let i = 0; i < 20; i++) {
    const s = await conn.createBidirectionalStream({
      waitUntilAvailable: true,
    });
    const w = s.writable.getWriter();
    await w.write(crypto.getRandomValues(new Uint8Array(64 + i * 7)));
    await w.close();
    for await (const _ of s.readable) { /* the server's refusal */ }
  }
  // 10 000 streams: half a header or a call to `wait`, then reset from our side.
  const resetOne = async (i: number) => {
    const s = await conn.createBidirectionalStream({
      waitUntilAvailable: true,
    });
    const w = s.writable.getWriter();
    const h = header(i % 2 ? "wait" : "echo");
    await w.write(
      i % 2
        ? new Uint8Array([...h, ...frame(0x02, te.encode("1"))])
        : h.subarray(0, 4),
    );
    if (i % 2) await w.close();
    else await w.abort(1);
    await s.readable.cancel(1);
  };
  for (let batch = 0; batch < 100; batch++) {
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => resetOne(batch * 100 + i)),
    );
  }
  // A client that asks for 4 MiB and never reads it.
  const stuck = await conn.createBidirectionalStream({
    waitUntilAvailable: true,
  });
  const sw = stuck.writable.getWriter();
  await sw.write(
    new Uint8Array([...header("big"), ...frame(0x02, te.encode("null"))]),
  );
  await sw.close();
  // Meanwhile the server serves everyone else.
  const before = runs;
  for (let i = 0; i < 20; i++) {
    assert.equal(await client.call(ctx, "echo", i), i);
  }
  assert.equal(runs, before + 20);
  conn.close({ closeCode: 0, reason: "" });

  await until("every call released", () => server.stats().inFlight === 0);
  await until(
    "the hostile connection closed",
    () => server.stats().connectionsOpen === 1,
  );
  const stats = server.stats();
  assert.equal(stats.queued, 0);
  assert.ok(stats.rejectedProtocol >= 20, `${stats.rejectedProtocol}`);
  assert.ok(stats.cancelled >= 5000, `${stats.cancelled}`);
  assert.ok(fds() <= baseFds + 2, `fds ${fds()} vs ${baseFds}`);
  const grown = rssMiB() - baseRss;
  assert.ok(grown < 64, `RSS grew by ${grown.toFixed(1)} MiB`);
  assert.equal(await client.call(ctx, "echo", "still here"), "still here");
});

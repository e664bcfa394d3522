/**
 * Hostile clients on stock `Deno.connectQuic` against a KNUL server in a process of its
 * own: garbage, 12 000 streams opened and reset, a client that stops reading. The server
 * keeps serving, and its in-flight count, file descriptors and memory (read from its own
 * /proc, through a `stats` method) come back to their baseline.
 */
import assert from "node:assert/strict";
import { createContext } from "../context/context.ts";
import { memorySink } from "../context/logger.ts";
import { until } from "../_poll.ts";
import { startWithClient } from "./_knul_process.ts";

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

interface Stats {
  inFlight: number;
  queued: number;
  connectionsOpen: number;
  rejectedProtocol: number;
  cancelledTotal: number;
  runs: number;
  fds: number;
  rssKiB: number;
}

Deno.test("knul faults: garbage, 12k reset streams and a client that stops reading", async () => {
  const { certs, store, server, client } = await startWithClient([
    "--v8-flags=--expose-gc",
  ]);
  const { child, port } = server;
  // One client endpoint (UDP socket) for every hostile connection.
  const endpoint = new Deno.QuicEndpoint({ hostname: "127.0.0.1", port: 0 });
  const ctx = createContext({ log });
  const stats = () => client.call<Stats>(ctx, "stats", null);
  const settled = (what: string, check: (s: Stats) => boolean) =>
    until(what, async () => check(await stats()));
  const hostile = async (streams: number) => {
    const conn = await Deno.connectQuic({
      hostname: "127.0.0.1",
      port,
      alpnProtocols: ["knul/1"],
      caCerts: [certs.ca],
      serverName: "localhost",
      endpoint,
    });
    const open = () =>
      conn.createBidirectionalStream({ waitUntilAvailable: true });
    // Random garbage on a few streams.
    for (let i = 0; i < 20; i++) {
      const s = await open();
      const w = s.writable.getWriter();
      await w.write(crypto.getRandomValues(new Uint8Array(64 + i * 7)));
      await w.close();
      for await (const _ of s.readable) { /* the server's refusal */ }
    }
    // Streams with half a header, or a call to `wait`, then reset from our side.
    const resetOne = async (i: number) => {
      const s = await open();
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
    for (let batch = 0; batch < streams / 100; batch++) {
      await Promise.all(
        Array.from({ length: 100 }, (_, i) => resetOne(batch * 100 + i)),
      );
    }
    // A client that asks for 4 MiB and never reads it.
    const stuck = await open();
    const sw = stuck.writable.getWriter();
    await sw.write(
      new Uint8Array([...header("big"), ...frame(0x02, te.encode("null"))]),
    );
    await sw.close();
    // Meanwhile the server serves everyone else.
    const before = (await stats()).runs;
    for (let i = 0; i < 20; i++) {
      assert.equal(await client.call(ctx, "echo", i), i);
    }
    assert.equal((await stats()).runs, before + 20);
    conn.close({ closeCode: 0, reason: "" });
    // The `stats` call itself is in flight while it answers.
    await settled(
      "every call released",
      (s) => s.inFlight === 1 && s.queued === 0,
    );
    await settled(
      "the hostile connection closed",
      (s) => s.connectionsOpen === 1,
    );
  };
  try {
    // 12 000 streams in three rounds: the first two warm every path (allocator, V8's
    // heap), so what the third leaves behind is what a leak would be.
    await hostile(4_000);
    await hostile(4_000);
    const base = await stats();
    await hostile(4_000);
    const after = await stats();
    assert.ok(after.rejectedProtocol >= 40, `${after.rejectedProtocol}`);
    assert.ok(after.cancelledTotal >= 5_000, `${after.cancelledTotal}`);
    assert.ok(after.fds <= base.fds, `fds ${after.fds} vs ${base.fds}`);
    const grown = (after.rssKiB - base.rssKiB) / 1024;
    assert.ok(grown < 24, `the server's RSS grew by ${grown.toFixed(1)} MiB`);
    assert.equal(await client.call(ctx, "echo", "still here"), "still here");
  } finally {
    endpoint.close();
    await client.close();
    child.kill("SIGKILL");
    await child.status;
    await Deno.remove(store, { recursive: true });
  }
});

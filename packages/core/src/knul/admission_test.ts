/**
 * Admission happens in the kernel: calls refused for their tenant's rate or concurrency,
 * for an oversize frame, or for a deadline passing in the queue never reach a handler.
 */
import assert from "node:assert/strict";
import { createContext } from "../context/context.ts";
import { memorySink } from "../context/logger.ts";
import { until } from "../_poll.ts";
import { serveWithClient } from "./_testing.ts";
import type { KnulError } from "./status.ts";

const log = memorySink("error");

const statusOf = (p: Promise<unknown>) =>
  p.then(() => "OK", (e: KnulError) => e.status);

Deno.test("knul admission: a tenant's token bucket refuses natively", async () => {
  let runs = 0;
  await using s = await serveWithClient(
    { tenantLimits: { ratePerSec: 0.001, burst: 3 } },
    {
      ping: () => ++runs,
    },
  );
  const t = createContext({ log, tenantId: "t" });
  const results = [];
  for (let i = 0; i < 5; i++) {
    results.push(await statusOf(s.client.call(t, "ping", null)));
  }
  assert.deepEqual(results, [
    "OK",
    "OK",
    "OK",
    "RESOURCE_EXHAUSTED",
    "RESOURCE_EXHAUSTED",
  ]);
  const u = createContext({ log, tenantId: "u" });
  assert.equal(await statusOf(s.client.call(u, "ping", null)), "OK");
  assert.equal(runs, 4, "refused calls never ran");
  assert.equal(s.server.stats().rejectedRate, 2);
});

Deno.test("knul admission: a tenant's concurrency cap refuses natively", async () => {
  let runs = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  await using s = await serveWithClient(
    { tenantLimits: { maxConcurrent: 2 } },
    {
      hold: async () => {
        runs++;
        await gate;
        return "held";
      },
    },
  );
  const t = createContext({ log, tenantId: "t" });
  const first = [
    statusOf(s.client.call(t, "hold", null)),
    statusOf(s.client.call(t, "hold", null)),
  ];
  await until("two calls running", () => runs === 2);
  const refused = await Promise.all([
    statusOf(s.client.call(t, "hold", null)),
    statusOf(s.client.call(t, "hold", null)),
  ]);
  assert.deepEqual(refused, ["RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED"]);
  release();
  assert.deepEqual(await Promise.all(first), ["OK", "OK"]);
  assert.equal(runs, 2);
  assert.equal(s.server.stats().rejectedConcurrency, 2);
  // Slots come back once calls finish.
  assert.equal(await statusOf(s.client.call(t, "hold", null)), "OK");
});

Deno.test("knul admission: saturated, higher priority runs first; expired waiters never run", async () => {
  const order: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  await using s = await serveWithClient({ maxInFlight: 1 }, {
    hold: async () => {
      order.push("hold");
      await gate;
      return "held";
    },
    work: (_ctx, name: string) => {
      order.push(name);
      return name;
    },
  });
  const ctx = createContext({ log });
  const hold = statusOf(s.client.call(ctx, "hold", null));
  await until("hold running", () => order.length === 1);
  const low = statusOf(s.client.call(ctx, "work", "low", { priority: 1 }));
  const high = statusOf(s.client.call(ctx, "work", "high", { priority: 9 }));
  const expiring = statusOf(
    s.client.call(
      // Long enough to be queued on a loaded machine before it expires there.
      createContext({ log, deadline: Date.now() + 3_000 }),
      "work",
      "expiring",
      {
        priority: 5,
      },
    ),
  );
  await until("three queued", () => s.server.stats().queued === 3);
  assert.equal(await expiring, "DEADLINE_EXCEEDED");
  release();
  assert.deepEqual(await Promise.all([hold, low, high]), ["OK", "OK", "OK"]);
  assert.deepEqual(order, ["hold", "high", "low"]);
  const stats = s.server.stats();
  assert.equal(stats.expiredInQueue, 1);
  assert.equal(stats.dispatchedTotal, 3);
});

Deno.test("knul admission: an oversize message is refused before any handler", async () => {
  let runs = 0;
  await using s = await serveWithClient({ maxFrameBytes: 1024 }, {
    echo: (_c, x) => (runs++, x),
  });
  const ctx = createContext({ log });
  assert.equal(
    await statusOf(s.client.call(ctx, "echo", "x".repeat(2048))),
    "RESOURCE_EXHAUSTED",
  );
  assert.equal(await s.client.call(ctx, "echo", "small"), "small");
  assert.equal(runs, 1);
  assert.equal(s.server.stats().rejectedOversize, 1);
  assert.equal(s.server.stats().inFlight, 0);
});

/**
 * One app instance for the multi-instance PostgreSQL tests, run as its own process:
 * `deno run -A _kv_pg_instance.ts count URL N` increments `["counter"]` N times with
 * check+set retries and prints how many retries it needed;
 * `deno run -A _kv_pg_instance.ts consume URL` handles queue messages (adds 1 to
 * `["seen", message]`) until killed;
 * `deno run -A _kv_pg_instance.ts slow URL MS` handles each message by adding 1 to
 * `["started", message]`, waiting MS milliseconds (message 1) or until killed (any
 * other), then adding 1 to `["done", message]`.
 *
 * @module
 */

import { KvU64, openKv } from "./kv.ts";

const [mode, url, n] = Deno.args;
const kv = await openKv(url);

if (mode === "count") {
  let retries = 0;
  for (let i = 0; i < Number(n); i++) {
    for (;;) {
      const entry = await kv.get<KvU64>(["counter"]);
      const next = new KvU64((entry.value?.value ?? 0n) + 1n);
      const result = await kv.atomic().check(entry).set(["counter"], next)
        .commit();
      if (result.ok) break;
      retries++;
    }
  }
  console.log(JSON.stringify({ retries }));
  kv.close();
} else if (mode === "consume") {
  console.log("listening");
  await kv.listenQueue(async (message) => {
    await kv.atomic().sum(["seen", message as number], 1n).commit();
  });
} else if (mode === "slow") {
  console.log("listening");
  await kv.listenQueue(async (message) => {
    await kv.atomic().sum(["started", message as number], 1n).commit();
    if (message !== 1) await new Promise(() => {});
    await new Promise((r) => setTimeout(r, Number(n)));
    await kv.atomic().sum(["done", message as number], 1n).commit();
  });
} else {
  throw new Error(`unknown mode ${mode}`);
}

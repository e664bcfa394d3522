/**
 * Plugin call benchmark (`deno task bench:plugins`): the round trip of one call
 * host → isolate → host, against calling the same plugin function directly in the host, in
 * the same run. The plugin is the `greeter` fixture (reads one env var, returns a new input
 * object), checked and signed by the `krepis` CLI and verified by the kernel.
 *
 * Sequential calls (each awaits the previous: the round-trip latency), then 32 calls in flight
 * (throughput: µs per call is elapsed time / calls); alternating order per round, a discarded
 * warm-up round, medians of BENCH_RUNS rounds (default 5). Prints µs per call, the ratio to
 * the direct call, and the host's CPU time per call (`process.cpuUsage()`: the host's share
 * of the work; the Worker thread counts towards the host process, the child process does not).
 *
 * @module
 */

import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { createContext } from "../packages/core/mod.ts";
import { loadPlugin, type Plugin } from "../packages/core/plugins.ts";

const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? 5);
const CALLS = Number(Deno.env.get("BENCH_CALLS") ?? 2_000);
const DIRECT_CALLS = CALLS * 50;
const CONCURRENCY = 32;
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const FIXTURE = join(ROOT, "packages/core/src/plugins/testdata/good");

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2
    ? s[(s.length - 1) / 2]
    : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** User + system CPU time of this process (all its threads) in ms. */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

async function krepis(...args: string[]): Promise<void> {
  const out = await new Deno.Command(join(ROOT, "target/debug/krepis"), {
    args,
    env: { KREPIS_HOME: ROOT },
    stdout: "null",
  }).output();
  if (!out.success) throw new Error(`krepis ${args.join(" ")} failed`);
}

const tmp = await Deno.makeTempDir({ prefix: "krepis-plugin-bench-" });
try {
  const dir = join(tmp, "greeter");
  await new Deno.Command("cp", { args: ["-r", FIXTURE, dir] }).output();
  await krepis("plugin", "keygen", join(tmp, "key"));
  await krepis("plugin", "sign", dir, "--key", join(tmp, "key"));
  const trustedKeys = [await Deno.readTextFile(join(tmp, "key.pub"))];
  Deno.env.set("GREETING", "bench");

  const direct = (await import(join(dir, "mod.ts"))).default as (
    ctx: unknown,
    input: unknown,
  ) => unknown;
  const worker = await loadPlugin(dir, { trustedKeys });
  const child = await loadPlugin(dir, { trustedKeys, isolation: "process" });
  const ctx = createContext();
  const input = { handler: "hello", kind: "query", input: { name: "ada" } };

  const viaPlugin = (plugin: Plugin) => async (n: number) => {
    for (let i = 0; i < n; i++) await plugin.call(ctx, input);
  };
  /** `n` calls with `CONCURRENCY` in flight at a time. */
  const concurrent = (plugin: Plugin) => async (n: number) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next++ < n) await plugin.call(ctx, input);
      }),
    );
  };
  const cases: [string, number, (n: number) => Promise<void>][] = [
    ["direct function call", DIRECT_CALLS, async (n) => {
      for (let i = 0; i < n; i++) await direct(ctx, input);
    }],
    ["worker isolate", CALLS, viaPlugin(worker)],
    ["process isolate", CALLS, viaPlugin(child)],
    [`worker, ${CONCURRENCY} in flight`, CALLS * 4, concurrent(worker)],
    [`process, ${CONCURRENCY} in flight`, CALLS * 4, concurrent(child)],
  ];
  const us = new Map<string, number[]>();
  const cpu = new Map<string, number[]>();
  for (let round = -1; round < RUNS; round++) {
    const order = round % 2 === 0 ? cases : [...cases].reverse();
    for (const [name, n, run] of order) {
      const cpu0 = cpuMs();
      const t0 = performance.now();
      await run(n);
      const elapsed = performance.now() - t0;
      if (round < 0) continue; // warm-up
      us.set(name, [...(us.get(name) ?? []), (elapsed * 1000) / n]);
      cpu.set(name, [...(cpu.get(name) ?? []), ((cpuMs() - cpu0) * 1000) / n]);
    }
  }
  await worker.close();
  await child.close();

  const base = median(us.get("direct function call")!);
  console.log(
    `plugin call round trip (greeter; median of ${RUNS} rounds; per round ${DIRECT_CALLS} direct calls, ${CALLS} sequential and ${
      CALLS * 4
    } concurrent isolate calls)`,
  );
  console.log(
    "case                        µs/call    × direct   host CPU µs/call",
  );
  for (const [name] of cases) {
    const m = median(us.get(name)!);
    console.log(
      `${name.padEnd(27)} ${m.toFixed(3).padStart(8)}  ${
        (m / base).toFixed(1).padStart(9)
      }x  ${median(cpu.get(name)!).toFixed(2).padStart(12)}`,
    );
  }
} finally {
  await Deno.remove(tmp, { recursive: true });
}

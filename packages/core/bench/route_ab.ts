/**
 * `bench:core`'s route, A/B between checkouts in one process: the same zod-validated JSON
 * POST route through `createApp(...).fetch` from this tree and from each tree given as an
 * argument (e.g. `main`'s sources: `git archive main packages bindings deno.json | tar -x
 * -C /tmp/main_src`), beside the same route in Hono, all called with a `new Request` and
 * read with `text()`.
 *
 *     deno run -A packages/core/bench/route_ab.ts /tmp/main_src [more trees...]
 *
 * Every round (`BENCH_RUNS`, default 21) runs the cases in 10 alternating slices, rotating
 * their order; a cell is the median over rounds of CPU ns per request (user + system), a
 * ratio the median of per-round ratios. `BENCH_TRACE=0` builds the apps with
 * `traceHeaders: false`. The trees' modules share one import map (written to a temporary
 * config from this workspace's), so each tree is loaded with the same dependencies.
 *
 * @module
 */

import process from "node:process";
import type { KrepisContext } from "../mod.ts";

const here = new URL("../../../", import.meta.url);

if (Deno.env.get("ROUTE_AB_CHILD") === undefined) {
  // The parent: one import map for every tree (bare specifiers in a tree outside this
  // workspace resolve through the main module's map only), then the measuring child.
  const root = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", here)),
  );
  const core = JSON.parse(
    await Deno.readTextFile(new URL("packages/core/deno.json", here)),
  );
  const imports = {
    ...root.imports,
    ...core.imports,
    "@krepis/bindings": new URL("bindings/mod.ts", here).href,
  };
  const dir = await Deno.makeTempDir();
  const config = `${dir}/deno.json`;
  await Deno.writeTextFile(
    config,
    JSON.stringify({ imports, unstable: root.unstable }),
  );
  await Deno.copyFile(new URL("deno.lock", here), `${dir}/deno.lock`);
  try {
    const { code } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--quiet",
        "--config",
        config,
        new URL(import.meta.url).pathname,
        ...Deno.args,
      ],
      env: { ROUTE_AB_CHILD: "1" },
    }).spawn().status;
    Deno.exitCode = code;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
} else {
  await measure();
}

async function measure() {
  const { honoPut, PutInput, putRequest } = await import("./_put_route.ts");
  const trace = Deno.env.get("BENCH_TRACE") !== "0";
  const rounds = Number(Deno.env.get("BENCH_RUNS") ?? 21);
  const store = new Map<string, number>();
  const silent = { level: "silent", write() {} } as const;
  type Fetch = (req: Request) => Response | Promise<Response>;
  const hono = honoPut(store);
  const cases: [string, Fetch][] = [["Hono", (req) => hono.fetch(req)]];

  for (const tree of [here.pathname, ...Deno.args]) {
    const m = await import(
      new URL("packages/core/mod.ts", `file://${tree}/`).href
    );
    const StorePort = m.definePort("store", { writes: ["set"] });
    const put = m.defineCommand({
      name: "put",
      input: PutInput,
      deps: { store: StorePort },
      handle(
        ctx: KrepisContext,
        input: { key: string; value: number },
        deps: { store: { set(c: KrepisContext, k: string, v: number): void } },
      ) {
        deps.store.set(ctx, input.key, input.value);
        return m.ok({ stored: input.key });
      },
    });
    const app = m.createApp({
      log: silent,
      traceHeaders: trace,
      adapters: [m.provide(StorePort, {
        get: (_ctx: unknown, k: string) => store.get(k),
        set: (_ctx: unknown, k: string, v: number) => void store.set(k, v),
      })],
      commands: [put],
      routes: [m.route("POST", "/put", put)],
    });
    cases.push([tree === here.pathname ? "this tree" : tree, app.fetch]);
  }

  const request = putRequest;
  let sink = "";
  /** CPU ns per request over `n` requests. */
  const cpu = async (fetch: Fetch, n: number) => {
    const start = process.cpuUsage();
    for (let i = 0; i < n; i++) sink = await (await fetch(request())).text();
    const used = process.cpuUsage(start);
    return (used.user + used.system) * 1000 / n;
  };
  for (const [, fetch] of cases) await cpu(fetch, 20_000); // warm-up
  const samples = cases.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    const sum = cases.map(() => 0);
    for (let s = 0; s < 10; s++) {
      for (let k = 0; k < cases.length; k++) {
        const i = (k + r) % cases.length;
        sum[i] += await cpu(cases[i][1], 2_000);
      }
    }
    sum.forEach((t, i) => samples[i].push(t / 10));
  }
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[s.length >> 1];
  };
  const ratio = (i: number, j: number) =>
    median(samples[i].map((x, r) => x / samples[j][r])).toFixed(3);
  console.log(
    `CPU ns per request, medians of ${rounds} rounds (traceHeaders: ${trace})`,
  );
  for (let i = 0; i < cases.length; i++) {
    const lower = samples[1].filter((x, r) => x < samples[i][r]).length;
    console.log(
      `${cases[i][0].padEnd(24)} ${median(samples[i]).toFixed(0).padStart(6)}` +
        (i === 0 ? "" : `  ÷ Hono ${ratio(i, 0)}`) +
        (i < 2
          ? ""
          : `  this tree ÷ it ${ratio(1, i)} (lower in ${lower} of ${rounds})`),
    );
  }
  if (sink.length === 0) throw new Error("no response body");
}

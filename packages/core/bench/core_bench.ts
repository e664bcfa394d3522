/**
 * Framework overhead: context creation, DI resolution, command dispatch through the full
 * pipeline, and the same JSON endpoint as a Krepis route versus the same route in Hono
 * with the same validator. Run with `deno task bench:core`.
 *
 * Every case runs in each of BENCH_RUNS rounds (default 21). Within a round the cases of a
 * group take turns in BENCH_SLICES (default 10) slices, and the order of the groups and of
 * the cases rotates from round to round, so drift on a shared machine and the garbage
 * collections one case sets off spread over all of them; a case runs about BENCH_ROUND_MS
 * (default 100) ms a round. A cell is the median over rounds of the process's CPU time per
 * operation (user + system, all threads: garbage collection included); a case's ratio to
 * its group's baseline is the median of its per-round ratios (the middle half of them in
 * brackets). BENCH_FILTER (a regular expression) runs only the cases whose name matches.
 *
 * @module
 */

import process from "node:process";
import {
  createApp,
  createContext,
  defineCommand,
  definePort,
  type KrepisContext,
  type LogSink,
  ok,
  provide,
  route,
} from "../mod.ts";
import { type Behavior, errors, timeout, tracing } from "../pipeline.ts";
import { Container } from "../src/di/container.ts";
import { honoPut, PutInput, putRequest } from "./_put_route.ts";

const silent: LogSink = { level: "silent", write() {} };
const discard: LogSink = { level: "info", write() {} };
const ids = {
  requestId: "0f5c7a52-41a5-4d0b-9d6e-8e5f1c2b3a4d",
  traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
  spanId: "00f067aa0ba902b7",
};
const signal = new AbortController().signal;
// Results are stored here so the JIT cannot drop the measured work as dead code.
export let sink: unknown;

interface Case {
  group: string;
  name: string;
  baseline: boolean;
  /** A second reference of its group: the other cases get a ratio to it too. */
  peer: boolean;
  fn: () => unknown;
}
const cases: Case[] = [];
/**
 * Registers a case; the first of a group, or one marked `baseline`, is its baseline. One
 * marked `peer` is a second reference, reported beside the baseline, never instead of it.
 */
function bench(
  name: string,
  options: { group: string; baseline?: boolean; peer?: boolean },
  fn: () => unknown,
) {
  cases.push({
    ...options,
    name,
    baseline: options.baseline ?? false,
    peer: options.peer ?? false,
    fn,
  });
}

// --- context -----------------------------------------------------------------------------
bench(
  "context: createContext with the kernel's ids",
  { group: "context" },
  () => {
    sink = createContext({ ...ids, deadline: 1e13, signal, log: silent });
  },
);
const root = createContext({ ...ids, log: silent });
bench("context: ctx.child(name)", { group: "context" }, () => {
  sink = root.child("op");
});
bench(
  "context: ctx.child(name) + read its span id",
  { group: "context" },
  () => {
    sink = root.child("op").spanId;
  },
);

// --- DI ----------------------------------------------------------------------------------
interface Store {
  get(ctx: KrepisContext, k: string): number | undefined;
  set(ctx: KrepisContext, k: string, v: number): void;
}
const StorePort = definePort<Store>("store", { writes: ["set"] });
const UowPort = definePort<{ commit(ctx: KrepisContext): void }>("uow", {
  writes: ["commit"],
});
const store = new Map<string, number>();
const container = new Container([
  provide(StorePort, {
    get: (_ctx, k) => store.get(k),
    set: (_ctx, k, v) => void store.set(k, v),
  }),
  provide(UowPort, () => ({ commit() {} }), { lifetime: "scoped" }),
], root);
container.get(StorePort);
bench("di: resolve singleton", { group: "di" }, () => {
  sink = container.get(StorePort);
});
bench(
  "di: open scope + resolve scoped (new instance)",
  { group: "di" },
  () => {
    sink = container.scope(root).get(UowPort);
  },
);

// --- dispatch ----------------------------------------------------------------------------
const Input = PutInput;
const put = defineCommand({
  name: "put",
  input: Input,
  deps: { store: StorePort },
  handle(ctx, input, deps) {
    deps.store.set(ctx, input.key, input.value);
    return ok({ stored: input.key });
  },
});
const appFor = (log: LogSink, behaviors?: Behavior[], traceHeaders = true) =>
  createApp({
    log,
    behaviors,
    traceHeaders,
    adapters: [
      provide(StorePort, {
        get: (_ctx, k) => store.get(k),
        set: (_ctx, k, v) => void store.set(k, v),
      }),
    ],
    commands: [put],
    routes: [route("POST", "/put", put)],
  });
const quiet = appFor(silent);
const logging = appFor(discard);
// Responses without `traceparent`/`x-request-id`: the same response shape as the Hono route.
const quietUntraced = appFor(silent, undefined, false);
const input = { key: "k", value: 1 };
bench("dispatch: direct handler call (no framework)", {
  group: "dispatch",
  baseline: true,
}, async () => {
  const parsed = Input.parse(input);
  store.set(parsed.key, parsed.value);
  sink = await Promise.resolve({ stored: parsed.key });
});
bench("dispatch: app.execute, full pipeline, logs off", {
  group: "dispatch",
}, async () => {
  sink = await quiet.execute(
    createContext({ ...ids, signal, log: silent }),
    put,
    input,
  );
});
bench("dispatch: app.execute, full pipeline, info log per op", {
  group: "dispatch",
}, async () => {
  sink = await logging.execute(
    createContext({ ...ids, signal, log: discard }),
    put,
    input,
  );
});

// Where the pipeline's time goes: each default behavior alone, and none.
for (
  const [name, behaviors] of [
    ["no behaviors", []],
    ["errors only", [errors()]],
    ["tracing only", [tracing()]],
    ["timeout only", [timeout()]],
  ] as const
) {
  const app = appFor(silent, [...behaviors]);
  bench(`pipeline: ${name}`, { group: "pipeline" }, async () => {
    sink = await app.execute(
      createContext({ ...ids, signal, log: silent }),
      put,
      input,
    );
  });
}

// --- Response: ways to build a JSON response with per-request trace headers -------------
// What `app.fetch` answers with (`respond` in app/http_handler.ts): the same status, body,
// header names and values (fresh per request, as the trace ids are), built through
// Deno's public `Response`/`Headers` API in each way it offers, then read with `text()`.
const JSON_TYPE = "application/json; charset=utf-8";
const jsonBody = JSON.stringify({ stored: "k" });
let spanCounter = 0;
/** A fresh traceparent and request id, as each request has. */
const traceValues = (): [string, string] => {
  const span = (spanCounter++ & 0xffff).toString(16).padStart(16, "0");
  return [
    `00-${ids.traceId}-${span}-01`,
    `${ids.requestId.slice(0, 32)}${span.slice(12)}`,
  ];
};
const jsonValue = { stored: "k" };
const jsonOnly = new Headers({ "content-type": JSON_TYPE });
const jsonRecord = { "content-type": JSON_TYPE };
const plainJson = { "content-type": "application/json" };
for (
  const [name, make] of [
    ["Response(body), set + 2× append (used)", () => {
      const [tp, id] = traceValues();
      const res = new Response(jsonBody);
      const headers = res.headers;
      headers.set("content-type", JSON_TYPE);
      headers.append("traceparent", tp);
      headers.append("x-request-id", id);
      return res;
    }],
    ["init Headers(content type), 2× append", () => {
      const [tp, id] = traceValues();
      const res = new Response(jsonBody, { headers: jsonOnly });
      res.headers.append("traceparent", tp);
      res.headers.append("x-request-id", id);
      return res;
    }],
    ["init object with the three", () => {
      const [tp, id] = traceValues();
      return new Response(jsonBody, {
        headers: {
          "content-type": JSON_TYPE,
          traceparent: tp,
          "x-request-id": id,
        },
      });
    }],
    ["init array of the three pairs", () => {
      const [tp, id] = traceValues();
      return new Response(jsonBody, {
        headers: [["content-type", JSON_TYPE], ["traceparent", tp], [
          "x-request-id",
          id,
        ]],
      });
    }],
    ["init new Headers, 3× append", () => {
      const [tp, id] = traceValues();
      const headers = new Headers();
      headers.append("content-type", JSON_TYPE);
      headers.append("traceparent", tp);
      headers.append("x-request-id", id);
      return new Response(jsonBody, { headers });
    }],
    ["Response.json(value), set + 2× append", () => {
      const [tp, id] = traceValues();
      const res = Response.json(jsonValue);
      const headers = res.headers;
      headers.set("content-type", JSON_TYPE);
      headers.append("traceparent", tp);
      headers.append("x-request-id", id);
      return res;
    }],
    ["init record(content type), 2× append", () => {
      const [tp, id] = traceValues();
      const res = new Response(jsonBody, { headers: jsonRecord });
      res.headers.append("traceparent", tp);
      res.headers.append("x-request-id", id);
      return res;
    }],
    // Deno copies a content type of exactly `application/json` unchecked and keeps the
    // string body on its static path; with `; charset=utf-8` it takes the general one.
    ["init {content-type: application/json}, 2× append", () => {
      const [tp, id] = traceValues();
      const res = new Response(jsonBody, { headers: plainJson });
      res.headers.append("traceparent", tp);
      res.headers.append("x-request-id", id);
      return res;
    }],
    ["content type only (no trace headers)", () => {
      sink = traceValues();
      return new Response(jsonBody, { headers: jsonOnly });
    }],
  ] as const
) {
  bench(`response: ${name}`, { group: "response" }, async () => {
    sink = await make().text();
  });
}

// --- HTTP handler: Krepis route vs hand-written Hono route --------------------------------
const hono = honoPut(store);
const honoWithId = honoPut(store, true);
const request = putRequest;
// What every handler pays before any framework runs: building the Request and a JSON
// Response (both routes below include it).
bench("http parts: new Request + text() + JSON Response", {
  group: "http parts",
}, async () => {
  const req = request();
  sink = await new Response(await req.text(), {
    headers: { "content-type": "application/json" },
  }).text();
});
bench("http: Hono route, same zod schema", {
  group: "http",
  baseline: true,
}, async () => {
  sink = await (await hono.fetch(request())).text();
});
bench("http: Hono route + requestId middleware", {
  group: "http",
  peer: true,
}, async () => {
  sink = await (await honoWithId.fetch(request())).text();
});
bench("http: Krepis app.fetch, logs off", { group: "http" }, async () => {
  sink = await (await quiet.fetch(request())).text();
});
bench(
  "http: Krepis app.fetch, logs off, traceHeaders: false",
  { group: "http" },
  async () => {
    sink = await (await quietUntraced.fetch(request())).text();
  },
);
bench(
  "http: Krepis app.fetch, info log per op",
  { group: "http" },
  async () => {
    sink = await (await logging.fetch(request())).text();
  },
);

// --- runner --------------------------------------------------------------------------------
const rounds = Number(Deno.env.get("BENCH_RUNS") ?? 21);
const roundMs = Number(Deno.env.get("BENCH_ROUND_MS") ?? 100);

/** CPU microseconds (all threads) spent running `fn` `n` times. */
async function cpuOf(fn: () => unknown, n: number): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const r = fn();
    if (r instanceof Promise) await r;
  }
  const used = process.cpuUsage(start);
  return used.user + used.system;
}

// BENCH_FILTER (a regular expression) keeps only the cases whose name matches.
const filter = new RegExp(Deno.env.get("BENCH_FILTER") ?? "");
cases.splice(0, cases.length, ...cases.filter((c) => filter.test(c.name)));

// Warm up each case (JIT tiers) and size its rounds from the warm-up's speed.
const iterations = new Map<Case, number>();
for (const c of cases) {
  let n = 100;
  let us = await cpuOf(c.fn, n);
  while (us < 20_000) {
    n *= 2;
    us = await cpuOf(c.fn, n);
  }
  iterations.set(c, Math.max(100, Math.round((n * roundMs * 1000) / us)));
}
// Within a round a group's cases take turns in BENCH_SLICES (default 10) short slices each
// (the groups, and the order inside each, rotating from round to round), so a case and its
// baseline meet the same machine load and share the garbage collections their slices set
// off; a ratio is the median of the per-round ratios, which swings far less on a shared
// machine than the ratio of two medians taken at different times.
const slices = Number(Deno.env.get("BENCH_SLICES") ?? 10);
const groups = [...new Set(cases.map((c) => c.group))].map((group) =>
  cases.filter((c) => c.group === group)
);
const samples = new Map<Case, number[]>(cases.map((c) => [c, []]));
for (let r = 0; r < rounds; r++) {
  for (let g = 0; g < groups.length; g++) {
    const members = groups[(g + r) % groups.length];
    const order = members.map((_, i) => members[(i + r) % members.length]);
    const used = new Map<Case, number>(members.map((c) => [c, 0]));
    for (let s = 0; s < slices; s++) {
      for (const c of order) {
        const n = Math.ceil(iterations.get(c)! / slices);
        used.set(c, used.get(c)! + (await cpuOf(c.fn, n)) * 1000 / n);
      }
    }
    for (const c of members) samples.get(c)!.push(used.get(c)! / slices);
  }
  if (Deno.stderr.isTerminal()) {
    Deno.stderr.writeSync(
      new TextEncoder().encode(`\rround ${r + 1}/${rounds}`),
    );
  }
}
if (Deno.stderr.isTerminal()) {
  Deno.stderr.writeSync(new TextEncoder().encode("\n"));
}

/** The `q` quantile of `xs` (linear between neighbours). */
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (at - lo);
};
const fmt = (ns: number) =>
  ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`;
console.log(
  `CPU time per operation, median of ${rounds} rounds (min–max in brackets); ` +
    `ratio: median of the per-round ratios (middle half in brackets)`,
);
/** The median of `xs`' per-round ratios to `refs`, with their middle half. */
const ratioTo = (xs: number[], refs: number[]) => {
  const ratios = xs.map((x, r) => x / refs[r]);
  return `${quantile(ratios, 0.5).toFixed(2)}× [${
    quantile(ratios, 0.25).toFixed(2)
  }–${quantile(ratios, 0.75).toFixed(2)}]`;
};
for (const members of groups) {
  const base = members.find((c) => c.baseline) ?? members[0];
  const peer = members.find((c) => c.peer);
  console.log(`\n## ${members[0].group}`);
  if (peer) console.log(`(second ratio: to "${peer.name}")`);
  for (const c of members) {
    const xs = samples.get(c)!;
    let ratio = c === base ? "baseline" : ratioTo(xs, samples.get(base)!);
    if (peer && c !== base) {
      ratio += c === peer ? "  (peer)" : `  ${ratioTo(xs, samples.get(peer)!)}`;
    }
    console.log(
      `${c.name.padEnd(56)} ${fmt(quantile(xs, 0.5)).padStart(9)}  ` +
        `[${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}]  ${ratio}`,
    );
  }
}

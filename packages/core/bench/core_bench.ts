/**
 * Framework overhead: context creation, DI resolution, command dispatch through the full
 * pipeline, and the same JSON endpoint as a Krepis route versus a hand-written Hono route.
 * Run with `deno task bench:core`.
 *
 * @module
 */

import { Hono } from "hono";
import { z } from "zod";
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

// --- context -----------------------------------------------------------------------------
Deno.bench(
  "context: createContext with the kernel's ids",
  { group: "context" },
  () => {
    sink = createContext({ ...ids, deadline: 1e13, signal, log: silent });
  },
);
const root = createContext({ ...ids, log: silent });
Deno.bench("context: ctx.child(name)", { group: "context" }, () => {
  sink = root.child("op");
});
Deno.bench(
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
Deno.bench("di: resolve singleton", { group: "di" }, () => {
  sink = container.get(StorePort);
});
Deno.bench(
  "di: open scope + resolve scoped (new instance)",
  { group: "di" },
  () => {
    sink = container.scope(root).get(UowPort);
  },
);

// --- dispatch ----------------------------------------------------------------------------
const Input = z.object({ key: z.string(), value: z.number() });
const put = defineCommand({
  name: "put",
  input: Input,
  deps: { store: StorePort },
  handle(ctx, input, deps) {
    deps.store.set(ctx, input.key, input.value);
    return ok({ stored: input.key });
  },
});
const appFor = (log: LogSink, behaviors?: Behavior[]) =>
  createApp({
    log,
    behaviors,
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
const input = { key: "k", value: 1 };
Deno.bench("dispatch: direct handler call (no framework)", {
  group: "dispatch",
  baseline: true,
}, async () => {
  const parsed = Input.parse(input);
  store.set(parsed.key, parsed.value);
  sink = await Promise.resolve({ stored: parsed.key });
});
Deno.bench("dispatch: app.execute, full pipeline, logs off", {
  group: "dispatch",
}, async () => {
  sink = await quiet.execute(
    createContext({ ...ids, signal, log: silent }),
    put,
    input,
  );
});
Deno.bench("dispatch: app.execute, full pipeline, info log per op", {
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
  Deno.bench(`pipeline: ${name}`, { group: "pipeline" }, async () => {
    sink = await app.execute(
      createContext({ ...ids, signal, log: silent }),
      put,
      input,
    );
  });
}

// --- HTTP handler: Krepis route vs hand-written Hono route --------------------------------
const hono = new Hono();
hono.post("/put", async (c) => {
  const parsed = Input.safeParse(await c.req.json());
  if (!parsed.success) return c.json({ error: parsed.error.issues }, 400);
  store.set(parsed.data.key, parsed.data.value);
  return c.json({ stored: parsed.data.key });
});
const body = JSON.stringify(input);
const request = () =>
  new Request("http://localhost/put", {
    method: "POST",
    body,
    headers: {
      "content-type": "application/json",
      traceparent: `00-${ids.traceId}-${ids.spanId}-01`,
    },
  });
// What every handler pays before any framework runs: building the Request and a JSON
// Response (both routes below include it).
Deno.bench("http parts: new Request + text() + JSON Response", {
  group: "http parts",
}, async () => {
  const req = request();
  sink = await new Response(await req.text(), {
    headers: { "content-type": "application/json" },
  }).text();
});
Deno.bench("http: Hono route (hand-written validation)", {
  group: "http",
  baseline: true,
}, async () => {
  sink = await (await hono.fetch(request())).text();
});
Deno.bench("http: Krepis app.fetch, logs off", { group: "http" }, async () => {
  sink = await (await quiet.fetch(request())).text();
});
Deno.bench(
  "http: Krepis app.fetch, info log per op",
  { group: "http" },
  async () => {
    sink = await (await logging.fetch(request())).text();
  },
);

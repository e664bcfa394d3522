/**
 * `deno task bench:http:js`: the TypeScript side of `serve()` alone, per request.
 *
 * The real `KernelServer` runs on a stand-in kernel: its inbox and outbox are ordinary
 * memory here, each `httpTurn` checks and counts the response records submitted with it and
 * hands over the next batch of request records (encoded with the generated layout), and
 * `httpRespond` (responses finished while the loop is parked) is checked the same way. So everything between
 * the kernel's records and the kernel's records — record decoding, the `Request`, the
 * handler, reading its `Response`, encoding the response record — is measured, and nothing
 * else (no sockets, no kernel thread). Each scenario is measured `BENCH_RUNS` times
 * (default 5, `BENCH_REQUESTS` requests each), alternating; the table shows medians of CPU
 * ns per request (user + system of this process; the figure to read on a loaded machine)
 * and wall ns per request. The peer is the same handler called with a `Request` made by
 * `new Request(url, { method, headers, body })`, its `Response` read through `headers` and
 * `bytes()` — what a plain bridge would do. `BENCH_PEER=0` skips the peer and `BENCH_ONLY=text`
 * keeps the scenarios whose name has `text`, e.g. for `deno run -A --cpu-prof` of one path.
 *
 * @module
 */

import { create, toBinary } from "@bufbuild/protobuf";
import {
  AT_FLAGS,
  AT_ID,
  AT_KIND,
  AT_LEN,
  FLAG_ASCII,
  FLAG_BODY_BUFFERED,
  KIND_REQUEST,
  KIND_RESPOND,
  REQ_BODY_ADDR,
  REQ_BODY_LEN,
  REQ_COUNT,
  REQ_IP_LEN,
  REQ_METHOD_LEN,
  REQ_PARENT_LEN,
  REQ_PORT,
  REQ_REQUEST_ID_LEN,
  REQ_TEXT_LEN,
  REQ_URL_LEN,
  REQUEST_FIXED,
  RES_STATUS,
  ServerAddressSchema,
} from "@krepis/bindings";
import { cpuUsage } from "node:process";
import { KernelServer } from "../src/http/server.ts";
import type { LoadedKernel } from "../src/native/loader.ts";
import type { AnswerHandler } from "../src/http/response.ts";
import type { ServeHandler } from "../src/http/types.ts";
import { handler as benchHandler } from "../../../bench/http/handler.ts";
import { kernelHandlerOf } from "../src/app/create_app.ts";
import type { LogSink } from "../src/context/logger.ts";
import { createTodoApp } from "../../../examples/todo/src/app.ts";
import { createTodoCommand } from "../../../examples/todo/src/application/commands/todo_commands.ts";
import { app as hono, seededId } from "./servers/todo_hono_app.ts";

const runs = Number(Deno.env.get("BENCH_RUNS") ?? 5);
const REQUESTS = Number(Deno.env.get("BENCH_REQUESTS") ?? 200_000);
/** 0 skips the peer (for `--cpu-prof` of the Krepis path alone). */
const withPeer = Deno.env.get("BENCH_PEER") !== "0";
/** Scenario names containing this (default: all). */
const only = Deno.env.get("BENCH_ONLY") ?? "";
const BATCH = 64;
const encoder = new TextEncoder();

interface Scenario {
  name: string;
  method: string;
  path: string;
  headers: [string, string][];
  body?: Uint8Array;
  handler: AnswerHandler;
  /** The peer's handler (default: `handler`, then a `ServeHandler`). */
  peer?: (req: Request) => Response | Promise<Response>;
  /** The peer's path (default: `path`). */
  peerPath?: string;
  /** What one response must contain (checked on the first batch). */
  expect: string;
  /** The status every response must have (default 200). */
  status?: number;
}

// The todo example as `bench/http/run.ts` serves it (`servers/todo_app.ts`: logs at `warn`),
// through the handler `app.serve` gives the kernel; its peer is the same API in Hono.
const warn: LogSink = { level: "warn", write: (line) => console.error(line) };
const todoApp = createTodoApp({ log: warn });
const seeded = await todoApp.execute(
  todoApp.context({ log: warn }),
  createTodoCommand,
  { title: "seed" },
);
if (!seeded.ok) throw seeded.error;
const todoHandler = kernelHandlerOf(todoApp)!;
// The same app without `traceparent`/`x-request-id` on its answers, to price them.
const untracedApp = createTodoApp({ log: warn, traceHeaders: false });
const untraced = await untracedApp.execute(
  untracedApp.context({ log: warn }),
  createTodoCommand,
  { title: "seed" },
);
if (!untraced.ok) throw untraced.error;
const WRK_POST: [string, string][] = [
  ["host", "127.0.0.1:8000"],
  ["content-length", "17"],
  ["content-type", "application/json"],
];

const BROWSER: [string, string][] = [
  ["host", "127.0.0.1:8000"],
  ["user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101"],
  ["accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"],
  ["accept-language", "en-US,en;q=0.5"],
  ["accept-encoding", "gzip, deflate, br, zstd"],
  ["connection", "keep-alive"],
  ["cookie", "session=0123456789abcdef; theme=dark"],
  ["upgrade-insecure-requests", "1"],
  ["sec-fetch-dest", "document"],
  ["sec-fetch-mode", "navigate"],
  ["sec-fetch-site", "none"],
  ["priority", "u=0, i"],
];

const allScenarios: Scenario[] = [
  {
    name: "hello (wrk: GET /, Host only; bench handler)",
    method: "GET",
    path: "/",
    headers: [["host", "127.0.0.1:8000"]],
    handler: benchHandler,
    expect: "Hello, World!",
  },
  {
    name: "browser GET (12 headers), Response.json + 1 header",
    method: "GET",
    path: "/api/items/42?x=1",
    headers: BROWSER,
    handler: (req) =>
      Response.json(
        {
          path: new URL(req.url).pathname,
          lang: req.headers.get("accept-language"),
        },
        { headers: { "cache-control": "no-store" } },
      ),
    expect: '"lang":"en-US,en;q=0.5"',
  },
  {
    name: "JSON echo (POST 1 KiB, bench handler)",
    method: "POST",
    path: "/echo",
    headers: [
      ["host", "127.0.0.1:8000"],
      ["content-type", "application/json"],
      ["content-length", "1024"],
    ],
    body: encoder.encode(
      JSON.stringify({ data: "x".repeat(1024 - 11) }),
    ),
    handler: benchHandler,
    expect: '{"data":"xxx',
  },
  {
    name: "todo GET /todos/:id (wrk: Host only; Hono peer)",
    method: "GET",
    path: `/todos/${seeded.value.id}`,
    headers: [["host", "127.0.0.1:8000"]],
    handler: todoHandler,
    peer: hono.fetch,
    peerPath: `/todos/${seededId}`, // its own seeded todo: the same lookup and answer
    expect: '"title":"seed"',
  },
  {
    name: "todo GET /todos/:id, traceHeaders: false (Hono peer)",
    method: "GET",
    path: `/todos/${untraced.value.id}`,
    headers: [["host", "127.0.0.1:8000"]],
    handler: kernelHandlerOf(untracedApp)!,
    peer: hono.fetch,
    peerPath: `/todos/${seededId}`,
    expect: '"title":"seed"',
  },
  {
    name: "todo POST /todos (wrk's 17-byte JSON; Hono peer)",
    method: "POST",
    path: "/todos",
    headers: WRK_POST,
    body: encoder.encode('{"title":"bench"}'),
    handler: todoHandler,
    peer: hono.fetch,
    expect: '"title":"bench"',
    status: 201,
  },
];

const scenarios = allScenarios.filter((s) => s.name.includes(only));

function address(buffer: ArrayBuffer): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buffer)));
}

/** Encodes one request record (the kernel's `encode_request`, in TypeScript). */
function encodeRequest(
  s: Scenario,
  id: number,
  bodyAddr: number,
): Uint8Array {
  const ids = "0123456789abcdef".repeat(4); // request id, trace id, span id
  const parts = [s.method, `http://127.0.0.1:8000${s.path}`, "127.0.0.1", ids];
  for (let i = 0; i < s.headers.length; i++) parts.push(...s.headers[i]);
  const text = encoder.encode(parts.join(""));
  const table = s.headers.length * 8;
  const len = (REQUEST_FIXED + table + text.length + 7) & ~7;
  const out = new Uint8Array(len);
  const view = new DataView(out.buffer);
  view.setUint32(AT_LEN, len, true);
  out[AT_KIND] = KIND_REQUEST;
  out[AT_FLAGS] = FLAG_ASCII | (s.body ? FLAG_BODY_BUFFERED : 0);
  view.setUint16(REQ_COUNT, s.headers.length, true);
  view.setFloat64(AT_ID, id, true);
  view.setFloat64(REQ_BODY_ADDR, bodyAddr, true);
  view.setFloat64(REQ_BODY_LEN, s.body?.length ?? 0, true);
  view.setUint32(REQ_URL_LEN, encoder.encode(parts[1]).length, true);
  view.setUint16(REQ_METHOD_LEN, s.method.length, true);
  view.setUint16(REQ_IP_LEN, parts[2].length, true);
  view.setUint16(REQ_PORT, 40000, true);
  out[REQ_PARENT_LEN] = 0;
  out[REQ_REQUEST_ID_LEN] = 16;
  view.setUint32(REQ_TEXT_LEN, text.length, true);
  s.headers.forEach(([name, value], i) => {
    view.setUint32(REQUEST_FIXED + i * 8, name.length, true);
    view.setUint32(REQUEST_FIXED + i * 8 + 4, value.length, true);
  });
  out.set(text, REQUEST_FIXED + table);
  return out;
}

/** Runs `total` requests of `s` through a `KernelServer`; returns ns/request (wall, CPU). */
async function measure(
  s: Scenario,
  total: number,
): Promise<{ wall: number; cpu: number }> {
  const inbox = new ArrayBuffer(1 << 20);
  const outbox = new ArrayBuffer(1 << 20);
  const bodies = new ArrayBuffer(Math.max(8, (s.body?.length ?? 0) * BATCH));
  const bodyBase = Number(address(bodies));
  const inBytes = new Uint8Array(inbox);
  const outBytes = new Uint8Array(outbox);
  const outView = new DataView(outbox);
  let filled = 0;
  const records: number[] = [];
  for (let i = 0; i < BATCH; i++) {
    const at = bodyBase + i * (s.body?.length ?? 0);
    if (s.body) new Uint8Array(bodies).set(s.body, at - bodyBase);
    const record = encodeRequest(s, i + 1, at);
    inBytes.set(record, filled);
    records.push(filled);
    filled += record.length;
  }
  const inView = new DataView(inbox);
  const batches = Math.ceil(total / BATCH);
  let polled = 0;
  let answered = 0;
  let checked = false;
  const decoder = new TextDecoder();
  const bindings = {
    httpAddress: (_: number, buf: Uint8Array) => {
      const bytes = toBinary(
        ServerAddressSchema,
        create(ServerAddressSchema, { hostname: "127.0.0.1", port: 8000 }),
      );
      if (bytes.length <= buf.length) buf.set(bytes);
      return bytes.length;
    },
    httpTurn: (_: number, len: number) => {
      respond(len);
      if (polled === batches) return 0;
      // Fresh ids for every batch, as the kernel gives them: a generation above a slot
      // number, the slots reused once their responses are in.
      for (let i = 0; i < records.length; i++) {
        inView.setFloat64(records[i] + AT_ID, (polled + 1) * 2 ** 32 + i, true);
      }
      polled++;
      return filled;
    },
    httpWait: async () => {
      if (polled < batches) return 1;
      // The end: let responses still on their way (awaiting handlers) come in first.
      while (answered < batches * BATCH) {
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      return 0;
    },
    httpRespond: (_: number, len: number) => respond(len),
    httpShutdown: () => 0,
    httpClose: () => 0,
  };
  function respond(len: number): number {
    let at = 0;
    while (at < len) {
      const n = outView.getUint32(at + AT_LEN, true);
      if (
        outBytes[at + AT_KIND] !== KIND_RESPOND ||
        outView.getUint16(at + RES_STATUS, true) !== (s.status ?? 200)
      ) {
        throw new Error(`${s.name}: unexpected response record`);
      }
      if (!checked) {
        const text = decoder.decode(outBytes.subarray(at, at + n));
        if (!text.includes(s.expect)) {
          throw new Error(`${s.name}: response lacks ${s.expect}: ${text}`);
        }
        checked = true;
      }
      answered++;
      at += n;
    }
    return 0;
  }
  const kernel = { bindings } as unknown as LoadedKernel;
  const layout = {
    handle: 1n,
    key: 1n,
    inboxes: [address(inbox)],
    inboxSize: BigInt(inbox.byteLength),
    outbox: address(outbox),
    outboxSize: BigInt(outbox.byteLength),
  };
  const cpu0 = cpuUsage();
  const t0 = performance.now();
  const server = new KernelServer(
    kernel,
    layout as never,
    s.handler,
    (error) => {
      throw error;
    },
  );
  await server.finished;
  const wall = performance.now() - t0;
  const cpu = cpuUsage(cpu0);
  const done = batches * BATCH;
  if (answered !== done) {
    throw new Error(`${s.name}: ${answered} of ${done} answered`);
  }
  return {
    wall: (wall * 1e6) / done,
    cpu: ((cpu.user + cpu.system) * 1e3) / done,
  };
}

/** The peer: the same handler with a `Request` from `new Request(url, { headers })`. */
async function peer(
  s: Scenario,
  total: number,
): Promise<{ wall: number; cpu: number }> {
  const url = `http://127.0.0.1:8000${s.peerPath ?? s.path}`;
  const info = {
    remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 40000 },
  } as never;
  const cpu0 = cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const req = new Request(url, {
      method: s.method,
      headers: s.headers,
      body: s.body ? s.body.slice() : null,
    });
    // Scenarios without a peer of their own run a plain `ServeHandler`.
    const res = await (s.peer ?? s.handler as ServeHandler)(req, info);
    // What a plain bridge then reads: status, the headers, the body bytes.
    res.headers.forEach(() => {});
    await res.bytes();
  }
  const wall = performance.now() - t0;
  const cpu = cpuUsage(cpu0);
  return {
    wall: (wall * 1e6) / total,
    cpu: ((cpu.user + cpu.system) * 1e3) / total,
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
};

// Warm up every path once, so the first round is not a JIT measurement.
for (const s of scenarios) {
  await measure(s, BATCH * 200);
  if (withPeer) await peer(s, 2000);
}
const results = scenarios.map(() => ({
  wall: [] as number[],
  cpu: [] as number[],
  peerWall: [] as number[],
  peerCpu: [] as number[],
}));
for (let round = 0; round < runs; round++) {
  for (let i = 0; i < scenarios.length; i++) {
    const m = await measure(scenarios[i], REQUESTS);
    results[i].wall.push(m.wall);
    results[i].cpu.push(m.cpu);
    const p = withPeer
      ? await peer(scenarios[i], REQUESTS / 4)
      : { wall: NaN, cpu: NaN };
    results[i].peerWall.push(p.wall);
    results[i].peerCpu.push(p.cpu);
  }
  if (Deno.stderr.isTerminal()) {
    console.error(`round ${round + 1}/${runs} done`);
  }
}
console.log(
  `TypeScript side of serve(), per request (${REQUESTS} requests × ${runs} rounds, medians)\n`,
);
console.log(
  "| scenario | Krepis CPU ns/req | peer CPU ns/req | Krepis ÷ peer (CPU) | Krepis wall ns/req | peer wall ns/req |",
);
console.log("|---|---|---|---|---|---|");
for (let i = 0; i < scenarios.length; i++) {
  const r = results[i];
  const cpu = median(r.cpu);
  const peerCpu = median(r.peerCpu);
  console.log(
    `| ${scenarios[i].name} | ${cpu.toFixed(0)} | ${peerCpu.toFixed(0)} | ${
      (cpu / peerCpu).toFixed(2)
    }× | ${median(r.wall).toFixed(0)} | ${median(r.peerWall).toFixed(0)} |`,
  );
}

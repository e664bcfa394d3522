/**
 * `deno task bench:http`: every scenario of the HTTP performance issue in one run, printed as
 * one table — Krepis against `Deno.serve`, pure hyper (where it applies), pure `deno_http_h1`
 * (hello rows: hyper's Rust handler on the HTTP/1.1 connection `Deno.serve` uses), a
 * JavaScript file server on `Deno.serve` (static rows) and the todo API in Hono on
 * `Deno.serve` (app rows).
 *
 * Pinned pass: every server on CPU 0 (`taskset -c 0`), the load generator (wrk, h2load, and
 * for the 1 MiB responses `bulk_load`, `crates/krepis-kernel/examples/bulk_load.rs`: wrk
 * reads 8 KiB at a time and its core, not the server, capped those rows) on CPU 1; the servers take turns within each round and rounds alternate, so drift on a shared
 * machine spreads over all of them. Each cell is the median over rounds of req/s, p99 (wrk)
 * and the server's CPU time per request (utime + stime from `/proc/<pid>/stat`, all threads).
 * Then an unpinned pass: the same servers let onto both cores (`taskset -a -p`), the load
 * generator unpinned too.
 *
 * Environment: BENCH_SECONDS (default 2) per measurement, BENCH_RUNS (default 3) pinned
 * rounds, BENCH_UNPINNED_RUNS (default 1; 0 skips the pass), BENCH_ONLY (run only the
 * scenarios whose name contains it, or one of its `|`-separated parts, e.g. `todo app` or
 * `hello|JSON`), KREPIS_LIB_PATH (default: the release build).
 *
 * @module
 */

import { testCerts } from "../../packages/core/src/_certs.ts";
import {
  canPin,
  cpuSeconds,
  killAll,
  median,
  onCpu,
  spawnServer,
} from "../proc.ts";

const root = new URL("../../", import.meta.url).pathname;
const seconds = Number(Deno.env.get("BENCH_SECONDS") ?? 2);
const runs = Number(Deno.env.get("BENCH_RUNS") ?? 3);
const unpinnedRuns = Number(Deno.env.get("BENCH_UNPINNED_RUNS") ?? 1);
const library = Deno.env.get("KREPIS_LIB_PATH") ??
  `${root}target/release/libkrepis.so`;
const progress = Deno.stderr.isTerminal();

// --- fixtures -----------------------------------------------------------------------------
const work = await Deno.makeTempDir({ prefix: "krepis-bench-http-" });
const assets = `${work}/assets`;
await Deno.mkdir(assets);
await Deno.writeFile(`${assets}/4k.bin`, new Uint8Array(4096).fill(120));
await Deno.writeFile(`${assets}/1m.bin`, new Uint8Array(1 << 20).fill(120));
const certs = await testCerts();

function jsonBody(): string {
  const items = [];
  for (let i = 0; items.join(",").length < 960; i++) {
    items.push(`{"id":${i},"name":"item-${i}","ok":true}`);
  }
  return `{"items":[${items.join(",")}]}`;
}

// --- servers ------------------------------------------------------------------------------
interface Server {
  name: string;
  process: Deno.ChildProcess;
  port: number;
  tlsPort: number;
  todoId: string;
}

async function start(name: string, command: string[]): Promise<Server> {
  const { process, banner } = await spawnServer(
    name,
    onCpu(0, command),
    root,
    {
      KREPIS_LIB_PATH: library,
      BENCH_STATIC_DIR: assets,
      BENCH_TLS_CERT: `${certs.dir}/server.pem`,
      BENCH_TLS_KEY: `${certs.dir}/server.key`,
    },
  );
  return {
    name,
    process,
    port: Number(/PORT (\d+)/.exec(banner)![1]),
    tlsPort: Number(/TLSPORT (\d+)/.exec(banner)?.[1] ?? 0),
    todoId: /ID (\S+)/.exec(banner)?.[1] ?? "",
  };
}

const KREPIS = "Krepis";
const DENO = "Deno.serve";
const HYPER = "pure hyper";
const H1 = "pure deno_http_h1";
const JSFILES = "JS file server on Deno.serve";
const KAPP = "Krepis app (kernel)";
const HONO = "Hono on Deno.serve";

// --- scenarios ----------------------------------------------------------------------------
interface Load {
  /** `bulk`: `bulk_load`, for large responses (the same client for every server). */
  tool: "wrk" | "h2load" | "bulk";
  method?: "GET" | "POST";
  path: (s: Server) => string;
  connections: number;
  body?: string;
  contentType?: string;
  tls?: boolean;
}

interface Scenario {
  name: string;
  servers: string[];
  /** The peer Krepis is compared with first. */
  reference: string;
  load: Load;
}

const MIB = "x".repeat(1 << 20);
const allScenarios: Scenario[] = [
  {
    name: "hello (HTTP/1.1, 64 conns)",
    servers: [KREPIS, DENO, HYPER, H1],
    reference: DENO,
    load: { tool: "wrk", path: () => "/", connections: 64 },
  },
  {
    name: "1 KiB JSON echo",
    servers: [KREPIS, DENO, HYPER],
    reference: DENO,
    load: {
      tool: "wrk",
      method: "POST",
      path: () => "/echo",
      connections: 64,
      body: jsonBody(),
      contentType: "application/json",
    },
  },
  {
    name: "1 MiB upload (16 conns)",
    servers: [KREPIS, DENO, HYPER],
    reference: DENO,
    load: {
      tool: "wrk",
      method: "POST",
      path: () => "/upload",
      connections: 16,
      body: MIB,
      contentType: "application/octet-stream",
    },
  },
  {
    name: "1 MiB download (16 conns)",
    servers: [KREPIS, DENO, HYPER],
    reference: DENO,
    load: { tool: "bulk", path: () => "/download", connections: 16 },
  },
  {
    name: "h2c hello (h2load -c16 -m16)",
    servers: [KREPIS, DENO, HYPER],
    reference: DENO,
    load: { tool: "h2load", path: () => "/", connections: 16 },
  },
  {
    name: "TLS HTTP/1.1 hello (64 conns)",
    servers: [KREPIS, DENO, HYPER, H1],
    reference: DENO,
    load: { tool: "wrk", path: () => "/", connections: 64, tls: true },
  },
  {
    name: "static 4 KiB",
    servers: [KREPIS, JSFILES],
    reference: JSFILES,
    load: { tool: "wrk", path: () => "/assets/4k.bin", connections: 64 },
  },
  {
    name: "static 1 MiB (16 conns)",
    servers: [KREPIS, JSFILES],
    reference: JSFILES,
    load: { tool: "bulk", path: () => "/assets/1m.bin", connections: 16 },
  },
  {
    name: "static 1 MiB, sendfile mount",
    servers: [KREPIS, JSFILES],
    reference: JSFILES,
    load: {
      tool: "bulk",
      path: (s) => s.name === KREPIS ? "/sent/1m.bin" : "/assets/1m.bin",
      connections: 16,
    },
  },
  {
    name: "todo app: GET /todos/:id",
    servers: [KAPP, HONO],
    reference: HONO,
    load: { tool: "wrk", path: (s) => `/todos/${s.todoId}`, connections: 64 },
  },
  {
    name: "todo app: POST /todos",
    servers: [KAPP, HONO],
    reference: HONO,
    load: {
      tool: "wrk",
      method: "POST",
      path: () => "/todos",
      connections: 64,
      body: '{"title":"bench"}',
      contentType: "application/json",
    },
  },
];
const only = Deno.env.get("BENCH_ONLY");
const scenarios = allScenarios.filter((s) =>
  !only || only.split("|").some((part) => s.name.includes(part))
);

// --- measuring ----------------------------------------------------------------------------
interface Sample {
  rps: number;
  p99: number;
  cpuUs: number;
}

function ms(value: string): number {
  const m = /([\d.]+)(us|ms|s)\b/.exec(value);
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === "us" ? n / 1000 : m[2] === "s" ? n * 1000 : n;
}

async function luaFor(load: Load): Promise<string> {
  const script = `${work}/${crypto.randomUUID()}.lua`;
  const lua = [`wrk.method = "${load.method ?? "GET"}"`];
  if (load.body !== undefined) {
    await Deno.writeTextFile(`${script}.body`, load.body);
    lua.push(
      `local f = io.open("${script}.body", "rb")`,
      `wrk.body = f:read("*a")`,
      `f:close()`,
      `wrk.headers["Content-Type"] = "${load.contentType}"`,
    );
  }
  await Deno.writeTextFile(script, lua.join("\n") + "\n");
  return script;
}

async function generate(
  server: Server,
  load: Load,
  duration: number,
  pinned: boolean,
): Promise<{ requests: number; rps: number; p99: number }> {
  const base = load.tls
    ? `https://127.0.0.1:${server.tlsPort}`
    : `http://127.0.0.1:${server.port}`;
  const target = base + load.path(server);
  let command: string[];
  let script: string | undefined;
  if (load.tool === "bulk") {
    command = [
      `${root}target/release/examples/bulk_load`,
      String(load.connections),
      String(duration),
      target,
    ];
  } else if (load.tool === "h2load") {
    command = [
      "h2load",
      `-c${load.connections}`,
      "-m16",
      "-t1",
      `-D${duration}`,
      target,
    ];
  } else {
    script = await luaFor(load);
    command = [
      "wrk",
      "-t1",
      `-c${load.connections}`,
      `-d${duration}s`,
      "--latency",
      "-s",
      script,
      target,
    ];
  }
  command = onCpu(1, command, pinned);
  const out = await new Deno.Command(command[0], {
    args: command.slice(1),
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (script) {
    await Deno.remove(script);
    await Deno.remove(`${script}.body`).catch(() => {});
  }
  const text = new TextDecoder().decode(out.stdout);
  if (load.tool === "bulk" && !out.success) {
    throw new Error(
      `${server.name}: bulk_load failed: ${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
  if (load.tool === "h2load") {
    const done = Number(/(\d+) succeeded/.exec(text)?.[1] ?? 0);
    const failed = Number(/(\d+) failed/.exec(text)?.[1] ?? 0);
    if (failed > done / 100) {
      throw new Error(`${server.name}: h2load saw ${failed} failures`);
    }
    return {
      requests: done,
      rps: Number(
        /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(text)?.[1] ?? 0,
      ),
      p99: NaN, // h2load reports no percentiles
    };
  }
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  if (errors) throw new Error(`${server.name}: ${errors[1]} failed responses`);
  return {
    requests: Number(/(\d+) requests in/.exec(text)?.[1] ?? 0),
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? 0),
    p99: ms(/99%\s+(\S+)/.exec(text)?.[1] ?? ""),
  };
}

async function measure(
  server: Server,
  load: Load,
  pinned: boolean,
): Promise<Sample> {
  const pid = server.process.pid;
  const before = cpuSeconds(pid);
  const result = await generate(server, load, seconds, pinned);
  const used = cpuSeconds(pid) - before;
  return {
    rps: result.rps,
    p99: result.p99,
    cpuUs: result.requests ? (used * 1e6) / result.requests : NaN,
  };
}

function log(message: string): void {
  if (progress) console.error(message);
}

async function affinity(server: Server, cpus: string): Promise<void> {
  const out = await new Deno.Command("taskset", {
    args: ["-a", "-p", "-c", cpus, String(server.process.pid)],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `taskset ${server.name}: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
}

// --- the run ------------------------------------------------------------------------------
const servers = new Map<string, Server>();
const pinnedSamples = new Map<string, Sample[]>();
const freeSamples = new Map<string, Sample[]>();
const key = (scenario: string, server: string) => `${scenario}\t${server}`;
const add = (into: Map<string, Sample[]>, k: string, sample: Sample) =>
  into.set(k, [...(into.get(k) ?? []), sample]);

try {
  const deno = Deno.execPath();
  const starts: [string, string[]][] = [
    [KREPIS, [deno, "run", "-A", "bench/http/krepis_server.ts"]],
    [DENO, [deno, "run", "-A", "bench/http/deno_server.ts"]],
    [HYPER, [`${root}target/release/examples/hyper_bench`]],
    [H1, [`${root}target/release/examples/h1_bench`]],
    [JSFILES, [deno, "run", "-A", "bench/http/js_file_server.ts"]],
    [KAPP, [
      deno,
      "run",
      "-A",
      "packages/core/bench/servers/todo_app.ts",
      "kernel",
    ]],
    [HONO, [deno, "run", "-A", "packages/core/bench/servers/todo_hono.ts"]],
  ];
  for (const [name, command] of starts) {
    if (!scenarios.some((s) => s.servers.includes(name))) continue;
    servers.set(name, await start(name, command));
  }
  for (const scenario of scenarios) {
    for (const name of scenario.servers) {
      log(`warm-up: ${scenario.name} on ${name}`);
      await generate(servers.get(name)!, scenario.load, 1, canPin);
    }
  }
  const pass = async (
    rounds: number,
    pinned: boolean,
    into: Map<string, Sample[]>,
  ) => {
    for (let round = 0; round < rounds; round++) {
      for (const scenario of scenarios) {
        // Alternate the order within each round as well.
        const order = round % 2
          ? [...scenario.servers].reverse()
          : scenario.servers;
        for (const name of order) {
          log(
            `${pinned ? "pinned" : "unpinned"} round ${
              round + 1
            }/${rounds}: ${scenario.name} on ${name}`,
          );
          add(
            into,
            key(scenario.name, name),
            await measure(servers.get(name)!, scenario.load, pinned),
          );
        }
      }
    }
  };
  await pass(runs, canPin, pinnedSamples);
  if (canPin && unpinnedRuns > 0) {
    for (const server of servers.values()) await affinity(server, "0-1");
    await pass(unpinnedRuns, false, freeSamples);
  }
} finally {
  await killAll(servers.values());
  await Deno.remove(work, { recursive: true });
}

// --- the table ----------------------------------------------------------------------------
const fixed = (n: number, digits = 1) =>
  Number.isFinite(n) ? n.toFixed(digits) : "-";
const medianOf = (samples: Sample[] | undefined): Sample => ({
  rps: median((samples ?? []).map((s) => s.rps)),
  p99: median((samples ?? []).map((s) => s.p99)),
  cpuUs: median((samples ?? []).map((s) => s.cpuUs)),
});

console.log(
  `HTTP benchmark (release build): ${runs} pinned round(s) x ${seconds}s` +
    (canPin
      ? `, servers on CPU 0 (taskset -c 0), load generator on CPU 1; unpinned: ${unpinnedRuns} round(s), both free`
      : " (one CPU: nothing pinned)") +
    ". Medians; CPU = server utime+stime per request.",
);
console.log("");
console.log(
  "| scenario | server | req/s | CPU µs/req | p99 ms | Krepis ÷ this: req/s | Krepis ÷ this: CPU | unpinned req/s | unpinned CPU µs/req |",
);
console.log("|---|---|---|---|---|---|---|---|---|");
for (const scenario of scenarios) {
  const mine = scenario.servers[0];
  const k = medianOf(pinnedSamples.get(key(scenario.name, mine)));
  for (const name of scenario.servers) {
    const m = medianOf(pinnedSamples.get(key(scenario.name, name)));
    const free = medianOf(freeSamples.get(key(scenario.name, name)));
    const ratios = name === mine
      ? ["", ""]
      : [`${fixed(k.rps / m.rps, 2)}×`, `${fixed(k.cpuUs / m.cpuUs, 2)}×`];
    console.log(
      `| ${name === mine ? scenario.name : ""} | ${name}${
        name === scenario.reference ? " (reference)" : ""
      } | ${fixed(m.rps, 0)} | ${fixed(m.cpuUs, 1)} | ${fixed(m.p99, 2)} | ${
        ratios.join(" | ")
      } | ${fixed(free.rps, 0)} | ${fixed(free.cpuUs, 1)} |`,
    );
  }
}

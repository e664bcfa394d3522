/**
 * `deno task bench:http`: Krepis `serve` vs `Deno.serve` vs pure hyper, in one run.
 *
 * Each server runs the same handler (bench/http/handler.ts; the Rust peer mirrors it),
 * pinned to CPU 0 while the load generator gets CPU 1. For each scenario it reports the
 * median over runs of req/s, p50/p99 latency (wrk) and the server's CPU time per request
 * (utime + stime from /proc/<pid>/stat before and after), then the ratios.
 *
 * Environment: BENCH_SECONDS (default 5) per measurement, BENCH_RUNS (default 3).
 *
 * @module
 */

const root = new URL("../../", import.meta.url).pathname;
const seconds = Number(Deno.env.get("BENCH_SECONDS") ?? 5);
const runs = Number(Deno.env.get("BENCH_RUNS") ?? 3);
const CLK_TCK = 100;
const pin = Deno.build.os === "linux" && navigator.hardwareConcurrency > 1;
const quiet = !Deno.stdout.isTerminal();

interface Server {
  name: string;
  process: Deno.ChildProcess;
  port: number;
}

interface Scenario {
  name: string;
  method: "GET" | "POST";
  path: string;
  connections: number;
  body?: string;
  contentType?: string;
}

interface Sample {
  rps: number;
  p50: number;
  p99: number;
  cpuUs: number;
}

function jsonBody(): string {
  const items = [];
  for (let i = 0; items.join(",").length < 960; i++) {
    items.push(`{"id":${i},"name":"item-${i}","ok":true}`);
  }
  return `{"items":[${items.join(",")}]}`;
}

const scenarios: Scenario[] = [
  { name: "hello world", method: "GET", path: "/", connections: 64 },
  {
    name: "1 KiB JSON echo",
    method: "POST",
    path: "/echo",
    connections: 64,
    body: jsonBody(),
    contentType: "application/json",
  },
  {
    name: "1 MiB upload",
    method: "POST",
    path: "/upload",
    connections: 16,
    body: "x".repeat(1 << 20),
    contentType: "application/octet-stream",
  },
  { name: "1 MiB download", method: "GET", path: "/download", connections: 16 },
];

async function start(
  name: string,
  command: string[],
  env: Record<string, string> = {},
): Promise<Server> {
  const args = pin ? ["taskset", "-c", "0", ...command] : command;
  const process = new Deno.Command(args[0], {
    args: args.slice(1),
    cwd: root,
    env,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = process.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  let seen = "";
  while (!/PORT (\d+)/.test(seen)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${name} exited before listening:\n${seen}`);
    seen += value;
  }
  // Keep draining so the server never blocks on a full pipe.
  (async () => {
    while (!(await reader.read()).done);
  })();
  return { name, process, port: Number(/PORT (\d+)/.exec(seen)![1]) };
}

function cpuTicks(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

function ms(value: string): number {
  const m = /([\d.]+)(us|ms|s)/.exec(value);
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === "us" ? n / 1000 : m[2] === "s" ? n * 1000 : n;
}

async function wrk(
  server: Server,
  scenario: Scenario,
  duration: number,
): Promise<{ requests: number; rps: number; p50: number; p99: number }> {
  const script = await Deno.makeTempFile({ suffix: ".lua" });
  const lua = [`wrk.method = "${scenario.method}"`];
  if (scenario.body !== undefined) {
    await Deno.writeTextFile(`${script}.body`, scenario.body);
    lua.push(
      `local f = io.open("${script}.body", "rb")`,
      `wrk.body = f:read("*a")`,
      `f:close()`,
      `wrk.headers["Content-Type"] = "${scenario.contentType}"`,
    );
  }
  await Deno.writeTextFile(script, lua.join("\n") + "\n");
  const args = [
    "-t1",
    `-c${scenario.connections}`,
    `-d${duration}s`,
    "--latency",
    "-s",
    script,
    `http://127.0.0.1:${server.port}${scenario.path}`,
  ];
  const command = pin
    ? ["taskset", "-c", "1", "wrk", ...args]
    : ["wrk", ...args];
  const out = await new Deno.Command(command[0], { args: command.slice(1) })
    .output();
  await Deno.remove(script);
  await Deno.remove(`${script}.body`).catch(() => {});
  const text = new TextDecoder().decode(out.stdout);
  const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? 0);
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  if (errors) throw new Error(`${server.name}: ${errors[1]} failed responses`);
  return {
    requests,
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? 0),
    p50: ms(/50%\s+(\S+)/.exec(text)?.[1] ?? ""),
    p99: ms(/99%\s+(\S+)/.exec(text)?.[1] ?? ""),
  };
}

async function measure(server: Server, scenario: Scenario): Promise<Sample> {
  const pid = server.process.pid;
  const before = cpuTicks(pid);
  const result = await wrk(server, scenario, seconds);
  const cpuSeconds = (cpuTicks(pid) - before) / CLK_TCK;
  return {
    rps: result.rps,
    p50: result.p50,
    p99: result.p99,
    cpuUs: result.requests ? (cpuSeconds * 1e6) / result.requests : NaN,
  };
}

async function h2load(server: Server): Promise<Sample> {
  const pid = server.process.pid;
  const before = cpuTicks(pid);
  const args = [
    "-c16",
    "-m16",
    "-t1",
    `-D${seconds}`,
    `http://127.0.0.1:${server.port}/`,
  ];
  const command = pin
    ? ["taskset", "-c", "1", "h2load", ...args]
    : ["h2load", ...args];
  const out = await new Deno.Command(command[0], { args: command.slice(1) })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  const cpuSeconds = (cpuTicks(pid) - before) / CLK_TCK;
  const succeeded = Number(/(\d+) succeeded/.exec(text)?.[1] ?? 0);
  const mean = /time for request:\s+\S+\s+\S+\s+(\S+)/.exec(text)?.[1] ?? "";
  return {
    rps: Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(text)?.[1] ?? 0),
    p50: ms(mean),
    p99: NaN,
    cpuUs: succeeded ? (cpuSeconds * 1e6) / succeeded : NaN,
  };
}

function median(values: number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function log(message: string): void {
  if (!quiet) console.error(message);
}

const servers = [
  await start(
    "krepis",
    ["deno", "run", "-A", "bench/http/krepis_server.ts"],
    { KREPIS_LIB_PATH: `${root}target/release/libkrepis.so` },
  ),
  await start("deno", ["deno", "run", "-A", "bench/http/deno_server.ts"]),
  await start("hyper", [`${root}target/release/examples/hyper_bench`]),
];

const results = new Map<string, Map<string, Sample[]>>();
const record = (scenario: string, server: string, sample: Sample) => {
  const byServer = results.get(scenario) ?? new Map<string, Sample[]>();
  results.set(scenario, byServer);
  byServer.set(server, [...(byServer.get(server) ?? []), sample]);
};

try {
  for (const scenario of scenarios) {
    for (const server of servers) await wrk(server, scenario, 1); // warm-up
  }
  for (let run = 1; run <= runs; run++) {
    for (const scenario of scenarios) {
      for (const server of servers) {
        log(`run ${run}/${runs}: ${scenario.name} on ${server.name}`);
        record(scenario.name, server.name, await measure(server, scenario));
      }
    }
    for (const server of servers) {
      log(`run ${run}/${runs}: HTTP/2 hello (h2load) on ${server.name}`);
      record("h2c hello (h2load)", server.name, await h2load(server));
    }
  }
} finally {
  for (const server of servers) {
    server.process.kill("SIGKILL");
    await server.process.status;
  }
}

const fixed = (n: number, digits = 1) =>
  Number.isNaN(n) ? "-" : n.toFixed(digits);
console.log(
  `HTTP benchmark: medians of ${runs} runs x ${seconds}s, server on CPU 0, load on CPU 1` +
    (pin ? "" : " (not pinned)"),
);
for (const [scenario, byServer] of results) {
  console.log(`\n## ${scenario}`);
  console.log(
    "server   req/s       p50 ms   p99 ms   CPU us/req",
  );
  const med = new Map<string, Sample>();
  for (const [server, samples] of byServer) {
    const m = {
      rps: median(samples.map((s) => s.rps)),
      p50: median(samples.map((s) => s.p50)),
      p99: median(samples.map((s) => s.p99)),
      cpuUs: median(samples.map((s) => s.cpuUs)),
    };
    med.set(server, m);
    console.log(
      `${server.padEnd(8)} ${fixed(m.rps, 0).padStart(9)}   ${
        fixed(m.p50, 2).padStart(6)
      }   ${fixed(m.p99, 2).padStart(6)}   ${fixed(m.cpuUs, 2).padStart(8)}`,
    );
  }
  const k = med.get("krepis")!;
  for (const peer of ["deno", "hyper"]) {
    const p = med.get(peer)!;
    console.log(
      `krepis/${peer}: throughput ${fixed(k.rps / p.rps, 2)}x, ` +
        `CPU per request ${fixed(k.cpuUs / p.cpuUs, 2)}x, ` +
        `p99 ${fixed(k.p99 / p.p99, 2)}x`,
    );
  }
}

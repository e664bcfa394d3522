/**
 * `deno task bench:ws`: WebSocket echo throughput, Krepis (`serve` + `upgradeWebSocket`)
 * against `Deno.serve` + `Deno.upgradeWebSocket`, printed as one table.
 *
 * Each server runs pinned to CPU 0 (`taskset -c 0`); the load client (`bench/ws/client.ts`,
 * Deno's `WebSocket`) runs pinned to CPU 1 with CONNECTIONS sockets, each keeping INFLIGHT
 * messages in flight, for two message sizes: 32 B text and 64 KiB binary. A message counts
 * only when its echo arrives intact (the client checks each one and fails the run
 * otherwise). The servers take turns within each round and rounds alternate the order.
 * Each cell is the median over rounds of messages/s and of the server's CPU time per
 * message (utime + stime of all its threads from `/proc/<pid>/stat`); the CPU % columns
 * (CPU seconds ÷ wall seconds of the run, 100 % = one core) and the waiting % columns (time
 * its threads were runnable but not on a CPU, from `/proc/<pid>/task/<tid>/schedstat`) show
 * which side was the bottleneck, or whether other load on the machine starved it.
 *
 * Environment: BENCH_RUNS (default 3) rounds, BENCH_SECONDS (default 2) per measurement,
 * BENCH_WS_CONNECTIONS (default 16), BENCH_WS_INFLIGHT (default 16), BENCH_WS_BINARY_BYTES
 * (the binary message's size, default 65536), KREPIS_LIB_PATH
 * (default: the release build). Servers listen on 127.0.0.1 and are killed at the end.
 *
 * A/B mode: BENCH_WS_AB="NAME=DIR:LIBRARY ..." runs one Krepis server per entry instead of
 * this tree's (DIR's `bench/ws/krepis_server.ts`, run in DIR, with LIBRARY), all taking
 * turns with `Deno.serve` in the same rounds; each gets its ratios to Deno. To compare a
 * branch with main:
 *
 *   git -C MAIN archive HEAD packages bindings examples deno.json deno.lock bench | tar -x -C /tmp/main
 *   BENCH_WS_AB="new=.:target/release/libkrepis.so old=/tmp/main:/tmp/main/libkrepis.so" \
 *     deno run -A bench/ws/run.ts
 *
 * @module
 */

import {
  canPin,
  cpuSeconds,
  killAll,
  median,
  onCpu,
  runQueueSeconds,
  spawnServer,
} from "../proc.ts";

const root = new URL("../../", import.meta.url).pathname;
const env = (name: string, fallback: number) =>
  Number(Deno.env.get(name) ?? fallback);
const runs = env("BENCH_RUNS", 3);
const seconds = env("BENCH_SECONDS", 2);
const connections = env("BENCH_WS_CONNECTIONS", 16);
const inflight = env("BENCH_WS_INFLIGHT", 16);
const binaryBytes = env("BENCH_WS_BINARY_BYTES", 64 * 1024);
const library = Deno.env.get("KREPIS_LIB_PATH") ??
  `${root}target/release/libkrepis.so`;
const progress = Deno.stderr.isTerminal();
const deno = Deno.execPath();

interface Server {
  name: string;
  process: Deno.ChildProcess;
  port: number;
}

async function start(
  name: string,
  script: string,
  dir = root,
  lib = library,
): Promise<Server> {
  const { process, banner } = await spawnServer(
    name,
    onCpu(0, [deno, "run", "-A", script]),
    dir,
    { KREPIS_LIB_PATH: lib },
  );
  return { name, process, port: Number(/PORT (\d+)/.exec(banner)![1]) };
}

type Kind = "text" | "binary";
const scenarios: { name: string; kind: Kind }[] = [
  { name: "32 B text", kind: "text" },
  {
    name: binaryBytes === 64 * 1024
      ? "64 KiB binary"
      : `${binaryBytes} B binary`,
    kind: "binary",
  },
];

interface Sample {
  rate: number;
  cpuUs: number;
  serverPct: number;
  clientPct: number;
  serverWaitPct: number;
  clientWaitPct: number;
}

async function measure(
  server: Server,
  kind: Kind,
  duration: number,
): Promise<Sample> {
  const pid = server.process.pid;
  const before = cpuSeconds(pid);
  const waitBefore = runQueueSeconds(pid);
  const args = onCpu(1, [
    deno,
    "run",
    "-A",
    `${root}bench/ws/client.ts`,
    String(server.port),
    String(connections),
    String(inflight),
    kind,
    String(duration),
    String(binaryBytes),
  ]);
  const out = await new Deno.Command(args[0], {
    args: args.slice(1),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const serverSeconds = cpuSeconds(pid) - before;
  const serverWait = runQueueSeconds(pid) - waitBefore;
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `${server.name} (${kind}): the client failed: ${text}${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
  const r = JSON.parse(text) as {
    messages: number;
    seconds: number;
    clientCpuSeconds: number;
    clientWaitSeconds: number;
  };
  return {
    rate: r.messages / r.seconds,
    cpuUs: (serverSeconds * 1e6) / r.messages,
    serverPct: (100 * serverSeconds) / r.seconds,
    clientPct: (100 * r.clientCpuSeconds) / r.seconds,
    serverWaitPct: (100 * serverWait) / r.seconds,
    clientWaitPct: (100 * r.clientWaitSeconds) / r.seconds,
  };
}

const DENO = "Deno.serve";
/** The Krepis servers: this tree's, or BENCH_WS_AB's (NAME=DIR:LIBRARY each). */
const krepis = (Deno.env.get("BENCH_WS_AB") ?? "").split(/\s+/).filter(Boolean)
  .map((spec) => {
    const m = /^([^=]+)=([^:]+):(.+)$/.exec(spec);
    if (!m) {
      throw new Error(`BENCH_WS_AB: expected NAME=DIR:LIBRARY, got ${spec}`);
    }
    const dir = m[2].startsWith("/") ? m[2] : `${root}${m[2]}`;
    const lib = m[3].startsWith("/") ? m[3] : `${root}${m[3]}`;
    return { name: m[1], dir: dir.endsWith("/") ? dir : `${dir}/`, lib };
  });
if (krepis.length === 0) {
  krepis.push({ name: "Krepis", dir: root, lib: library });
}
const servers: Server[] = [];
const samples = new Map<string, Sample[]>();
const key = (scenario: string, server: string) => `${scenario}\t${server}`;
try {
  for (const k of krepis) {
    servers.push(
      await start(k.name, "bench/ws/krepis_server.ts", k.dir, k.lib),
    );
  }
  servers.push(await start(DENO, "bench/ws/deno_server.ts"));
  for (const { name, kind } of scenarios) {
    for (const server of servers) {
      if (progress) console.error(`warm-up: ${name} on ${server.name}`);
      await measure(server, kind, 1);
    }
  }
  for (let round = 0; round < runs; round++) {
    for (const { name, kind } of scenarios) {
      const order = round % 2 ? servers.toReversed() : servers;
      for (const server of order) {
        if (progress) {
          console.error(
            `round ${round + 1}/${runs}: ${name} on ${server.name}`,
          );
        }
        const k = key(name, server.name);
        samples.set(k, [
          ...(samples.get(k) ?? []),
          await measure(server, kind, seconds),
        ]);
      }
    }
  }
} finally {
  await killAll(servers);
}

const fixed = (n: number, digits = 1) =>
  Number.isFinite(n) ? n.toFixed(digits) : "-";
const medianOf = (name: string, server: string) => {
  const s = samples.get(key(name, server))!;
  return {
    rate: median(s.map((x) => x.rate)),
    cpuUs: median(s.map((x) => x.cpuUs)),
    serverPct: median(s.map((x) => x.serverPct)),
    clientPct: median(s.map((x) => x.clientPct)),
    serverWaitPct: median(s.map((x) => x.serverWaitPct)),
    clientWaitPct: median(s.map((x) => x.clientWaitPct)),
  };
};
console.log(
  `WebSocket echo benchmark (${
    krepis.map((k) => `${k.name}: ${k.lib}`).join(", ")
  }): ${runs} round(s) x ${seconds}s, ` +
    `${connections} connections x ${inflight} messages in flight` +
    (canPin
      ? ", servers on CPU 0 (taskset -c 0), Deno WebSocket client on CPU 1"
      : " (one CPU: nothing pinned)") +
    ". Medians; server CPU = utime+stime per echoed message; CPU % = CPU s / wall s; waiting % = runnable but not on a CPU (/proc schedstat), s / wall s.",
);
console.log("");
console.log(
  "| message | server | messages/s | server CPU µs/msg | server CPU % | server waiting % | client CPU % | client waiting % | Krepis ÷ Deno: messages/s | Krepis ÷ Deno: CPU/msg |",
);
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const { name } of scenarios) {
  const d = medianOf(name, DENO);
  const rows = [...krepis.map((k) => k.name), DENO];
  for (let i = 0; i < rows.length; i++) {
    const server = rows[i];
    const m = medianOf(name, server);
    const ratios = server !== DENO
      ? [`${fixed(m.rate / d.rate, 2)}×`, `${fixed(m.cpuUs / d.cpuUs, 2)}×`]
      : ["", ""];
    console.log(
      `| ${i === 0 ? name : ""} | ${server} | ${fixed(m.rate, 0)} | ${
        fixed(m.cpuUs, 2)
      } | ${fixed(m.serverPct, 0)} | ${fixed(m.serverWaitPct, 0)} | ${
        fixed(m.clientPct, 0)
      } | ${fixed(m.clientWaitPct, 0)} | ${ratios.join(" | ")} |`,
    );
  }
}

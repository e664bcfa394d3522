/**
 * `deno task bench:core:http`: the todo example over real sockets in one run — the Krepis
 * app on the kernel (`app.serve`, also with `traceHeaders: false`), the same app on
 * `Deno.serve` (`app.fetch`), and the same endpoints hand-written with Hono on `Deno.serve`.
 * The app on `Deno.serve` runs with `--unstable-no-legacy-abort` (see `launch`). Servers
 * run on CPU 0, wrk on CPU 1, taking turns, as fresh processes every run; for each
 * endpoint it prints the median over runs of req/s and of the server's CPU time per
 * request (utime + stime from /proc), then ratios against Hono.
 *
 * Environment: BENCH_SECONDS (default 5) per measurement, BENCH_RUNS (default 3),
 * KREPIS_LIB_PATH (default: the release build).
 *
 * @module
 */

import { canPin, onCpu } from "../../../bench/proc.ts";

const seconds = Number(Deno.env.get("BENCH_SECONDS") ?? 5);
const runs = Number(Deno.env.get("BENCH_RUNS") ?? 3);
const here = new URL(".", import.meta.url).pathname;
const library = Deno.env.get("KREPIS_LIB_PATH") ??
  new URL("../../../target/release/libkrepis.so", import.meta.url).pathname;

interface Server {
  label: string;
  child: Deno.ChildProcess;
  base: string;
  todoId: string;
}

async function launch(
  label: string,
  script: string,
  ...modes: string[]
): Promise<Server> {
  const mode = modes[0];
  const [bin, ...args] = onCpu(0, [
    Deno.execPath(),
    "run",
    "-A",
    // Without it, Deno.serve aborts every request's signal after a successful response
    // (Deno's "legacy abort"), creating a DOMException per request once anything read
    // the signal — as the example's repository does before a write (~20 µs/request).
    ...(mode === "deno" ? ["--unstable-no-legacy-abort"] : []),
    `${here}servers/${script}`,
    ...modes,
  ]);
  const child = new Deno.Command(bin, {
    args,
    stdout: "piped",
    stderr: "inherit",
    env: { KREPIS_LIB_PATH: library },
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let m: RegExpExecArray | null;
  while (!(m = /PORT (\d+) ID (\S+)/.exec(text))) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`${label} ended before listening`);
    text += value;
  }
  await lines.cancel(); // the servers log to stderr; stdout is done after this line
  return { label, child, base: `http://127.0.0.1:${m[1]}`, todoId: m[2] };
}

/** utime + stime of a process, in seconds (Linux clock ticks are 1/100 s). */
function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

interface Endpoint {
  name: string;
  path: (s: Server) => string;
  lua?: string;
}

const endpoints: Endpoint[] = [
  { name: "GET /todos/:id (query)", path: (s) => `/todos/${s.todoId}` },
  {
    name: "POST /todos (command)",
    path: () => "/todos",
    lua: `wrk.method = "POST"\nwrk.body = '{"title":"bench"}'\n` +
      `wrk.headers["Content-Type"] = "application/json"\n`,
  },
];

async function load(server: Server, ep: Endpoint, secs: number) {
  const args = ["-t1", "-c64", `-d${secs}s`, server.base + ep.path(server)];
  let script: string | undefined;
  if (ep.lua) {
    script = await Deno.makeTempFile({ suffix: ".lua" });
    await Deno.writeTextFile(script, ep.lua);
    args.unshift("-s", script);
  }
  const before = cpuSeconds(server.child.pid);
  const [bin, ...rest] = onCpu(1, ["wrk", ...args]);
  const out = new TextDecoder().decode(
    (await new Deno.Command(bin, { args: rest }).output()).stdout,
  );
  const cpu = cpuSeconds(server.child.pid) - before;
  if (script) await Deno.remove(script);
  const bad = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (bad) throw new Error(`${server.label}: ${bad[1]} failed responses`);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
    cpuUs: requests ? (cpu * 1e6) / requests : NaN,
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2
    ? s[s.length >> 1]
    : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// Fresh server processes every run, launched in a rotating order: two processes of the
// same server measured 27.0 and 32.3 µs/request in one run here (load average 13), so
// one process per server would bias every run of it the same way.
const kinds: [label: string, script: string, ...modes: string[]][] = [
  ["krepis app on kernel", "todo_app.ts", "kernel"],
  ["  same, traceHeaders: false", "todo_app.ts", "kernel", "no-trace-headers"],
  ["krepis app on Deno.serve", "todo_app.ts", "deno"],
  ["hono on Deno.serve", "todo_hono.ts"],
];
const samples = new Map<string, { rps: number[]; cpuUs: number[] }>();
for (let run = 0; run < runs; run++) {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < kinds.length; i++) {
      servers.push(await launch(...kinds[(i + run) % kinds.length]));
    }
    for (const ep of endpoints) {
      for (const s of servers) await load(s, ep, 1); // warm-up
    }
    for (const ep of endpoints) {
      for (const s of servers) {
        const r = await load(s, ep, seconds);
        const key = `${ep.name}\t${s.label}`;
        const entry = samples.get(key) ?? { rps: [], cpuUs: [] };
        entry.rps.push(r.rps);
        entry.cpuUs.push(r.cpuUs);
        samples.set(key, entry);
      }
    }
  } finally {
    for (const s of servers) {
      s.child.kill("SIGKILL");
      await s.child.status;
    }
  }
  if (Deno.stderr.isTerminal()) {
    Deno.stderr.writeSync(
      new TextEncoder().encode(`\rrun ${run + 1}/${runs}`),
    );
  }
}
if (Deno.stderr.isTerminal()) {
  Deno.stderr.writeSync(new TextEncoder().encode("\n"));
}

console.log(
  `todo app over HTTP: medians of ${runs} runs x ${seconds}s, wrk -c64` +
    (canPin ? ", servers on CPU 0, wrk on CPU 1" : " (not pinned)"),
);
for (const ep of endpoints) {
  console.log(
    `\n## ${ep.name}\nserver                       req/s   CPU µs/req`,
  );
  const hono = samples.get(`${ep.name}\thono on Deno.serve`)!;
  for (const [label] of kinds) {
    const r = samples.get(`${ep.name}\t${label}`)!;
    const rps = median(r.rps);
    const cpu = median(r.cpuUs);
    console.log(
      `${label.padEnd(26)} ${rps.toFixed(0).padStart(8)}   ${
        cpu.toFixed(2).padStart(9)
      }` +
        `   (vs hono: ${(rps / median(hono.rps)).toFixed(2)}x req/s, ` +
        `${(cpu / median(hono.cpuUs)).toFixed(2)}x CPU/req)`,
    );
  }
}

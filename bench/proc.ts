/**
 * What the benchmarks share: process CPU figures from `/proc` (Linux) — CPU time used and
 * time spent runnable but waiting for a CPU, which tells a saturated process from one
 * starved by other load on a shared machine — medians, and stopping servers.
 *
 * @module
 */

/** Whether each process can have a CPU of its own (Linux, two or more CPUs). */
export const canPin: boolean = Deno.build.os === "linux" &&
  navigator.hardwareConcurrency > 1;

/** `command` pinned to CPU `cpu` with `taskset` when `pin` (by default when {@linkcode canPin}). */
export function onCpu(cpu: number, command: string[], pin = canPin): string[] {
  return pin ? ["taskset", "-c", String(cpu), ...command] : command;
}

/** CPU seconds (utime + stime, all threads) used so far by process `pid`. */
export function cpuSeconds(pid: number | "self"): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks, CLK_TCK 100
}

/**
 * Seconds the live threads of process `pid` have spent runnable but waiting for a CPU
 * (the second field of each `/proc/<pid>/task/<tid>/schedstat`).
 */
export function runQueueSeconds(pid: number | "self"): number {
  let ns = 0;
  for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      const stat = Deno.readTextFileSync(
        `/proc/${pid}/task/${task.name}/schedstat`,
      );
      ns += Number(stat.split(" ")[1]);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return ns / 1e9;
}

/** The median of `values`, NaNs left out (NaN when none is left). */
export function median(values: number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A server process a benchmark started. */
export interface Started {
  name: string;
  process: Deno.ChildProcess;
}

/** Kills every server and waits for it; one that already exited has its status reported. */
export async function killAll(servers: Iterable<Started>): Promise<void> {
  for (const server of servers) {
    try {
      server.process.kill("SIGKILL");
    } catch {
      console.error(
        `${server.name} had exited: ${
          JSON.stringify(await server.process.status)
        }`,
      );
    }
    await server.process.status;
  }
}

/** How {@linkcode spawnServer} starts a server. */
export interface SpawnOptions {
  /**
   * Keep the server's stderr out of the benchmark's output: it is read only to say why a
   * server exited before listening (the error's message then holds its start), and
   * dropped once the server listens. Otherwise it goes to this process's stderr.
   */
  quiet?: boolean;
  /** How long a server may take to listen before it is killed, in ms (30 s). */
  timeoutMs?: number;
}

/**
 * Starts a server (`args[0]` with the rest as arguments, from `cwd`) and waits for its
 * `PORT <n>` line; returns the process and everything it printed up to that line. A server
 * that neither listens nor exits within `options.timeoutMs` is killed. Its output is
 * drained after, so it never blocks on a full pipe.
 */
export async function spawnServer(
  name: string,
  args: string[],
  cwd: string,
  env: Record<string, string>,
  options: SpawnOptions = {},
): Promise<{ process: Deno.ChildProcess; banner: string }> {
  const process = new Deno.Command(args[0], {
    args: args.slice(1),
    cwd,
    env,
    stdout: "piped",
    stderr: options.quiet ? "piped" : "inherit",
  }).spawn();
  const reader = process.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  let banner = "";
  const timer = setTimeout(
    () => process.kill("SIGKILL"),
    options.timeoutMs ?? 30_000,
  );
  try {
    while (!/PORT \d+.*\n/.test(banner)) {
      const { value, done } = await reader.read();
      if (done) {
        // The message's first line says why (bench:knul reports only that line).
        const why = options.quiet
          ? ` ${(await new Response(process.stderr).text()).slice(0, 400)}`
          : "";
        throw new Error(`${name} exited before listening:${why}\n${banner}`);
      }
      banner += value;
    }
  } finally {
    clearTimeout(timer);
  }
  (async () => {
    while (!(await reader.read()).done);
  })();
  if (options.quiet) process.stderr.cancel().catch(() => {});
  return { process, banner };
}

/**
 * Process CPU figures from `/proc` (Linux) for the WebSocket benchmark: CPU time used and
 * time spent runnable but waiting for a CPU, which tells a saturated process from one
 * starved by other load on a shared machine.
 *
 * @module
 */

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

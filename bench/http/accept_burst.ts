/**
 * Bursts of short connections against Krepis `serve` and `Deno.serve`, alternating in the
 * same run: uploads that announce a 4 KiB body, send 1,000 bytes and close (the 4 KiB half
 * of `packages/core/src/http/_aborted_uploads.ts`), 64 at a time, from this process; each
 * server runs in a child process. Per run it prints how many connects took over 900 ms
 * (a SYN dropped on a full listen queue is retried after 1 s), the slowest connect, and
 * the change of `TcpExtListenOverflows` (`/proc/net/netstat`: counted for the whole
 * machine, so other work on it shows too).
 *
 * `deno run -A bench/http/accept_burst.ts [rounds=3] [connects=3000]`
 * (`KREPIS_LIB_PATH` chooses the kernel build, as everywhere.)
 *
 * @module
 */

import { serve } from "@krepis/core/http";

const encoder = new TextEncoder();
const SLOW_MS = 900;
const AT_ONCE = 64;

async function handler(req: Request): Promise<Response> {
  if (req.url.endsWith("/read")) await req.arrayBuffer().catch(() => {});
  else {
    await new Promise((resolve) => {
      req.signal.addEventListener("abort", resolve);
    });
  }
  return new Response("done");
}

function listenOverflows(): number {
  const [names, values] = Deno.readTextFileSync("/proc/net/netstat")
    .split("\n").map((line) => line.split(" "));
  return Number(values[names.indexOf("ListenOverflows")]);
}

/** `count` aborted uploads to `port`; the connects that took over `SLOW_MS`, the slowest. */
async function burst(port: number, count: number) {
  const head = (path: string) =>
    encoder.encode(
      `POST ${path} HTTP/1.1\r\nhost: t\r\ncontent-length: 4096\r\n\r\n`,
    );
  const part = new Uint8Array(1_000);
  let next = 0, slow = 0, slowest = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const start = performance.now();
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      const ms = performance.now() - start;
      slowest = Math.max(slowest, ms);
      if (ms > SLOW_MS) slow++;
      try {
        await conn.write(head(i % 2 ? "/read" : "/ignore"));
        await conn.write(part);
      } catch { /* the server may have answered and closed */ }
      conn.close();
    }
  };
  await Promise.all(Array.from({ length: AT_ONCE }, worker));
  return { slow, slowest: Math.round(slowest) };
}

async function measure(kind: string, count: number) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, "serve", kind],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${kind} server exited`);
    out += value;
  }
  const port = Number(out.match(/^PORT (\d+)/)![1]);
  try {
    await burst(port, 500); // warm-up
    await new Promise((r) => setTimeout(r, 500));
    const before = listenOverflows();
    const started = performance.now();
    const result = await burst(port, count);
    return {
      ...result,
      ms: Math.round(performance.now() - started),
      overflows: listenOverflows() - before,
    };
  } finally {
    child.kill("SIGKILL");
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel().catch(() => {});
  }
}

if (Deno.args[0] === "serve") {
  const options = { hostname: "127.0.0.1", port: 0, onListen() {} };
  const server = Deno.args[1] === "deno"
    ? Deno.serve(options, handler)
    : serve(options, handler);
  console.log(`PORT ${server.addr.port}`);
} else {
  const rounds = Number(Deno.args[0] ?? 3);
  const count = Number(Deno.args[1] ?? 3000);
  const total: Record<string, { slow: number; overflows: number }> = {};
  for (let round = 1; round <= rounds; round++) {
    for (const kind of ["krepis", "deno"]) {
      const m = await measure(kind, count);
      const sum = total[kind] ??= { slow: 0, overflows: 0 };
      sum.slow += m.slow;
      sum.overflows += m.overflows;
      console.log(
        `round ${round} ${kind}: ${count} connects in ${m.ms} ms, ` +
          `${m.slow} over ${SLOW_MS} ms (slowest ${m.slowest} ms), ` +
          `ListenOverflows +${m.overflows}`,
      );
    }
  }
  for (const [kind, sum] of Object.entries(total)) {
    console.log(
      `${kind}: ${sum.slow} slow connects, ListenOverflows +${sum.overflows} ` +
        `in ${rounds} x ${count}`,
    );
  }
}

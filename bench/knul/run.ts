/**
 * `deno task bench:knul`: unary calls with 1 KiB payloads from 64 concurrent callers, in
 * one run: KNUL (Krepis kernel, QUIC) vs HTTP/2 (Krepis `serve` + `fetch`, TLS) vs a
 * hand-framed RPC on `Deno.QuicEndpoint` vs gRPC (`npm:@grpc/grpc-js`, plaintext h2c: its
 * TLS client does not connect on Deno). The server is
 * pinned to core 0 and the load generator to core 1; peers alternate over the rounds;
 * medians are printed with the server's CPU time per call (utime + stime from
 * /proc/<pid>/stat).
 *
 * @module
 */

import { testCerts } from "../../packages/core/src/_certs.ts";
import { cpuSeconds, median, runQueueSeconds, spawnServer } from "../proc.ts";

const PEERS = ["knul", "http2", "deno-quic", "grpc"] as const;
type Peer = typeof PEERS[number];
const ROUNDS = Number(Deno.env.get("KNUL_BENCH_ROUNDS") ?? 3);
const SECONDS = Number(Deno.env.get("KNUL_BENCH_SECONDS") ?? 3);
const CALLERS = 64;
const root = new URL("../../", import.meta.url).pathname;
const peerScript = new URL("./peer.ts", import.meta.url).pathname;
const env = { KREPIS_LIB_PATH: `${root}target/release/libkrepis.so` };
const tty = Deno.stderr.isTerminal();

async function startServer(peer: Peer, certDir: string) {
  const { process, banner } = await spawnServer(
    `${peer} server`,
    [
      "taskset",
      "-c",
      "0",
      Deno.execPath(),
      "run",
      "-A",
      "--unstable-net",
      peerScript,
      "server",
      peer,
      certDir,
    ],
    root,
    env,
    // Its stderr only says why it did not listen (gRPC's npm install may take a while).
    { quiet: true, timeoutMs: 60_000 },
  );
  return { process, port: Number(/PORT (\d+)/.exec(banner)![1]) };
}

interface Round {
  rate: number;
  p50: number;
  p99: number;
  cpuUs: number;
  /** Server threads' run-queue wait, ms per second of the round (summed over threads). */
  waitMsPerS: number;
  failures: number;
}

async function round(peer: Peer, certDir: string): Promise<Round> {
  const server = await startServer(peer, certDir);
  try {
    const before = cpuSeconds(server.process.pid);
    const waitBefore = runQueueSeconds(server.process.pid);
    const started = performance.now();
    const out = await new Deno.Command("taskset", {
      args: [
        "-c",
        "1",
        Deno.execPath(),
        "run",
        "-A",
        "--unstable-net",
        peerScript,
        "client",
        peer,
        String(server.port),
        certDir,
        String(SECONDS),
        String(CALLERS),
      ],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const after = cpuSeconds(server.process.pid);
    const waited = runQueueSeconds(server.process.pid) - waitBefore;
    const elapsedS = (performance.now() - started) / 1000;
    const text =
      new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
    if (!out.success || !text.startsWith("{")) {
      throw new Error(
        `${peer} client failed: ${
          new TextDecoder().decode(out.stderr).slice(0, 400)
        }`,
      );
    }
    const r = JSON.parse(text);
    // The server's CPU covers warm-up too: charge it over every call made (≈ rate × time).
    const rate = r.calls / r.seconds;
    const total = rate * (r.seconds + 0.5);
    return {
      rate,
      p50: r.p50,
      p99: r.p99,
      cpuUs: ((after - before) * 1e6) / total,
      waitMsPerS: (waited * 1e3) / elapsedS,
      failures: r.failures,
    };
  } finally {
    try {
      server.process.kill("SIGKILL");
    } catch {
      // It already exited.
    }
    await server.process.status;
  }
}

const certs = await testCerts();
const results = new Map<Peer, Round[]>(PEERS.map((p) => [p, []]));
const unavailable = new Map<Peer, string>();
for (let r = 0; r < ROUNDS; r++) {
  // Alternate the order so no peer always runs first (or last) on a warming machine.
  const order = r % 2 === 0 ? PEERS : [...PEERS].reverse();
  for (const peer of order) {
    if (unavailable.has(peer)) continue;
    if (tty) {
      Deno.stderr.writeSync(
        new TextEncoder().encode(`\rround ${r + 1}/${ROUNDS}: ${peer}        `),
      );
    }
    try {
      results.get(peer)!.push(await round(peer, certs.dir));
    } catch (error) {
      unavailable.set(peer, (error as Error).message.split("\n")[0]);
    }
  }
}
if (tty) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[K"));

console.log(
  `unary echo, 1 KiB payload, ${CALLERS} concurrent callers, ${ROUNDS} rounds × ${SECONDS} s, medians; server on core 0, load on core 1`,
);
console.log(
  "peer        calls/s     p50 ms   p99 ms   server CPU µs/call   server run-queue wait ms/s",
);
// Every peer but gRPC runs over TLS 1.3; grpc-js's TLS client does not connect on Deno.
const summary = new Map<Peer, Round>();
const label = (p: Peer) => (p === "grpc" ? "grpc-h2c" : p).padEnd(10);
for (const peer of PEERS) {
  const rounds = results.get(peer)!;
  if (rounds.length === 0) {
    console.log(`${label(peer)}  did not run: ${unavailable.get(peer)}`);
    continue;
  }
  const m: Round = {
    rate: median(rounds.map((x) => x.rate)),
    p50: median(rounds.map((x) => x.p50)),
    p99: median(rounds.map((x) => x.p99)),
    cpuUs: median(rounds.map((x) => x.cpuUs)),
    waitMsPerS: median(rounds.map((x) => x.waitMsPerS)),
    failures: rounds.reduce((n, x) => n + x.failures, 0),
  };
  summary.set(peer, m);
  console.log(
    `${label(peer)}  ${m.rate.toFixed(0).padStart(8)}  ${
      m.p50.toFixed(2).padStart(8)
    } ${m.p99.toFixed(2).padStart(8)}   ${m.cpuUs.toFixed(1).padStart(8)}   ${
      m.waitMsPerS.toFixed(0).padStart(22)
    }${m.failures ? `   (${m.failures} failed calls)` : ""}`,
  );
}
const k = summary.get("knul");
const ratio = (p: Peer) => {
  const other = summary.get(p);
  return k && other ? `${(k.rate / other.rate).toFixed(2)}×` : "n/a";
};
console.log(
  `knul: ${k ? k.rate.toFixed(0) : "n/a"} calls/s, p99 ${
    k ? k.p99.toFixed(2) : "n/a"
  } ms; vs http2 ${ratio("http2")}, vs deno-quic ${ratio("deno-quic")}`,
);

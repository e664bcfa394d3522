/**
 * WebSocket load client for `bench/ws/run.ts`: opens CONNECTIONS sockets to
 * `ws://127.0.0.1:PORT/`, keeps INFLIGHT messages in flight on each for SECONDS, then
 * stops sending, waits for the echoes still under way and closes. Prints one JSON line:
 * `{ messages, bad, seconds, clientCpuSeconds, clientWaitSeconds }`
 * (the last: time its threads were runnable but waiting for a CPU).
 *
 * A message counts only when its echo arrives intact: the right type (text or binary), the
 * right length, and its sequence number next in that connection's order (WebSocket keeps
 * order). Every text message is compared whole; a binary one carries its sequence number at
 * both ends, and every 16th is compared byte for byte with what was sent. Any failure
 * (mismatch, socket error, unexpected close, drain timeout) exits with status 1.
 *
 *   deno run -A bench/ws/client.ts PORT CONNECTIONS INFLIGHT text|binary SECONDS [BINARY_BYTES]
 *
 * BINARY_BYTES (default 65536, at least 8) is the size of a binary message.
 *
 * @module
 */

const [portArg, connArg, inflightArg, kind, secondsArg, bytesArg = "65536"] =
  Deno.args;
const port = Number(portArg);
const connections = Number(connArg);
const inflight = Number(inflightArg);
const seconds = Number(secondsArg);
const BINARY_SIZE = Number(bytesArg);
if (
  !(port > 0) || !(connections > 0) || !(inflight > 0) || !(seconds > 0) ||
  !Number.isInteger(BINARY_SIZE) || BINARY_SIZE < 8 ||
  (kind !== "text" && kind !== "binary")
) {
  console.error(
    "usage: client.ts PORT CONNECTIONS INFLIGHT text|binary SECONDS [BINARY_BYTES]",
  );
  Deno.exit(2);
}

import { cpuSeconds, runQueueSeconds } from "../proc.ts";

const TEXT_SIZE = 32;
/** Every SAMPLE-th binary echo is compared byte for byte. */
const SAMPLE = 16;
/** How long the echoes still in flight at the end may take. */
const DRAIN_MS = 10_000;

/** Text message `seq` of connection `conn`: exactly 32 ASCII characters. */
function text(conn: number, seq: number): string {
  return `c${conn} s${seq} `.padEnd(TEXT_SIZE, ".");
}

/** Connection `conn`'s binary payload: a pattern; the sequence number goes at both ends. */
function template(conn: number): Uint8Array {
  const bytes = new Uint8Array(BINARY_SIZE);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + conn) & 255;
  return bytes;
}

let messages = 0;
let bad = 0;
let failure = "";
let sending = false;
let outstanding = 0;
let closing = false;
const startSending: (() => void)[] = [];
let resolveDone: () => void;
const done = new Promise<void>((resolve) => resolveDone = resolve);

function fail(reason: string): void {
  if (!failure) failure = reason;
  resolveDone();
}

function open(conn: number): Promise<WebSocket> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/`);
  socket.binaryType = "arraybuffer";
  const payload = kind === "binary" ? template(conn) : undefined;
  const view = payload && new DataView(payload.buffer);
  let sent = 0;
  let received = 0;
  const send = () => {
    if (view) {
      view.setUint32(0, sent);
      view.setUint32(BINARY_SIZE - 4, sent);
      socket.send(payload!);
    } else {
      socket.send(text(conn, sent));
    }
    sent++;
    outstanding++;
  };
  const intact = (data: unknown): boolean => {
    if (!view) return data === text(conn, received);
    if (!(data instanceof ArrayBuffer) || data.byteLength !== BINARY_SIZE) {
      return false;
    }
    const echoed = new DataView(data);
    if (
      echoed.getUint32(0) !== received ||
      echoed.getUint32(BINARY_SIZE - 4) !== received
    ) return false;
    if (received % SAMPLE) return true;
    const got = new Uint8Array(data);
    for (let i = 4; i < BINARY_SIZE - 4; i++) {
      if (got[i] !== payload![i]) return false;
    }
    return true;
  };
  socket.onmessage = (e) => {
    outstanding--;
    if (intact(e.data)) messages++;
    else bad++;
    received++;
    if (sending) send();
    else if (outstanding === 0) resolveDone();
  };
  socket.onerror = () => fail(`connection ${conn}: error event`);
  socket.onclose = (e) => {
    if (!closing) fail(`connection ${conn}: closed early (${e.code})`);
  };
  startSending.push(() => {
    for (let i = 0; i < inflight; i++) send();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`connection ${conn}: not open after 10 s`)),
      10_000,
    );
    socket.onopen = () => {
      clearTimeout(timer);
      resolve(socket);
    };
  });
}

const sockets = await Promise.all(
  Array.from({ length: connections }, (_, conn) => open(conn)),
);

const cpu0 = cpuSeconds("self");
const wait0 = runQueueSeconds("self");
const t0 = performance.now();
sending = true;
for (const start of startSending) start();
const stop = setTimeout(() => {
  sending = false;
  if (outstanding === 0) resolveDone();
}, seconds * 1000);
const drain = setTimeout(
  () => fail(`${outstanding} echoes missing after the drain`),
  seconds * 1000 + DRAIN_MS,
);
await done;
const elapsed = (performance.now() - t0) / 1000;
const clientCpu = cpuSeconds("self") - cpu0;
const clientWait = runQueueSeconds("self") - wait0;
clearTimeout(stop);
clearTimeout(drain);
closing = true;
for (const socket of sockets) socket.close(1000);

console.log(JSON.stringify({
  messages,
  bad,
  seconds: elapsed,
  clientCpuSeconds: clientCpu,
  clientWaitSeconds: clientWait,
}));
if (failure || bad > 0) {
  console.error(failure || `${bad} echoes arrived damaged`);
  Deno.exit(1);
}
Deno.exit(0);

/**
 * Helpers for the HTTP tests: raw TCP exchanges and servers on ephemeral ports.
 *
 * @module
 */

import {
  type HttpServer,
  serve,
  type ServeHandler,
  type ServeOptions,
} from "@krepis/core/http";

/** Starts a quiet server on 127.0.0.1 with an ephemeral port. */
export function listen(
  handler: ServeHandler,
  options: ServeOptions = {},
): HttpServer {
  return serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
    ...options,
  }, handler);
}

/** The base URL of `server`. */
export function base(server: HttpServer): string {
  return `http://127.0.0.1:${server.addr.port}`;
}

/** Opens a TCP connection to `server` and writes `request` on it (a raw client). */
export async function connectAndWrite(
  server: HttpServer,
  request: string,
): Promise<Deno.Conn> {
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  await conn.write(new TextEncoder().encode(request));
  return conn;
}

/** Writes `request` on a new TCP connection and reads until the server closes it. */
export async function exchange(
  server: HttpServer,
  request: string | Uint8Array,
): Promise<string> {
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  try {
    const bytes = typeof request === "string"
      ? new TextEncoder().encode(request)
      : request;
    await conn.write(bytes).catch(() => {});
    return await readAll(conn);
  } finally {
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}

/** Reads from `conn` until EOF (or a reset). */
export async function readAll(conn: Deno.Conn): Promise<string> {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(64 * 1024);
  for (;;) {
    let n: number | null;
    try {
      n = await conn.read(buf);
    } catch {
      break;
    }
    if (n === null) break;
    chunks.push(buf.slice(0, n));
  }
  return new TextDecoder().decode(
    chunks.reduce((a, c) => {
      const out = new Uint8Array(a.length + c.length);
      out.set(a);
      out.set(c, a.length);
      return out;
    }, new Uint8Array()),
  );
}

/** Reads from `conn` until `text` contains `needle` `times` times. */
export async function readUntil(
  conn: Deno.Conn,
  needle: string,
  times = 1,
): Promise<string> {
  const buf = new Uint8Array(64 * 1024);
  let text = "";
  while (text.split(needle).length - 1 < times) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return text;
}

/** Polls a condition until it holds: the package's one polling helper, `until`. */
export { until as eventually } from "../_poll.ts";

/**
 * Runs a measuring helper beside these tests (`_aborted_uploads.ts`, …) in a child process
 * that counts only itself, with `--expose-gc` and glibc limited to two malloc arenas (its
 * default per-thread arenas make RSS depend on the machine's load), and returns the JSON
 * it printed.
 */
export async function measureInChild(helper: string, ...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      new URL(helper, import.meta.url).pathname,
      ...args,
    ],
    env: { MALLOC_ARENA_MAX: "2" },
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`${helper} failed (exit code ${out.code})`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** Runs a command and returns its stdout; throws with stderr when it fails. */
export async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`${cmd} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

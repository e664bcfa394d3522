/**
 * Test helpers for the HTTP limits tests: raw HTTP/1 exchanges over TCP, the same request
 * against `Deno.serve` and `serve()` side by side.
 *
 * @module
 */

import {
  type HttpServer,
  serve,
  type ServeHandler,
  type ServeOptions,
} from "@krepis/core/http";

/** A response as read off the wire: status, lower-cased headers (raw bytes as Latin-1). */
export interface WireResponse {
  /** Status code, 0 when the server answered nothing. */
  status: number;
  /** Header values by lower-cased name, each byte one char. */
  headers: Map<string, string>;
  /** The body bytes (still chunk-encoded if the response was chunked). */
  body: Uint8Array;
}

/** Both servers, with the same handler. */
export interface Pair extends AsyncDisposable {
  /** `Deno.serve`'s port. */
  deno: number;
  /** `serve()`'s port. */
  krepis: number;
  /** The Krepis server. */
  server: HttpServer;
}

/** Starts `Deno.serve` and `serve()` on ephemeral 127.0.0.1 ports with `handler`. */
export async function pair(
  handler: ServeHandler,
  options: ServeOptions = {},
  denoOptions: Partial<Deno.ServeTcpOptions & Deno.TlsCertifiedKeyPem> = {},
): Promise<Pair> {
  const deno = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
    ...denoOptions,
  }, (req, info) =>
    handler(req, {
      remoteAddr: info.remoteAddr,
      ctx: undefined as never,
      completed: info.completed,
    }));
  const server = await serve(
    { hostname: "127.0.0.1", port: 0, onListen() {}, ...options },
    handler,
  );
  return {
    deno: deno.addr.port,
    krepis: server.addr.port,
    server,
    async [Symbol.asyncDispose]() {
      await Promise.all([deno.shutdown(), server.shutdown()]);
    },
  };
}

/** Bytes of a Latin-1 string (one byte per char). */
export function latin1(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/**
 * Writes `request` on a new connection and reads until the server closes it or `ms`
 * passes, then parses the first response.
 */
export async function exchange(
  port: number,
  request: string | Uint8Array,
  ms = 10_000,
): Promise<WireResponse> {
  return parse(await exchangeBytes(port, request, ms));
}

/**
 * Writes `request` on a new connection and returns every byte read until the server
 * closes it or `ms` passes.
 */
export async function exchangeBytes(
  port: number,
  request: string | Uint8Array,
  ms = 10_000,
): Promise<Uint8Array> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), ms);
  const chunks: Uint8Array[] = [];
  try {
    await conn.write(typeof request === "string" ? latin1(request) : request)
      .catch(() => {});
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer or the peer */ }
  }
  return concat(chunks);
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Parses one HTTP/1 response from `bytes`. */
export function parse(bytes: Uint8Array): WireResponse {
  const text = String.fromCharCode(...bytes.subarray(0, 128 * 1024));
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return { status: 0, headers: new Map(), body: bytes };
  const [line, ...fields] = text.slice(0, end).split("\r\n");
  const headers = new Map<string, string>();
  for (const field of fields) {
    const colon = field.indexOf(":");
    const name = field.slice(0, colon).toLowerCase();
    const value = field.slice(colon + 1).trim();
    headers.set(
      name,
      headers.has(name) ? `${headers.get(name)}, ${value}` : value,
    );
  }
  return {
    status: Number(line.split(" ")[1]),
    headers,
    body: bytes.subarray(end + 4),
  };
}

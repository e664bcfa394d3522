/**
 * Test helpers: raw HTTP/1.1 over TCP, and a strict parser of what came back, so tests can
 * see framing (lengths, chunks, a missing last chunk, a second response) exactly.
 *
 * @module
 */

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

/** What a raw exchange read: all bytes as Latin-1 text, and whether the server closed. */
export interface RawReply {
  /** Everything read, one char per byte. */
  text: string;
  /** True when the server closed the connection (EOF or reset) before the timeout. */
  closed: boolean;
}

/**
 * Writes `parts` (in order, `pauseMs` apart) on a new connection to 127.0.0.1:`port`, then
 * reads until the server closes or `timeoutMs` passes. With `closeAfterWrite` the client
 * closes its sending side right after the last part. The default wait is long (30 s): it
 * ends early whenever the server closes, and a loaded machine can be slow to answer.
 */
export async function raw(
  port: number,
  parts: string | (string | Uint8Array)[],
  options: { timeoutMs?: number; pauseMs?: number; hangUp?: boolean } = {},
): Promise<RawReply> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const list = typeof parts === "string" ? [parts] : parts;
  try {
    for (let i = 0; i < list.length; i++) {
      if (i > 0 && options.pauseMs) {
        await new Promise((r) => setTimeout(r, options.pauseMs));
      }
      const part = list[i];
      await conn.write(typeof part === "string" ? encoder.encode(part) : part)
        .catch(() => {});
    }
    if (options.hangUp) {
      conn.close();
      return { text: "", closed: true };
    }
    return await readFor(conn, options.timeoutMs ?? 30_000);
  } finally {
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}

/** Reads `conn` until EOF/reset (closed) or until `timeoutMs` passes (not closed). */
export async function readFor(
  conn: Deno.Conn,
  timeoutMs: number,
): Promise<RawReply> {
  let text = "";
  const buf = new Uint8Array(64 * 1024);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  try {
    for (;;) {
      const n = await Promise.race([conn.read(buf).catch(() => null), timeout]);
      if (n === "timeout") return { text, closed: false };
      if (n === null) return { text, closed: true };
      text += latin1.decode(buf.subarray(0, n));
    }
  } finally {
    clearTimeout(timer);
  }
}

/** One parsed response. */
export interface Parsed {
  /** Status code. */
  status: number;
  /** Header names in lower case; repeated names joined with ", ". */
  headers: Record<string, string>;
  /** The body as framed (dechunked), Latin-1. */
  body: string;
  /** Whether the framing completed (full length, or the terminating chunk). */
  complete: boolean;
}

/**
 * Splits `text` into the responses it holds, following their framing exactly. A response
 * whose body is cut short ends the list with `complete: false`. 1xx responses are skipped.
 */
export function parseResponses(text: string, head = false): Parsed[] {
  const out: Parsed[] = [];
  let at = 0;
  while (at < text.length) {
    const end = text.indexOf("\r\n\r\n", at);
    if (end < 0) break;
    const lines = text.slice(at, end).split("\r\n");
    const status = Number(lines[0].split(" ")[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
    }
    at = end + 4;
    if (status >= 100 && status < 200) continue;
    const noBody = head || status === 204 || status === 304;
    if (noBody) {
      out.push({ status, headers, body: "", complete: true });
    } else if (headers["transfer-encoding"]?.includes("chunked")) {
      let body = "";
      let complete = false;
      for (;;) {
        const lineEnd = text.indexOf("\r\n", at);
        if (lineEnd < 0) break;
        const size = parseInt(text.slice(at, lineEnd), 16);
        if (Number.isNaN(size)) break;
        if (size === 0) {
          if (text.startsWith("\r\n", lineEnd + 2)) {
            complete = true;
            at = lineEnd + 4;
          }
          break;
        }
        if (lineEnd + 2 + size + 2 > text.length) {
          body += text.slice(lineEnd + 2, lineEnd + 2 + size);
          at = text.length;
          break;
        }
        body += text.slice(lineEnd + 2, lineEnd + 2 + size);
        at = lineEnd + 2 + size + 2;
      }
      out.push({ status, headers, body, complete });
      if (!complete) break;
    } else {
      const length = Number(headers["content-length"] ?? 0);
      const body = text.slice(at, at + length);
      out.push({ status, headers, body, complete: body.length === length });
      at += length;
      if (body.length < length) break;
    }
  }
  return out;
}

/** A quiet `Deno.serve` on 127.0.0.1 with an ephemeral port, for side-by-side checks. */
export function denoServe(
  handler: Deno.ServeHandler<Deno.NetAddr>,
  options: Partial<Deno.ServeTcpOptions> = {},
): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
    ...options,
  }, handler);
}

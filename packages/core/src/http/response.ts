/**
 * Reading a handler's `Response` cheaply: its headers as a flat list, and whether its body
 * is bytes already known (sent in one piece) or a stream (sent chunk by chunk).
 *
 * @module
 */

const probe = new Response("x");
const symbolNamed = (name: string) =>
  Object.getOwnPropertySymbols(probe).find((s) => s.description === name);
// Deno keeps the inner response (and, for string bodies, the string itself) under internal
// symbols. Reading them only decides *how* to read the body — a Deno version without them
// falls back to treating every body as a stream, which is slower but equally correct.
const INNER = symbolNamed("response");
const LAZY_BODY = symbolNamed("lazy static body");

type Internal = Record<symbol, unknown>;

/** How a response body is to be read. */
export type BodyKind =
  | { kind: "text"; text: string }
  | { kind: "bytes" }
  | { kind: "stream" };

const BYTES: BodyKind = { kind: "bytes" };
const STREAM: BodyKind = { kind: "stream" };

/**
 * Classifies the body of `response` without touching its `body` getter (which would turn
 * a plain string or byte body into a stream).
 *
 * @example
 * ```ts
 * import { bodyKind } from "./response.ts";
 * console.assert(bodyKind(new Response("hi")).kind === "text");
 * console.assert(bodyKind(new Response(new ReadableStream())).kind === "stream");
 * ```
 */
export function bodyKind(response: Response): BodyKind {
  if (response.bodyUsed) return BYTES;
  const lazy = LAZY_BODY === undefined
    ? undefined
    : (response as unknown as Internal)[LAZY_BODY];
  if (typeof lazy === "string") return { kind: "text", text: lazy };
  if (INNER !== undefined) {
    const inner = (response as unknown as Internal)[INNER] as
      | { body?: { streamOrStatic?: unknown } | null }
      | undefined;
    if (inner !== undefined && "body" in inner) {
      const body = inner.body;
      if (body === null || body === undefined) return BYTES;
      return body.streamOrStatic instanceof ReadableStream ? STREAM : BYTES;
    }
  }
  return response.body === null ? BYTES : STREAM;
}

/**
 * The headers of `response` as `[name0, value0, ...]`; each `set-cookie` stays separate.
 *
 * @example
 * ```ts
 * import { headerList } from "./response.ts";
 * const r = new Response(null, { headers: [["set-cookie", "a=1"], ["set-cookie", "b=2"]] });
 * console.assert(headerList(r).length === 4);
 * ```
 */
export function headerList(response: Response): string[] {
  const out: string[] = [];
  for (const [name, value] of response.headers) out.push(name, value);
  return out;
}

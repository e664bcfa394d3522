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
  | { kind: "bytes"; bytes: Uint8Array<ArrayBuffer> | undefined }
  | { kind: "stream" };

const READ_BYTES: BodyKind = { kind: "bytes", bytes: undefined };
/** What {@linkcode bodyKind} returns for a response without a body. */
export const NO_BODY: BodyKind = { kind: "bytes", bytes: new Uint8Array(0) };
const STREAM: BodyKind = { kind: "stream" };

interface InnerBody {
  streamOrStatic?: unknown;
  source?: unknown;
}

/**
 * Classifies the body of `response` without touching its `body` getter (which would turn
 * a plain string or byte body into a stream). A string or byte body known up front comes
 * back with it (`text`, or `bytes` with `bytes` set); `bytes` without `bytes` means
 * "read it with `response.bytes()`".
 *
 * @example
 * ```ts
 * import { bodyKind } from "./response.ts";
 * console.assert(bodyKind(new Response("hi")).kind === "text");
 * console.assert(bodyKind(new Response(new ReadableStream())).kind === "stream");
 * ```
 */
export function bodyKind(response: Response): BodyKind {
  if (response.bodyUsed) return READ_BYTES;
  const internal = response as unknown as Internal;
  const lazy = LAZY_BODY === undefined ? undefined : internal[LAZY_BODY];
  if (typeof lazy === "string") return { kind: "text", text: lazy };
  if (INNER !== undefined) {
    const inner = internal[INNER] as { body?: InnerBody | null } | undefined;
    if (inner !== undefined && "body" in inner) {
      const body = inner.body;
      if (body === null || body === undefined) {
        return lazy === null || lazy === undefined ? NO_BODY : READ_BYTES;
      }
      if (body.streamOrStatic instanceof ReadableStream) return STREAM;
      // A static body's source is the copy Deno made when the Response was built.
      if (typeof body.source === "string") {
        return { kind: "text", text: body.source };
      }
      if (body.source instanceof Uint8Array) {
        return {
          kind: "bytes",
          bytes: body.source as Uint8Array<ArrayBuffer>,
        };
      }
      return READ_BYTES;
    }
  }
  return response.body === null ? READ_BYTES : STREAM;
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
  // `forEach`, not `for…of` with destructuring: user code may have replaced the array
  // iterator, and serving must not depend on it.
  response.headers.forEach((value, name) => {
    out.push(name, value);
  });
  return out;
}

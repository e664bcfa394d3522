/**
 * Reading a handler's `Response` cheaply: its status, its headers as a flat list, and its
 * body — a string or bytes known up front (sent in one piece), bytes still to be read, or a
 * stream (sent chunk by chunk).
 *
 * Deno keeps a Response's parts under internal symbols, and for the common shapes
 * (`new Response("text")`, `Response.json(v)`, a byte body with at most a content type)
 * the very fields `Deno.serve` answers from without building `Headers`. Reading them is
 * what makes a hello-world response cost a few property loads. They are found by name once,
 * when this module loads, and checked against probe responses: a Deno whose internals
 * differ falls back to the public API (slower, equally correct). What is refused and how a
 * served response is marked used follows `Deno.serve`.
 *
 * @module
 */

import type { Pending } from "../pipeline/pending.ts";
import type { ServeHandlerInfo } from "./types.ts";

type Internal = Record<symbol, unknown>;

/** A body known up front, as Deno keeps it until something reads it as a stream. */
interface StaticBody {
  body: string | Uint8Array<ArrayBuffer>;
  consumed: boolean;
}

interface InnerBody {
  streamOrStatic?: ReadableStream | StaticBody;
  consumed(): boolean;
}

interface InnerResponse {
  type: string;
  status: number;
  headerList: [string, string][];
  body: InnerBody | null;
  bodyDecoded?: boolean;
}

/** The body is `ResponseParts.body` (a string, bytes, or `null` for none). */
export const BODY_INLINE = 0;
/** The body is to be streamed from `response.body`. */
export const BODY_STREAM = 2;

/** What a server needs from a handler's `Response`. */
export interface ResponseParts {
  /** HTTP status. */
  status: number;
  /** Alternating names and values (ByteStrings); each `set-cookie` separate. */
  headers: readonly string[];
  /** How to get the body: {@linkcode BODY_INLINE} or {@linkcode BODY_STREAM}. */
  read: number;
  /** The body, when `read` is {@linkcode BODY_INLINE}. */
  body: string | Uint8Array<ArrayBuffer> | null;
}

// Deno's internal fields, looked up by name (see the module docs).
const probe = new Response("x");
const own = Object.getOwnPropertySymbols(probe);
function symbolNamed(name: string): symbol | undefined {
  for (let i = 0; i < own.length; i++) {
    if (own[i].description === name) return own[i];
  }
  return undefined;
}
const INNER = symbolNamed("response");
const LAZY_BODY = symbolNamed("lazy static body");
const LAZY_TYPE = symbolNamed("lazy static content type");
const FAST_STATUS = symbolNamed("serve fast status");
const FAST_BODY = symbolNamed("serve fast body");
const FAST_KIND = symbolNamed("serve fast header kind");
const FAST_TYPE = symbolNamed("serve fast content type");
const FAST_USED = symbolNamed("serve fast consumed");

/** `serve fast header kind`: no header, the default text one, or `serve fast content type`. */
const KIND_NONE = 0;
const KIND_DEFAULT_TEXT = 1;
const KIND_CONTENT_TYPE = 2;

const NO_HEADERS: readonly string[] = Object.freeze([]);
const DEFAULT_TEXT: readonly string[] = Object.freeze([
  "content-type",
  "text/plain;charset=UTF-8",
]);

/** Whether the internals mean what this module assumes, checked on probe responses. */
function internalsAsExpected(): boolean {
  if (
    INNER === undefined || LAZY_BODY === undefined ||
    LAZY_TYPE === undefined || FAST_STATUS === undefined ||
    FAST_BODY === undefined || FAST_KIND === undefined ||
    FAST_TYPE === undefined || FAST_USED === undefined
  ) return false;
  const text = probe as unknown as Internal;
  const json = Response.json(1) as unknown as Internal;
  const bytes = new Response(new Uint8Array(1)) as unknown as Internal;
  const other = new Response("x", { status: 201 }) as unknown as Internal;
  const inner = other[INNER] as InnerResponse | undefined;
  return text[FAST_STATUS] === 200 && text[FAST_BODY] === "x" &&
    text[FAST_KIND] === KIND_DEFAULT_TEXT && text[FAST_USED] === false &&
    json[FAST_KIND] === KIND_CONTENT_TYPE &&
    json[FAST_TYPE] === "application/json" &&
    bytes[FAST_KIND] === KIND_NONE && bytes[FAST_BODY] instanceof Uint8Array &&
    other[FAST_STATUS] === 0 && inner !== undefined && inner.status === 201 &&
    Array.isArray(inner.headerList) && inner.body !== null &&
    typeof inner.body.consumed === "function" && staticBody(inner.body);
}

/** Whether `body` keeps a known-up-front body as `readInner` takes it: `{ body, consumed }`. */
function staticBody(body: InnerBody): boolean {
  const known = body.streamOrStatic;
  return known !== undefined && !(known instanceof ReadableStream) &&
    known.body === "x" && known.consumed === false;
}
const INTERNALS = internalsAsExpected();

/** Responses served through the general path: returning one again is refused, as in Deno. */
const answered = new WeakSet<Response>();

function consumedError(): TypeError {
  return new TypeError(
    "The body of the Response returned from the serve handler has already been consumed",
  );
}

/**
 * Reads what serving `value` needs, refusing what `Deno.serve` refuses with the same
 * `TypeError`s: not a `Response` (a look-alike too), `Response.error()`, a used body, or a
 * `Response` already served. Marks `value` served and its body used. A body known up front
 * (a string or bytes, any length) comes inline, as `Deno.serve` takes it: read here, with
 * no user code running in between (a read through `bytes()` would settle a turn later, and
 * a clone sharing these bytes could detach them meanwhile). Inline bytes may be shared
 * with a clone of `value`: hand them over or copy them before user code runs again. The
 * object returned may be refilled by the next call: read it at once.
 *
 * @example
 * ```ts
 * import { BODY_INLINE, readResponse } from "./response.ts";
 * const parts = readResponse(new Response("hi"));
 * console.assert(parts.read === BODY_INLINE && parts.body === "hi");
 * console.assert(parts.headers[1] === "text/plain;charset=UTF-8");
 * ```
 */
export function readResponse(value: unknown): ResponseParts {
  if (!(value instanceof Response)) {
    throw new TypeError(
      "Return value from serve handler must be a response or a promise resolving to a response",
    );
  }
  return readParts(value);
}

/**
 * An answer that the kernel's server sends as it is, without a `Response`: what an app
 * built itself for that server alone (`app.serve`), where no other code sees a `Response`.
 * Building and reading a `Response` whose headers are not one of Deno's literal content
 * types costs ≈ 1 µs; this is a few fields. The builder checks what `Response` and
 * `Headers` would: a status in 200–599 (101/204/205/304 without a body) and ByteString
 * header names (lower case) and values.
 *
 * @example
 * ```ts
 * import { KernelAnswer } from "./response.ts";
 * const json = Object.freeze(["content-type", "application/json"]);
 * const answer = new KernelAnswer(201, json, '{"id":1}', ["x-request-id", "r1"]);
 * console.assert(answer.status === 201 && answer.more.length === 2);
 * ```
 */
export class KernelAnswer {
  /** HTTP status. */
  readonly status: number;
  /**
   * Alternating names and values; a frozen list many answers share is encoded once
   * (`records.ts`).
   */
  readonly headers: readonly string[];
  /** The body, or `null` for none. */
  readonly body: string | null;
  /** This answer's own pairs, sent after `headers`. */
  readonly more: readonly string[];
  /**
   * Whether the kernel adds `traceparent` (`00-<trace id>-<span id>-01`) and
   * `x-request-id` for the request's own ids (`info.ctx`) after all other headers, so
   * they need not be built as strings here.
   */
  readonly traceHeaders: boolean;

  /**
   * An answer of `status` with `headers`, then `more`, then (with `traceHeaders`) the
   * request's trace headers, and `body`.
   */
  constructor(
    status: number,
    headers: readonly string[],
    body: string | null,
    more: readonly string[] = [],
    traceHeaders = false,
  ) {
    this.status = status;
    this.headers = headers;
    this.body = body;
    this.more = more;
    this.traceHeaders = traceHeaders;
  }
}

function readParts(value: Response): ResponseParts {
  if (!INTERNALS) return readPublic(value);
  const r = value as unknown as Internal;
  const inner = r[INNER!] as InnerResponse | undefined;
  if (inner === undefined) {
    throw new TypeError(
      "Return value from serve handler must be a Response constructed via the Response constructor",
    );
  }
  if (inner.type === "error") throw errorResponse();
  if (used(r, inner)) throw consumedError();
  // The public getter, not the inner field: `upgradeWebSocket` answers with a Response whose
  // `status` reads 101 (a status the constructor refuses).
  const status = value.status;
  const fast = r[FAST_BODY!] as string | Uint8Array<ArrayBuffer> | null;
  if (r[FAST_STATUS!] === status && fast !== null) {
    // Deno.serve marks what it served so: the body reads as used afterwards. (A clone
    // may share these bytes: the caller copies them before any user code runs again.)
    r[FAST_USED!] = true;
    const kind = r[FAST_KIND!];
    FAST.status = status;
    FAST.headers = kind === KIND_NONE
      ? NO_HEADERS
      : kind === KIND_DEFAULT_TEXT
      ? DEFAULT_TEXT
      : contentType(r[FAST_TYPE!] as string);
    FAST.body = fast;
    return FAST;
  }
  return readInner(value, status, r, inner);
}

/** What the common shapes answer with, refilled by each call (no object per response). */
const FAST: ResponseParts = {
  status: 200,
  headers: NO_HEADERS,
  read: BODY_INLINE,
  body: null,
};
/** The last content type header list made (most responses of a server share one). */
let typed: readonly string[] = DEFAULT_TEXT;

function contentType(type: string): readonly string[] {
  if (typed[1] !== type) typed = Object.freeze(["content-type", type]);
  return typed;
}

function errorResponse(): TypeError {
  return new TypeError(
    "Return value from serve handler must not be an error response (like Response.error())",
  );
}

/** `bodyUsed` without turning a lazy body into a real one (as `Deno.serve` checks it). */
function used(r: Internal, inner: InnerResponse): boolean {
  if (r[FAST_USED!] === true) return true;
  const lazy = r[LAZY_BODY!];
  if (lazy !== null && lazy !== undefined) return false;
  if (inner.body === null) return false;
  try {
    return inner.body.consumed();
  } catch {
    return true;
  }
}

/** The general path: any status, header list and body, from the inner response. */
function readInner(
  response: Response,
  status: number,
  r: Internal,
  inner: InnerResponse,
): ResponseParts {
  if (answered.has(response)) throw consumedError();
  if (
    (r[LAZY_BODY!] ?? null) !== null || (r[LAZY_TYPE!] ?? null) !== null
  ) {
    // A lazily kept body or content type (rare here): Deno's own getter settles both
    // into the inner response.
    void response.headers;
  }
  const list = inner.headerList;
  const headers: string[] = [];
  for (let i = 0; i < list.length; i++) {
    const name = list[i][0];
    // A body `fetch` decompressed no longer matches its wire framing headers; Deno.serve
    // drops them too.
    if (inner.bodyDecoded && framing(name)) continue;
    headers.push(name, list[i][1]);
  }
  const body = inner.body;
  if (body === null) return { status, headers, read: BODY_INLINE, body: null };
  answered.add(response);
  const known = body.streamOrStatic;
  if (known === undefined || known instanceof ReadableStream) {
    return { status, headers, read: BODY_STREAM, body: null };
  }
  // A body known up front: the copy Deno made when the Response was built (or the bytes
  // a clone shares), taken and marked used as Deno.serve does.
  known.consumed = true;
  return { status, headers, read: BODY_INLINE, body: known.body };
}

function framing(name: string): boolean {
  const lower = name.toLowerCase();
  return lower === "content-encoding" || lower === "content-length" ||
    lower === "transfer-encoding";
}

/** Without usable internals: the public API only. */
function readPublic(response: Response): ResponseParts {
  // Reading a field also refuses look-alikes built on `Response.prototype` (a TypeError).
  if (response.type === "error") throw errorResponse();
  if (response.bodyUsed || answered.has(response)) throw consumedError();
  const headers: string[] = [];
  // `forEach`, not `for…of`: user code may have replaced the array iterator.
  response.headers.forEach((value, name) => {
    headers.push(name, value);
  });
  if (response.body === null) {
    return { status: response.status, headers, read: BODY_INLINE, body: null };
  }
  answered.add(response);
  return { status: response.status, headers, read: BODY_STREAM, body: null };
}

/**
 * An answer still to come that the kernel's server follows without a promise: it calls
 * `start` once, at once, with its own `resolve` and `reject` (as `new Promise` runs its
 * executor), and takes the first settlement. What an app hands over when its pipeline's
 * outcome is pending: a promise would cost its allocations and one more turn.
 *
 * @example
 * ```ts
 * import { KernelAnswer, LaterAnswer } from "./response.ts";
 * const later = new LaterAnswer((resolve) =>
 *   queueMicrotask(() => resolve(new KernelAnswer(204, [], null)))
 * );
 * later.start((answer) => console.assert(answer instanceof KernelAnswer), () => {});
 * ```
 */
export class LaterAnswer {
  /** Starts the work; it ends by calling `resolve` or `reject`. */
  readonly start: (
    resolve: (answer: Response | KernelAnswer) => void,
    reject: (error: unknown) => void,
  ) => void;

  /** An answer that `start` produces. */
  constructor(start: LaterAnswer["start"]) {
    this.start = start;
  }
}

/**
 * A handler the kernel's server runs: a `ServeHandler`, or one that may answer with a
 * `KernelAnswer`, later, or with a pipeline's `Pending` whose outcome is the answer (an
 * app's handler: followed without a promise or a `LaterAnswer`).
 */
export type AnswerHandler = (
  request: Request,
  info: ServeHandlerInfo,
) =>
  | Response
  | KernelAnswer
  | LaterAnswer
  | Pending
  | Promise<Response | KernelAnswer>;

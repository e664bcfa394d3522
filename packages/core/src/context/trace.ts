/**
 * W3C Trace Context (`traceparent`) parsing, formatting and id generation.
 *
 * Ids are lower-case hex: 32 characters for a trace id, 16 for a span id. All-zero ids are
 * invalid by the specification and are never generated.
 *
 * @module
 */

// Tested without capture groups and sliced at fixed offsets: this runs on every request
// that carries a traceparent, and a capturing match costs several times more.
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
const ZERO_TRACE = "0".repeat(32);
const F = 0x66;

/** The value of a lower-case hex digit's character code. */
function hexDigit(code: number): number {
  return code <= 0x39 ? code - 0x30 : code - 0x57;
}
const ZERO_SPAN = "0".repeat(16);
const HEX: string[] = Array.from(
  { length: 256 },
  (_, i) => i.toString(16).padStart(2, "0"),
);

/**
 * The parts of a W3C `traceparent` header.
 *
 * @example
 * ```ts
 * import { parseTraceparent, type TraceParent } from "./trace.ts";
 * const tp: TraceParent | undefined = parseTraceparent(
 *   "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
 * );
 * console.assert(tp?.parentSpanId === "00f067aa0ba902b7" && tp.flags === 1);
 * ```
 */
export interface TraceParent {
  /** 32 lower-case hex characters identifying the whole trace. */
  traceId: string;
  /** 16 lower-case hex characters identifying the caller's span. */
  parentSpanId: string;
  /** Trace flags; bit 0 is "sampled". */
  flags: number;
}

// Ids are made on every request; one getRandomValues call costs ~0.6 µs, so random bytes are
// drawn 4 KiB at a time and consumed from this pool (ids are identifiers, not secrets).
const POOL = new Uint8Array(4096);
let poolPos = POOL.length;
/** Character codes of the lower-case hex digits. */
const DIGITS = Array.from("0123456789abcdef", (c) => c.charCodeAt(0));
/** Character codes of the span id / trace id being made, reused. */
const CODES_8: number[] = new Array(16).fill(0);
const CODES_16: number[] = new Array(32).fill(0);

function randomHex(bytes: 8 | 16): string {
  if (poolPos + bytes > POOL.length) {
    crypto.getRandomValues(POOL);
    poolPos = 0;
  }
  // One flat string from char codes: appending two-digit strings made a rope of 16 pieces
  // that cost ~3x more to build and to flatten later.
  const codes = bytes === 16 ? CODES_16 : CODES_8;
  for (let i = 0; i < bytes; i++) {
    const b = POOL[poolPos++];
    codes[2 * i] = DIGITS[b >> 4];
    codes[2 * i + 1] = DIGITS[b & 15];
  }
  return String.fromCharCode.apply(null, codes);
}

/**
 * Generates a random, non-zero 32-character trace id.
 *
 * @example
 * ```ts
 * import { newTraceId } from "./trace.ts";
 * const id = newTraceId();
 * console.assert(id.length === 32);
 * ```
 */
export function newTraceId(): string {
  let id = randomHex(16);
  while (id === ZERO_TRACE) id = randomHex(16);
  return id;
}

/**
 * Generates a random, non-zero 16-character span id.
 *
 * @example
 * ```ts
 * import { newSpanId } from "./trace.ts";
 * console.assert(newSpanId().length === 16);
 * ```
 */
export function newSpanId(): string {
  let id = randomHex(8);
  while (id === ZERO_SPAN) id = randomHex(8);
  return id;
}

/**
 * Parses a `traceparent` header; returns `undefined` for anything malformed, including the
 * invalid version `ff` and all-zero ids, so a bad header starts a new trace instead of failing.
 *
 * @example
 * ```ts
 * import { parseTraceparent } from "./trace.ts";
 * const tp = parseTraceparent(
 *   "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
 * );
 * console.assert(tp?.traceId === "4bf92f3577b34da6a3ce929d0e0e4736");
 * ```
 */
export function parseTraceparent(
  header: string | null | undefined,
): TraceParent | undefined {
  if (!header) return undefined;
  // Senders must use lower case without padding; normalise only when one did not.
  let tp = header;
  if (!TRACEPARENT.test(tp)) {
    tp = header.trim().toLowerCase();
    if (!TRACEPARENT.test(tp)) return undefined;
  }
  // Version and flags are read from their character codes (the test above made them hex).
  if (tp.charCodeAt(0) === F && tp.charCodeAt(1) === F) return undefined; // "ff"
  const traceId = tp.slice(3, 35);
  const parentSpanId = tp.slice(36, 52);
  if (traceId === ZERO_TRACE || parentSpanId === ZERO_SPAN) return undefined;
  const flags = hexDigit(tp.charCodeAt(53)) * 16 + hexDigit(tp.charCodeAt(54));
  return { traceId, parentSpanId, flags };
}

/**
 * Formats a version-00 `traceparent` header for an outgoing request or a response.
 *
 * @example
 * ```ts
 * import { formatTraceparent } from "./trace.ts";
 * const header = formatTraceparent(
 *   "4bf92f3577b34da6a3ce929d0e0e4736",
 *   "00f067aa0ba902b7",
 * );
 * console.assert(header.endsWith("-01"));
 * ```
 */
export function formatTraceparent(
  traceId: string,
  spanId: string,
  flags = 1,
): string {
  return `00-${traceId}-${spanId}-${HEX[flags & 0xff]}`;
}

/**
 * W3C Trace Context (`traceparent`) parsing, formatting and id generation.
 *
 * Ids are lower-case hex: 32 characters for a trace id, 16 for a span id. All-zero ids are
 * invalid by the specification and are never generated.
 *
 * @module
 */

const ZERO_TRACE = "0".repeat(32);
const F = 0x66;
const DASH = 0x2d;
/** 1 at the character code of each lower-case hex digit. */
const IS_HEX = new Uint8Array(128);
for (const c of "0123456789abcdef") IS_HEX[c.charCodeAt(0)] = 1;

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
/** Character codes of the high and the low hex digit of each byte value. */
const HI = new Uint8Array(256);
const LO = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  HI[b] = "0123456789abcdef".charCodeAt(b >> 4);
  LO[b] = "0123456789abcdef".charCodeAt(b & 15);
}

/** The pool's position of `bytes` fresh random bytes. */
function draw(bytes: number): number {
  if (poolPos + bytes > POOL.length) {
    crypto.getRandomValues(POOL);
    poolPos = 0;
  }
  const at = poolPos;
  poolPos += bytes;
  return at;
}

/**
 * 16 hex digits of the 8 bytes at `p`, as one flat string. `String.fromCharCode` with its
 * arguments written out costs about two thirds of `apply` over an array of codes; appending
 * two-digit strings made a rope that cost ~3x more to build and to flatten later.
 */
function hex8(p: number): string {
  const a = POOL[p], b = POOL[p + 1], c = POOL[p + 2], d = POOL[p + 3];
  const e = POOL[p + 4], f = POOL[p + 5], g = POOL[p + 6], h = POOL[p + 7];
  return String.fromCharCode(
    HI[a],
    LO[a],
    HI[b],
    LO[b],
    HI[c],
    LO[c],
    HI[d],
    LO[d],
    HI[e],
    LO[e],
    HI[f],
    LO[f],
    HI[g],
    LO[g],
    HI[h],
    LO[h],
  );
}

/** 32 hex digits of the 16 bytes at `p`. */
function hex16(p: number): string {
  return hex8(p) + hex8(p + 8);
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
  let id = hex16(draw(16));
  while (id === ZERO_TRACE) id = hex16(draw(16));
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
  let id = hex8(draw(8));
  while (id === ZERO_SPAN) id = hex8(draw(8));
  return id;
}

/** Whether the characters of `s` from `from` to `to` are lower-case hex digits. */
function hexRun(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    if (IS_HEX[s.charCodeAt(i)] !== 1) return false; // past the table: undefined
  }
  return true;
}

/**
 * Whether `s` has the grammar's shape: lower-case hex fields of 2, 32, 16 and 2 digits
 * joined by dashes. Checked a field at a time from a table: this runs on every request
 * that carries a traceparent, and the regular expression cost more on a flat header
 * string (≈77 against ≈57 ns here; one loop skipping the dashes by index, ≈78).
 */
function traceparentShape(s: string): boolean {
  return s.length === 55 && s.charCodeAt(2) === DASH &&
    s.charCodeAt(35) === DASH && s.charCodeAt(52) === DASH &&
    hexRun(s, 0, 2) && hexRun(s, 3, 35) && hexRun(s, 36, 52) &&
    hexRun(s, 53, 55);
}

/**
 * A `traceparent` header checked as {@linkcode parseTraceparent} checks it, without taking
 * it apart: the valid value in lower case without padding, else `undefined`. Its trace id
 * is the characters 3 to 35, the parent span id 36 to 52, the flags 53 and 54. A host
 * that may never need the parts keeps this string and slices them out when asked.
 *
 * @example
 * ```ts
 * import { checkTraceparent } from "./trace.ts";
 * const tp = checkTraceparent(
 *   " 00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
 * );
 * console.assert(tp?.slice(3, 35) === "4bf92f3577b34da6a3ce929d0e0e4736");
 * console.assert(checkTraceparent("ff-" + tp?.slice(3)) === undefined);
 * ```
 */
export function checkTraceparent(
  header: string | null | undefined,
): string | undefined {
  if (!header) return undefined;
  // Senders must use lower case without padding; normalise only when one did not.
  let tp = header;
  if (!traceparentShape(tp)) {
    tp = header.trim().toLowerCase();
    if (!traceparentShape(tp)) return undefined;
  }
  if (tp.charCodeAt(0) === F && tp.charCodeAt(1) === F) return undefined; // "ff"
  // All-zero ids are invalid; compared in place, without slicing them out.
  if (tp.startsWith(ZERO_TRACE, 3) || tp.startsWith(ZERO_SPAN, 36)) {
    return undefined;
  }
  return tp;
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
  const tp = checkTraceparent(header);
  if (tp === undefined) return undefined;
  // Flags are read from their character codes (the check made them hex).
  return {
    traceId: tp.slice(3, 35),
    parentSpanId: tp.slice(36, 52),
    flags: hexDigit(tp.charCodeAt(53)) * 16 + hexDigit(tp.charCodeAt(54)),
  };
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

/**
 * KNUL frames (`docs/knul.md` §2) on the TypeScript side: a type byte, a big-endian u32
 * length, the payload.
 *
 * @module
 */

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { KnulStatusSchema } from "@krepis/bindings";

/** Frame type of the call header. */
export const HEADER = 0x01;
/** Frame type of one message. */
export const MESSAGE = 0x02;
/** Frame type of the final status. */
export const STATUS = 0x03;
/** Bytes before a payload. */
export const PREFIX = 5;
/** `STATUS{code: 0}`: an empty KnulStatus is OK. */
export const STATUS_OK: Uint8Array<ArrayBuffer> = new Uint8Array([
  STATUS,
  0,
  0,
  0,
  0,
]);

const encoder = new TextEncoder();

/** One frame of `kind` around `payload`. */
export function frame(
  kind: number,
  payload: Uint8Array,
): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(PREFIX + payload.length);
  out[0] = kind;
  new DataView(out.buffer).setUint32(1, payload.length);
  out.set(payload, PREFIX);
  return out;
}

/** A MESSAGE frame holding `text` as UTF-8, encoded straight into the frame. */
export function textFrame(text: string): Uint8Array<ArrayBuffer> {
  // UTF-8 takes at most 3 bytes per UTF-16 unit.
  const out = new Uint8Array(PREFIX + text.length * 3);
  const { written } = encoder.encodeInto(text, out.subarray(PREFIX));
  out[0] = MESSAGE;
  new DataView(out.buffer).setUint32(1, written);
  return out.subarray(0, PREFIX + written);
}

/** A MESSAGE frame followed by STATUS OK: a unary success, in one buffer. */
export function okFrames(text: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(2 * PREFIX + text.length * 3);
  const { written } = encoder.encodeInto(text, out.subarray(PREFIX));
  out[0] = MESSAGE;
  new DataView(out.buffer).setUint32(1, written);
  out[PREFIX + written] = STATUS;
  return out.subarray(0, 2 * PREFIX + written);
}

/** A STATUS frame. */
export function statusFrame(
  code: number,
  message: string,
  details: Uint8Array | undefined,
  errorCode: string | undefined,
): Uint8Array<ArrayBuffer> {
  const status = create(KnulStatusSchema, {
    code,
    message,
    details: details ?? new Uint8Array(0),
    errorCode: errorCode ?? "",
  });
  return frame(STATUS, toBinary(KnulStatusSchema, status));
}

/** A decoded STATUS frame. */
export interface DecodedStatus {
  /** Status code. */
  code: number;
  /** Message. */
  message: string;
  /** Raw details. */
  details: Uint8Array;
  /** Application error code, "" when none. */
  errorCode: string;
}

/** Decodes a STATUS payload. */
export function decodeStatus(payload: Uint8Array): DecodedStatus {
  const s = fromBinary(KnulStatusSchema, payload);
  return {
    code: s.code,
    message: s.message,
    // Copied: the payload may be a view of kernel memory that is detached next.
    details: s.details.slice(),
    errorCode: s.errorCode,
  };
}

/**
 * Calls `onFrame` for each whole frame in `bytes[start, end)` and returns where the
 * first incomplete frame starts (`end` when all were whole).
 */
export function eachFrame(
  bytes: Uint8Array,
  start: number,
  end: number,
  onFrame: (kind: number, from: number, to: number) => void,
): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = start;
  while (end - at >= PREFIX) {
    const len = view.getUint32(at + 1);
    if (at + PREFIX + len > end) break;
    onFrame(bytes[at], at + PREFIX, at + PREFIX + len);
    at += PREFIX + len;
  }
  return at;
}

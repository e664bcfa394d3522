/**
 * Reading request records from an inbox and writing response records into the outbox.
 * The byte layout is documented in `crates/krepis-kernel/src/http/record.rs`.
 *
 * @module
 */

import {
  ABORT_LEN,
  AT_FLAGS,
  AT_ID,
  AT_KIND,
  AT_LEN,
  FLAG_ASCII,
  KIND_ABORT,
  KIND_REQUEST,
  KIND_RETURNED,
  REQ_BODY_ADDR,
  REQ_BODY_LEN,
  REQ_COUNT,
  REQ_DEADLINE,
  REQ_IP_LEN,
  REQ_METHOD_LEN,
  REQ_PARENT_LEN,
  REQ_PORT,
  REQ_TEXT_LEN,
  REQ_URL_LEN,
  REQUEST_FIXED,
  RES_BODY_LEN,
  RES_COUNT,
  RES_STATUS,
  RESPONSE_FIXED,
} from "@krepis/bindings";

// Kinds and flags the server uses; the layout is generated from the kernel's definition.
export {
  FLAG_BODY_BUFFERED,
  FLAG_BODY_STREAMED,
  FLAG_STAGED_BODY,
  FLAG_WEBSOCKET,
  KIND_ABORT,
  KIND_RELEASE,
  KIND_RESPOND,
  KIND_RESPOND_STREAM,
  KIND_RETURNED,
} from "@krepis/bindings";

const utf8 = new TextDecoder();
const encoder = new TextEncoder();

/** One request as the kernel described it. */
export interface RequestRecord {
  /** Request id. */
  id: number;
  /** `FLAG_*` bits. */
  flags: number;
  /** Address of a buffered body. */
  bodyAddr: number;
  /** Buffered length, or Content-Length / -1 for a streamed body. */
  bodyLen: number;
  /** Deadline in ms since the epoch, 0 when none. */
  deadline: number;
  /** Method. */
  method: string;
  /** Absolute URL. */
  url: string;
  /** Client IP. */
  remoteIp: string;
  /** Client port. */
  remotePort: number;
  /** 16 hex. */
  requestId: string;
  /** 32 hex. */
  traceId: string;
  /** 16 hex. */
  spanId: string;
  /** 16 hex or "". */
  parentSpanId: string;
  /** Header names and values, flat: `[name0, value0, name1, value1, ...]`. */
  headers: string[];
}

/** Header values that are not ASCII are byte strings, as in `Headers`: one char a byte. */
function latin1(bytes: Uint8Array, start: number, end: number): string {
  let out = "";
  for (let i = start; i < end; i++) out += String.fromCharCode(bytes[i]);
  return out;
}

/**
 * Calls `onRequest` for each request record, `onAbort` for each abort notice and
 * `onReturned` for each returned loan in the first `length` bytes of an inbox.
 *
 * @example
 * ```ts ignore
 * import { readRecords } from "./records.ts";
 * declare const view: DataView, bytes: Uint8Array, length: number;
 * readRecords(view, bytes, length, (r) => console.log(r.url), console.log, console.log);
 * ```
 */
export function readRecords(
  view: DataView,
  bytes: Uint8Array,
  length: number,
  onRequest: (record: RequestRecord) => void,
  onAbort: (id: number) => void,
  onReturned: (token: number) => void,
): void {
  let at = 0;
  while (at < length) {
    const len = view.getUint32(at + AT_LEN, true);
    if (len < ABORT_LEN || at + len > length) {
      throw new Error(`corrupt request record at byte ${at}`);
    }
    const id = view.getFloat64(at + AT_ID, true);
    const kind = bytes[at + AT_KIND];
    if (kind === KIND_REQUEST) onRequest(readRequest(view, bytes, at, id));
    else if (kind === KIND_ABORT) onAbort(id);
    else if (kind === KIND_RETURNED) onReturned(id);
    at += len;
  }
}

function readRequest(
  view: DataView,
  bytes: Uint8Array,
  at: number,
  id: number,
): RequestRecord {
  const flags = bytes[at + AT_FLAGS];
  const count = view.getUint16(at + REQ_COUNT, true);
  const urlLen = view.getUint32(at + REQ_URL_LEN, true);
  const methodLen = view.getUint16(at + REQ_METHOD_LEN, true);
  const ipLen = view.getUint16(at + REQ_IP_LEN, true);
  const parentLen = view.getUint16(at + REQ_PARENT_LEN, true);
  const textLen = view.getUint32(at + REQ_TEXT_LEN, true);
  const table = at + REQUEST_FIXED;
  const textStart = table + count * 8;
  const headers = new Array<string>(count * 2);
  let method: string, url: string, remoteIp: string, ids: string;
  if (flags & FLAG_ASCII) {
    // One decode for the whole record; the fields are slices of it.
    const text = utf8.decode(bytes.subarray(textStart, textStart + textLen));
    let p = 0;
    method = text.slice(p, p += methodLen);
    url = text.slice(p, p += urlLen);
    remoteIp = text.slice(p, p += ipLen);
    ids = text.slice(p, p += 64 + parentLen);
    for (let i = 0; i < count; i++) {
      const n = view.getUint32(table + i * 8, true);
      const v = view.getUint32(table + i * 8 + 4, true);
      headers[2 * i] = text.slice(p, p += n);
      headers[2 * i + 1] = text.slice(p, p += v);
    }
  } else {
    let p = textStart;
    const take = (n: number) => utf8.decode(bytes.subarray(p, p += n));
    method = take(methodLen);
    url = take(urlLen);
    remoteIp = take(ipLen);
    ids = take(64 + parentLen);
    for (let i = 0; i < count; i++) {
      const n = view.getUint32(table + i * 8, true);
      const v = view.getUint32(table + i * 8 + 4, true);
      headers[2 * i] = take(n);
      headers[2 * i + 1] = latin1(bytes, p, p += v);
    }
  }
  return {
    id,
    flags,
    bodyAddr: view.getFloat64(at + REQ_BODY_ADDR, true),
    bodyLen: view.getFloat64(at + REQ_BODY_LEN, true),
    deadline: view.getFloat64(at + REQ_DEADLINE, true),
    method,
    url,
    remoteIp,
    remotePort: view.getUint16(at + REQ_PORT, true),
    requestId: ids.slice(0, 16),
    traceId: ids.slice(16, 48),
    spanId: ids.slice(48, 64),
    parentSpanId: ids.slice(64),
    headers,
  };
}

/**
 * Writes one response record at `at` and returns its length, or -1 when it does not fit in
 * `bytes.length - at` bytes. `body` is inline (a string is encoded straight into the
 * outbox, its only copy).
 *
 * @example
 * ```ts ignore
 * import { KIND_RESPOND, writeResponse } from "./records.ts";
 * declare const view: DataView, bytes: Uint8Array;
 * const n = writeResponse(view, bytes, 0, KIND_RESPOND, 0, 200, 7, ["a", "1"], "hi");
 * ```
 */
export function writeResponse(
  view: DataView,
  bytes: Uint8Array,
  at: number,
  kind: number,
  flags: number,
  status: number,
  id: number,
  headers: string[],
  body: string | Uint8Array | null,
): number {
  const count = headers.length >> 1;
  const table = at + RESPONSE_FIXED;
  let p = table + count * 8;
  if (p > bytes.length) return -1;
  for (let i = 0; i < headers.length; i++) {
    const s = headers[i];
    // A header string never needs more than 3 bytes per UTF-16 unit.
    if (p + s.length * 3 > bytes.length) return -1;
    let { written } = encoder.encodeInto(s, bytes.subarray(p));
    // Header values are ByteStrings (`Headers` refuses code points above U+00FF): on the
    // wire each char is one Latin-1 byte, as Deno.serve sends them, not UTF-8.
    if (written !== s.length) written = writeLatin1(s, bytes, p);
    view.setUint32(table + i * 4, written, true);
    p += written;
  }
  let bodyLen = 0;
  if (typeof body === "string") {
    if (p + body.length * 3 > bytes.length) {
      if (p + encodedLength(body) > bytes.length) return -1;
    }
    bodyLen = encoder.encodeInto(body, bytes.subarray(p)).written;
  } else if (body !== null) {
    if (p + body.length > bytes.length) return -1;
    bytes.set(body, p);
    bodyLen = body.length;
  }
  p += bodyLen;
  const len = (p - at + 7) & ~7;
  if (at + len > bytes.length) return -1;
  view.setUint32(at + AT_LEN, len, true);
  bytes[at + AT_KIND] = kind;
  bytes[at + AT_FLAGS] = flags;
  view.setUint16(at + RES_STATUS, status, true);
  view.setFloat64(at + AT_ID, id, true);
  view.setUint32(at + RES_COUNT, count, true);
  view.setUint32(at + RES_BODY_LEN, bodyLen, true);
  return len;
}

function writeLatin1(s: string, bytes: Uint8Array, at: number): number {
  for (let i = 0; i < s.length; i++) bytes[at + i] = s.charCodeAt(i);
  return s.length;
}

/** UTF-8 length of `s` without encoding it. */
function encodedLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

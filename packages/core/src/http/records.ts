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
  REQ_BODY_ADDR,
  REQ_BODY_LEN,
  REQ_COUNT,
  REQ_DEADLINE,
  REQ_IP_LEN,
  REQ_METHOD_LEN,
  REQ_PARENT_LEN,
  REQ_PORT,
  REQ_REQUEST_ID_LEN,
  REQ_TEXT_LEN,
  REQ_URL_LEN,
  REQUEST_FIXED,
  RES_BODY_LEN,
  RES_COUNT,
  RES_STATUS,
  RESPONSE_FIXED,
} from "@krepis/bindings";
import { Buffer } from "node:buffer";

// Kinds and flags the server uses; the layout is generated from the kernel's definition.
export {
  FLAG_BODY_BUFFERED,
  FLAG_BODY_STREAMED,
  FLAG_STAGED_BODY,
  FLAG_TRACE_HEADERS,
  FLAG_WEBSOCKET,
  KIND_ABORT,
  KIND_RELEASE,
  KIND_RESPOND,
  KIND_RESPOND_STREAM,
} from "@krepis/bindings";

const utf8 = new TextDecoder();
const encoder = new TextEncoder();

/**
 * One request as the kernel described it. The strings are decoded once, as one block of
 * text, and each field is cut out of it only when read: a handler that reads the URL pays
 * for the URL alone, not for the headers and trace ids it never looks at.
 */
export class RequestRecord {
  /** Request id. */
  readonly id: number;
  /** `FLAG_*` bits. */
  readonly flags: number;
  /** Address of a buffered body. */
  readonly bodyAddr: number;
  /** Buffered length, or Content-Length / -1 for a streamed body. */
  readonly bodyLen: number;
  /** Deadline in ms since the epoch, 0 when none. */
  readonly deadline: number;
  /** Client port. */
  readonly remotePort: number;
  /**
   * Holds, from `#start` on, the method, URL, remote IP, the ids, then each header name and
   * value, back to back (for ASCII records, the text of several records read at once).
   */
  #text: string;
  #start: number;
  #methodEnd: number;
  #urlEnd: number;
  #ipEnd: number;
  /** End of the request id (the caller's or the kernel's), where the trace id starts. */
  #idEnd: number;
  #parentLen: number;
  /** Lengths (in `#text`) of each header name and value, in order. */
  #lengths: number[];
  #method: string | undefined;
  #url: string | undefined;

  /**
   * Reads the numbers of the record at `at` of `view`; `text` holds its strings from
   * `start` on, measured by `methodLen`, `urlLen` and `lengths` (the remote IP and the ids
   * are ASCII, so their lengths in the record are theirs in `text` too). Made by
   * {@linkcode readRecords}.
   */
  constructor(
    view: DataView,
    at: number,
    text: string,
    start: number,
    methodLen: number,
    urlLen: number,
    lengths: number[],
  ) {
    const ipLen = view.getUint16(at + REQ_IP_LEN, true);
    this.id = view.getFloat64(at + AT_ID, true);
    this.flags = view.getUint8(at + AT_FLAGS);
    this.bodyAddr = view.getFloat64(at + REQ_BODY_ADDR, true);
    this.bodyLen = view.getFloat64(at + REQ_BODY_LEN, true);
    this.deadline = view.getFloat64(at + REQ_DEADLINE, true);
    this.remotePort = view.getUint16(at + REQ_PORT, true);
    this.#parentLen = view.getUint8(at + REQ_PARENT_LEN);
    this.#text = text;
    this.#start = start;
    this.#methodEnd = start + methodLen;
    this.#urlEnd = this.#methodEnd + urlLen;
    this.#ipEnd = this.#urlEnd + ipLen;
    this.#idEnd = this.#ipEnd + view.getUint8(at + REQ_REQUEST_ID_LEN);
    this.#lengths = lengths;
  }

  /** Method (a common one as its literal). */
  get method(): string {
    return this.#method ??= methodOf(this.#text, this.#start, this.#methodEnd);
  }
  /** Absolute URL. */
  get url(): string {
    return this.#url ??= this.#text.slice(this.#methodEnd, this.#urlEnd);
  }
  /** Client IP. */
  get remoteIp(): string {
    return this.#text.slice(this.#urlEnd, this.#ipEnd);
  }
  /** The caller's well-formed `x-request-id` (1 to 128 visible ASCII), or 16 hex. */
  get requestId(): string {
    return this.#text.slice(this.#ipEnd, this.#idEnd);
  }
  /** 32 hex. */
  get traceId(): string {
    return this.#text.slice(this.#idEnd, this.#idEnd + 32);
  }
  /** 16 hex. */
  get spanId(): string {
    return this.#text.slice(this.#idEnd + 32, this.#idEnd + 48);
  }
  /** 16 hex or "". */
  get parentSpanId(): string {
    const at = this.#idEnd + 48;
    return this.#text.slice(at, at + this.#parentLen);
  }
  /** Header names and values, flat: `[name0, value0, name1, value1, ...]` (a new array). */
  get headers(): string[] {
    const lengths = this.#lengths;
    const out = new Array<string>(lengths.length);
    let p = this.#idEnd + 48 + this.#parentLen;
    for (let i = 0; i < lengths.length; i++) {
      out[i] = this.#text.slice(p, p += lengths[i]);
    }
    return out;
  }
}

/**
 * Methods a request's is compared with before it is cut out of the text: their literals are
 * internalized strings with their hash computed, so the router's method map and the
 * handler's method set find them at once, where a new string is hashed and compared char
 * by char in each (the todo router's match took ≈ 160 against ≈ 120 ns).
 */
const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

/** The method from `start` to `end` of `text`: a literal of `METHODS`, or a new string. */
function methodOf(text: string, start: number, end: number): string {
  const length = end - start;
  for (let i = 0; i < METHODS.length; i++) {
    const m = METHODS[i];
    if (m.length === length && text.startsWith(m, start)) return m;
  }
  return text.slice(start, end);
}

const NO_LENGTHS: number[] = [];

/**
 * Bytes of an inbox decoded in one go for the small ASCII records in them. A decode costs
 * about the same for 8 bytes as for 400 (a call into Deno's Buffer op), so a batch of small
 * records (a few headers) shares one; the bound keeps what a field kept by a handler holds
 * on to (a slice keeps its whole string alive) to a few KiB.
 */
const TEXT_BLOCK = 4096;
/** Records longer than this (a browser's dozen headers) get a string of their own. */
const SMALL_RECORD = 512;

/**
 * Calls `onRequest` for each request record and `onAbort` for each abort notice in the
 * first `length` bytes of an inbox.
 *
 * @example
 * ```ts ignore
 * import { readRecords } from "./records.ts";
 * declare const view: DataView, bytes: Uint8Array, length: number;
 * readRecords(view, bytes, length, (r) => console.log(r.url), console.log);
 * ```
 */
export function readRecords(
  view: DataView,
  bytes: Uint8Array,
  length: number,
  onRequest: (record: RequestRecord) => void,
  onAbort: (id: number) => void,
): void {
  // Latin-1 through `Buffer` costs about half of a `TextDecoder` call on a subarray (no
  // view per record), and gives the very same string for ASCII.
  const latin1 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The decoded bytes [from, to) of the inbox: a char a byte, so a record's text is found
  // in it at the offset of its bytes.
  const text = { block: "", from: 0, to: 0 };
  let at = 0;
  while (at < length) {
    const len = view.getUint32(at + AT_LEN, true);
    if (len < ABORT_LEN || at + len > length) {
      throw new Error(`corrupt request record at byte ${at}`);
    }
    const id = view.getFloat64(at + AT_ID, true);
    const kind = bytes[at + AT_KIND];
    if (kind === KIND_REQUEST) {
      onRequest(readRequest(view, bytes, latin1, at, len, length, text));
    } else if (kind === KIND_ABORT) onAbort(id);
    at += len;
  }
}

function readRequest(
  view: DataView,
  bytes: Uint8Array,
  latin1: Buffer,
  at: number,
  len: number,
  length: number,
  decoded: { block: string; from: number; to: number },
): RequestRecord {
  const flags = bytes[at + AT_FLAGS];
  const count = view.getUint16(at + REQ_COUNT, true);
  const urlLen = view.getUint32(at + REQ_URL_LEN, true);
  const methodLen = view.getUint16(at + REQ_METHOD_LEN, true);
  const ipLen = view.getUint16(at + REQ_IP_LEN, true);
  const idsLen = bytes[at + REQ_REQUEST_ID_LEN] + 48 +
    bytes[at + REQ_PARENT_LEN];
  const textLen = view.getUint32(at + REQ_TEXT_LEN, true);
  const table = at + REQUEST_FIXED;
  const textStart = table + count * 8;
  const lengths = count === 0 ? NO_LENGTHS : new Array<number>(count * 2);
  for (let i = 0; i < count * 2; i++) {
    lengths[i] = view.getUint32(table + i * 4, true);
  }
  if (flags & FLAG_ASCII && len > SMALL_RECORD) {
    // One decode for the whole record; the fields are cut out of it when read.
    const text = latin1.toString("latin1", textStart, textStart + textLen);
    return new RequestRecord(view, at, text, 0, methodLen, urlLen, lengths);
  }
  if (flags & FLAG_ASCII) {
    // One decode for this record and those after it (up to `TEXT_BLOCK` bytes); the fields
    // are cut out of it when read.
    if (textStart + textLen > decoded.to) {
      decoded.from = textStart;
      decoded.to = Math.min(length, Math.max(at + len, at + TEXT_BLOCK));
      decoded.block = latin1.toString("latin1", decoded.from, decoded.to);
    }
    const start = textStart - decoded.from;
    return new RequestRecord(
      view,
      at,
      decoded.block,
      start,
      methodLen,
      urlLen,
      lengths,
    );
  }
  // Not all ASCII: decode field by field (header values as Latin-1 ByteStrings), and
  // measure the fields in the decoded text instead of in bytes.
  let p = textStart;
  const take = (n: number) => utf8.decode(bytes.subarray(p, p += n));
  const method = take(methodLen);
  const url = take(urlLen);
  const rest = take(ipLen + idsLen);
  let text = method + url + rest;
  for (let i = 0; i < count * 2; i += 2) {
    const name = take(lengths[i]);
    // Header values that are not ASCII are byte strings, as in `Headers`: a char a byte.
    const value = latin1.toString("latin1", p, p += lengths[i + 1]);
    lengths[i] = name.length;
    lengths[i + 1] = value.length;
    text += name + value;
  }
  return new RequestRecord(
    view,
    at,
    text,
    0,
    method.length,
    url.length,
    lengths,
  );
}

/** The head of one response record (the body travels beside it). */
export interface ResponseHead {
  /** `KIND_RESPOND`, `KIND_RESPOND_STREAM` or `KIND_RELEASE`. */
  kind: number;
  /** Record flags (`FLAG_STAGED_BODY`). */
  flags: number;
  /** HTTP status. */
  status: number;
  /** The request (or call) this answers. */
  id: number;
  /** Alternating names and values, ByteStrings (`Headers` only holds those). */
  headers: readonly string[];
  /** More pairs sent after `headers` (a shared frozen list then stays one cached block). */
  more?: readonly string[];
}

/** One block of memory, viewed as numbers and as bytes. */
export interface Region {
  /** The memory. */
  buffer: ArrayBuffer;
  /** For the numbers of a record. */
  view: DataView;
  /** For its bytes. */
  bytes: Uint8Array;
}

/**
 * Strings up to this long are written by hand; longer ones by `encodeInto`. The loop costs
 * about 2 ns a char, `encodeInto` 120–200 ns at any length, so they cross between 64 and 80
 * chars (a todo's JSON, ≈ 100 chars: 119 ns encoded into an outbox-like external buffer
 * against 171 ns looped).
 */
const SHORT_STRING = 64;

/**
 * Writes one response record at `at` of `out` and returns its length, or -1 when it does
 * not fit in the bytes left. `body` is inline (a string is encoded straight into the
 * outbox, its only copy).
 *
 * @example
 * ```ts
 * import { KIND_RESPOND, writeResponse } from "./records.ts";
 * const buffer = new ArrayBuffer(256);
 * const out = { buffer, view: new DataView(buffer), bytes: new Uint8Array(buffer) };
 * const head = { kind: KIND_RESPOND, flags: 0, status: 200, id: 7, headers: ["a", "1"] };
 * console.assert(writeResponse(out, 0, head, "hi") === 40);
 * ```
 */
export function writeResponse(
  out: Region,
  at: number,
  head: ResponseHead,
  body: string | Uint8Array | null,
): number {
  const { view, bytes } = out;
  const headers = head.headers;
  const more = head.more;
  const own = headers.length;
  const count = (own + (more === undefined ? 0 : more.length)) >> 1;
  const table = at + RESPONSE_FIXED;
  let p = table + count * 8;
  if (p > bytes.length) return -1;
  const shared = sharedIndex(headers);
  if (shared < 0) {
    if ((p = writeHeaders(headers, view, bytes, table, p)) < 0) return -1;
  } else if (count === own >> 1) {
    // The cached block is the whole table and text, in one copy.
    const block = sharedBlocks[shared];
    if (table + block.length > bytes.length) return -1;
    bytes.set(block, table);
    p = table + block.length;
  } else {
    // Its table part, then its text where the text starts.
    const text = sharedTexts[shared];
    if (p + text.length > bytes.length) return -1;
    bytes.set(sharedTables[shared], table);
    bytes.set(text, p);
    p += text.length;
  }
  if (
    more !== undefined && more.length > 0 &&
    (p = writeHeaders(more, view, bytes, table + own * 4, p)) < 0
  ) return -1;
  let bodyLen = 0;
  if (typeof body === "string") {
    bodyLen = body.length <= SHORT_STRING ? writeAscii(body, bytes, p) : -1;
    if (bodyLen < 0) {
      if (p + body.length * 3 > bytes.length) {
        if (p + encodedLength(body) > bytes.length) return -1;
      }
      bodyLen = encoder.encodeInto(body, bytes.subarray(p)).written;
    }
  } else if (body !== null) {
    if (p + body.length > bytes.length) return -1;
    bytes.set(body, p);
    bodyLen = body.length;
  }
  p += bodyLen;
  const len = (p - at + 7) & ~7;
  if (at + len > bytes.length) return -1;
  view.setUint32(at + AT_LEN, len, true);
  bytes[at + AT_KIND] = head.kind;
  bytes[at + AT_FLAGS] = head.flags;
  view.setUint16(at + RES_STATUS, head.status, true);
  view.setFloat64(at + AT_ID, head.id, true);
  view.setUint32(at + RES_COUNT, count, true);
  view.setUint32(at + RES_BODY_LEN, bodyLen, true);
  return len;
}

/**
 * Writes the length table of `headers` at `table` and their bytes from `p` on; returns
 * where they end, or -1 when they do not fit.
 */
function writeHeaders(
  headers: readonly string[],
  view: DataView,
  bytes: Uint8Array,
  table: number,
  p: number,
): number {
  for (let i = 0; i < headers.length; i++) {
    const s = headers[i];
    // ByteStrings: one Latin-1 byte per char on the wire, as Deno.serve sends them.
    if (p + s.length > bytes.length) return -1;
    for (let j = 0; j < s.length; j++) bytes[p + j] = s.charCodeAt(j);
    view.setUint32(table + i * 4, s.length, true);
    p += s.length;
  }
  return p;
}

// Frozen header lists many responses share (`new Response("…")`'s default content type,
// `Response.json`'s), encoded once — length table and bytes — and copied in one go. Frozen,
// so what was encoded is what they hold; two are remembered, by identity.
const sharedLists: (readonly string[] | undefined)[] = [undefined, undefined];
const sharedBlocks: Uint8Array[] = [new Uint8Array(0), new Uint8Array(0)];
/** The blocks' table parts and text parts, for a record with more headers after them. */
const sharedTables: Uint8Array[] = [new Uint8Array(0), new Uint8Array(0)];
const sharedTexts: Uint8Array[] = [new Uint8Array(0), new Uint8Array(0)];
let sharedNext = 0;

/** Where `headers` is cached (encoded now if it is a new frozen list), or -1. */
function sharedIndex(headers: readonly string[]): number {
  if (headers === sharedLists[0]) return 0;
  if (headers === sharedLists[1]) return 1;
  if (headers.length === 0 || !Object.isFrozen(headers)) return -1;
  const tableLen = headers.length * 4;
  let size = tableLen;
  for (let i = 0; i < headers.length; i++) size += headers[i].length;
  const block = new Uint8Array(size);
  writeHeaders(headers, new DataView(block.buffer), block, 0, tableLen);
  const i = sharedNext;
  sharedLists[i] = headers;
  sharedBlocks[i] = block;
  sharedTables[i] = block.subarray(0, tableLen);
  sharedTexts[i] = block.subarray(tableLen);
  sharedNext ^= 1;
  return i;
}

/**
 * Writes `s` at `at` when it is all ASCII and fits (UTF-8 is then one byte a char) and
 * returns its length; -1 otherwise (the caller encodes it). A short string costs less this
 * way than a call into the encoder.
 */
function writeAscii(s: string, bytes: Uint8Array, at: number): number {
  if (at + s.length > bytes.length) return -1;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return -1;
    bytes[at + i] = c;
  }
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

/**
 * Reading the KNUL records of an inbox: calls (server), completions (client), and the
 * bridge's abort notices. The layout is documented in
 * `crates/krepis-kernel/src/knul/record.rs`; responses and releases are written with the
 * HTTP bridge's outbox writer (`http/outbox.ts`).
 *
 * @module
 */

import { KIND_ABORT } from "../http/records.ts";

/** A call for a handler. */
export const KIND_CALL = 4;
/** A client call completed. */
export const KIND_DONE = 5;
/** More completion records of the same call follow. */
export const FLAG_MORE = 1;
/** The single message is in kernel memory. */
export const FLAG_MESSAGE = 1;
/** The input streams through `read` calls. */
export const FLAG_STREAMED = 2;
/** The call arrived in 0-RTT early data. */
export const FLAG_EARLY_DATA = 4;
/** The header declared the call idempotent. */
export const FLAG_IDEMPOTENT = 8;

const CALL_FIXED = 56;
const utf8 = new TextDecoder();

/** One call as the kernel described it. */
export interface CallRecord {
  /** Call id (bridge slot). */
  id: number;
  /** `FLAG_*` bits. */
  flags: number;
  /** Address of the single message. */
  messageAddr: number;
  /** Its length, -1 when streamed. */
  messageLen: number;
  /** Deadline, epoch ms; 0 when none. */
  deadline: number;
  /** Priority from the header. */
  priority: number;
  /** Method name. */
  method: string;
  /** Tenant ("" when none). */
  tenant: string;
  /** Peer identity ("" without a client certificate). */
  peer: string;
  /** Request id. */
  requestId: string;
  /** Trace id (32 hex). */
  traceId: string;
  /** This call's span id (16 hex). */
  spanId: string;
  /** The caller's span id ("" when the trace starts here). */
  parentSpanId: string;
  /** Message encoding ("" means json). */
  encoding: string;
  /** Metadata pairs. */
  metadata: Record<string, string>;
}

/** Handlers of each kind of record. */
export interface RecordSink {
  /** A call arrived (server). */
  call?(record: CallRecord): void;
  /**
   * Response frames of a call arrived (client) at `addr`; `more` when further records of
   * the call follow (a streamed response).
   */
  done?(
    slot: number,
    callId: number,
    addr: number,
    len: number,
    more: boolean,
  ): void;
  /** The kernel gave up on call `id`. */
  abort(id: number): void;
}

/** Walks the first `length` bytes of an inbox. */
export function readKnulRecords(
  view: DataView,
  bytes: Uint8Array,
  length: number,
  sink: RecordSink,
): void {
  let at = 0;
  while (at < length) {
    const len = view.getUint32(at, true);
    if (len < 16 || at + len > length) {
      throw new Error(`corrupt KNUL record at byte ${at}`);
    }
    const kind = bytes[at + 4];
    const id = view.getFloat64(at + 8, true);
    if (kind === KIND_CALL) sink.call?.(readCall(view, bytes, at, id));
    else if (kind === KIND_DONE) {
      sink.done?.(
        id,
        view.getFloat64(at + 16, true),
        view.getFloat64(at + 24, true),
        view.getFloat64(at + 32, true),
        (bytes[at + 5] & FLAG_MORE) !== 0,
      );
    } else if (kind === KIND_ABORT) sink.abort(id);
    at += len;
  }
}

function readCall(
  view: DataView,
  bytes: Uint8Array,
  at: number,
  id: number,
): CallRecord {
  const count = view.getUint16(at + 6, true);
  const lens: number[] = [];
  for (let i = 0; i < 6; i++) lens.push(view.getUint16(at + 44 + i * 2, true));
  let p = at + CALL_FIXED + count * 8;
  const take = (n: number) => utf8.decode(bytes.subarray(p, p += n));
  const method = take(lens[0]);
  const tenant = take(lens[1]);
  const peer = take(lens[2]);
  const requestId = take(lens[3]);
  const traceId = take(32);
  const spanId = take(16);
  const parentSpanId = take(lens[4]);
  const encoding = take(lens[5]);
  const metadata: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    const k = view.getUint32(at + CALL_FIXED + i * 8, true);
    const v = view.getUint32(at + CALL_FIXED + i * 8 + 4, true);
    const key = take(k);
    metadata[key] = take(v);
  }
  return {
    id,
    flags: bytes[at + 5],
    messageAddr: view.getFloat64(at + 16, true),
    messageLen: view.getFloat64(at + 24, true),
    deadline: view.getFloat64(at + 32, true),
    priority: view.getUint32(at + 40, true),
    method,
    tenant,
    peer,
    requestId,
    traceId,
    spanId,
    parentSpanId,
    encoding,
    metadata,
  };
}

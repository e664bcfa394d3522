/**
 * The typed message channel between the host and a plugin's isolate (a Worker's
 * `postMessage`, or JSON lines on a child process's stdin/stdout). Every call carries the
 * caller's context: trace ids, tenant, and deadline; cancellation travels as `abort`.
 *
 * @module
 */

/** The caller's context as it crosses into the isolate. */
export interface WireContext {
  /** Correlation id of the request. */
  requestId: string;
  /** W3C trace id. */
  traceId: string;
  /** Span id of the call. */
  spanId: string;
  /** Span id of the caller. */
  parentSpanId?: string;
  /** Tenant the call acts for. */
  tenantId?: string;
  /** Absolute deadline in epoch ms, or `null` for none. */
  deadline: number | null;
}

/** An error as it crosses the channel. */
export interface WireError {
  /** The error's class name (`TypeError`, `NotCapable`, ...). */
  name: string;
  /** Its message. */
  message: string;
}

/** What the host sends. */
export type HostMessage =
  | { t: "init"; entry: string }
  | { t: "call"; id: number; ctx: WireContext; input: unknown }
  | { t: "abort"; id: number; reason: string }
  | { t: "ping"; n: number };

/** What the isolate sends. */
export type IsolateMessage =
  | { t: "ready" }
  | { t: "failed"; error: WireError }
  | { t: "result"; id: number; ok: true; value: unknown }
  | { t: "result"; id: number; ok: false; error: WireError }
  | { t: "pong"; n: number };

/**
 * Prefix of protocol lines on a plugin process's stdout; other output is not protocol (the
 * process sends `console` output to stderr, but a plugin may write stdout directly).
 */
export const LINE_PREFIX = "\u001ekrepis:";

/** Turns anything thrown into a {@linkcode WireError}. */
export function wireError(error: unknown): WireError {
  return error instanceof Error
    ? { name: error.name, message: error.message }
    : { name: "Error", message: String(error) };
}

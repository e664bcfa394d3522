/**
 * Public types of KNUL servers and clients.
 *
 * @module
 */

import type { KrepisContext } from "../context/context.ts";
import type { LogSink } from "../context/logger.ts";

/**
 * A method handler: the context of the call and its decoded input; returns the output
 * (or an async iterable of outputs for a server-streaming method). Throw a `KnulError` or
 * an `AppError` to answer with another status.
 *
 * @example
 * ```ts
 * import type { KnulHandler } from "@krepis/core/knul";
 * const add: KnulHandler = (_ctx, input) => {
 *   const { a, b } = input as { a: number; b: number };
 *   return a + b;
 * };
 * console.assert(add !== undefined);
 * ```
 */
// deno-lint-ignore no-explicit-any
export type KnulHandler = (ctx: KrepisContext, input: any) => unknown;

/**
 * A method with its options.
 *
 * @example
 * ```ts
 * import type { KnulMethod } from "@krepis/core/knul";
 * const method: KnulMethod = { handler: () => "pong", idempotent: true };
 * console.assert(method.idempotent);
 * ```
 */
export interface KnulMethod {
  /** The handler. */
  handler: KnulHandler;
  /** Safe to replay: may run when it arrives in 0-RTT early data (queries). */
  idempotent?: boolean;
  /** The input is a stream of messages (an `AsyncIterable`) rather than one message. */
  clientStreaming?: boolean;
}

/**
 * Per-tenant limits the kernel enforces before any handler runs.
 *
 * @example
 * ```ts
 * import type { KnulTenantLimits } from "@krepis/core/knul";
 * const limits: KnulTenantLimits = { maxConcurrent: 8, ratePerSec: 100, burst: 20 };
 * console.assert(limits.burst === 20);
 * ```
 */
export interface KnulTenantLimits {
  /** Calls of one tenant in flight at once (default unlimited). */
  maxConcurrent?: number;
  /** Calls per second (token bucket refill; default unlimited). */
  ratePerSec?: number;
  /** Token bucket size (default `ratePerSec`). */
  burst?: number;
}

/**
 * Options of `serveKnul`.
 *
 * @example
 * ```ts
 * import type { KnulServeOptions } from "@krepis/core/knul";
 * const cert = "-----BEGIN CERTIFICATE-----\n…", key = "-----BEGIN PRIVATE KEY-----\n…";
 * const options: KnulServeOptions = { port: 0, cert, key, maxInFlight: 64 };
 * console.assert(options.port === 0);
 * ```
 */
export interface KnulServeOptions {
  /** Interface to bind (default `127.0.0.1`). */
  hostname?: string;
  /** UDP port (default 0: any free port). */
  port?: number;
  /** PEM certificate chain of the server. */
  cert: string;
  /** PEM private key. */
  key: string;
  /** PEM CA certificates of accepted client certificates; clients must then present one. */
  clientCa?: string;
  /** Largest HEADER payload in bytes (default 16 KiB). */
  maxHeaderBytes?: number;
  /** Largest MESSAGE payload in bytes (default 4 MiB). */
  maxFrameBytes?: number;
  /** Calls handed to handlers at once; more wait, by priority (default 1024). */
  maxInFlight?: number;
  /** Limits applied to each tenant. */
  tenantLimits?: KnulTenantLimits;
  /**
   * Directory of a sled store for the TLS session cache: a restarted server still resumes
   * sessions, and accepts 0-RTT early data, from tickets it issued before. Holds resumption
   * secrets: keep it private. Default: memory only.
   */
  sessionStore?: string;
  /** Where the calls' contexts log (default: JSON lines on stdout at `info`). */
  log?: LogSink;
}

/**
 * What the kernel counted on a KNUL server (the `KnulStats` message of `knul.proto`, field
 * for field). `rejected*` calls were answered natively and never reached a handler.
 *
 * @example
 * ```ts
 * import type { KnulServerStats } from "@krepis/core/knul";
 * const s = { dispatchedTotal: 1 } as KnulServerStats;
 * console.assert(s.dispatchedTotal === 1);
 * ```
 */
export interface KnulServerStats {
  /** Connections accepted. */
  connectionsTotal: number;
  /** Connections open now. */
  connectionsOpen: number;
  /** Call streams opened. */
  callsTotal: number;
  /** Calls handed to handlers. */
  dispatchedTotal: number;
  /** Calls handlers answered. */
  answeredTotal: number;
  /** Refused: deadline passed before arrival. */
  rejectedDeadline: number;
  /** Refused: unknown method. */
  rejectedUnimplemented: number;
  /** Refused: tenant over its rate. */
  rejectedRate: number;
  /** Refused: tenant over its concurrency. */
  rejectedConcurrency: number;
  /** Refused: header or frame too large. */
  rejectedOversize: number;
  /** Refused: malformed or truncated frames. */
  rejectedProtocol: number;
  /** Refused: non-idempotent call in 0-RTT early data. */
  rejectedEarlyData: number;
  /** Dropped while queued: deadline passed. */
  expiredInQueue: number;
  /** Deadline passed while the handler ran. */
  expiredRunning: number;
  /** Cancelled by the client. */
  cancelledTotal: number;
  /** Calls holding kernel resources now. */
  inFlight: number;
  /** Calls queued now. */
  queued: number;
  /** Calls accepted from 0-RTT early data. */
  earlyDataCalls: number;
}

/**
 * Per-call facts a handler can read with `ctx.get(KnulCall)`.
 *
 * @example
 * ```ts
 * import { KnulCall } from "@krepis/core/knul";
 * import { createContext } from "@krepis/core";
 * const ctx = createContext();
 * console.assert(ctx.get(KnulCall) === undefined); // only set inside KNUL handlers
 * ```
 */
export interface KnulCallInfo {
  /** The method called. */
  method: string;
  /** The client certificate's identity (`sha256:<hex>`), "" without mutual TLS. */
  peer: string;
  /** The call's priority. */
  priority: number;
  /** Metadata the caller sent. */
  metadata: Readonly<Record<string, string>>;
  /** The call arrived in 0-RTT early data (it is idempotent). */
  earlyData: boolean;
}

/**
 * How a host's lazy cancellation signal (the kernel's request) lets a behavior follow it
 * without making it: a behavior with a signal of its own (the timeout's) needs to hear of
 * the host's abort, and an `AbortController` made only to listen to costs as much as its
 * own. Internal: not exported from the package.
 *
 * @module
 */

/** Key of a host's {@linkcode AbortWatch}. */
export const ABORT_WATCH: unique symbol = Symbol("krepis.abortWatch");

/**
 * With `add`, has `listener.handleEvent()` called once the host aborts and returns
 * `true`, or returns `false` (registering nothing) when it has aborted already; without,
 * removes `listener` again.
 */
export type AbortWatch = (
  listener: EventListenerObject,
  add: boolean,
) => boolean;

/** A host whose signal is made on first read and whose abort can be watched without it. */
export interface SignalHost {
  /** The signal, made on first read. */
  readonly signal: AbortSignal;
  /** See {@linkcode AbortWatch}. */
  readonly [ABORT_WATCH]: AbortWatch;
}

/**
 * Key of what the kernel's server hands a request's context over as (on its handler
 * info): the request's ids, deadline and abort, read from the request's record on first
 * use. `info.ctx` copies them all into a new object (own data properties, for user code
 * that spreads it), which a context made per request needs none of when nobody reads the
 * ids.
 */
export const KERNEL_ORIGIN: unique symbol = Symbol("krepis.kernelOrigin");

/** What {@linkcode KERNEL_ORIGIN} gives: the same values as `info.ctx`, each read on use. */
export interface KernelOrigin extends SignalHost {
  /** As `RequestContext.requestId`. */
  readonly requestId: string;
  /** As `RequestContext.traceId`. */
  readonly traceId: string;
  /** As `RequestContext.spanId`. */
  readonly spanId: string;
  /** As `RequestContext.parentSpanId`. */
  readonly parentSpanId: string | undefined;
  /** As `RequestContext.deadline`. */
  readonly deadline: number;
}

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

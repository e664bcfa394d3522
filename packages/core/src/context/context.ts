/**
 * `KrepisContext`: the explicit per-operation context every command, query, port and adapter
 * receives as its first argument. There is no ambient state: a context is created per request
 * (or per CLI invocation) and passed down; `child(name)` opens a span for a sub-operation.
 *
 * Creation is on the hot path, so a context is a plain class instance whose generated ids and
 * logger are made lazily, on first read. A child or a copy keeps a reference to the context
 * it came from and reads the ids it shares with it from there on first use, so opening a
 * span whose ids nobody reads generates none.
 *
 * @module
 */

import { ABORT_WATCH, type SignalHost } from "./abort_watch.ts";
import type { Capability, CapabilityLink } from "./capability.ts";
import {
  jsonLinesSink,
  type Logger,
  type LogLevel,
  type LogSink,
  ScopedLogger,
  sinkTakes,
} from "./logger.ts";
import { formatTraceparent, newSpanId, newTraceId } from "./trace.ts";

/**
 * Fields a new root context may start from; everything is optional.
 *
 * @example
 * ```ts
 * import { type ContextInit, createContext } from "@krepis/core";
 * const init: ContextInit = { tenantId: "acme", deadline: Date.now() + 5_000 };
 * console.assert(createContext(init).tenantId === "acme");
 * ```
 */
export interface ContextInit {
  /** Correlation id of the request; generated when absent. */
  requestId?: string;
  /** W3C trace id (32 hex); a new trace is started when absent. */
  traceId?: string;
  /** Span id of this operation (16 hex); generated when absent. */
  spanId?: string;
  /** Span id of the caller (from an incoming `traceparent`). */
  parentSpanId?: string;
  /** Tenant the operation acts for. */
  tenantId?: string;
  /** Absolute deadline in epoch milliseconds; `Infinity` (the default) means none. */
  deadline?: number;
  /**
   * Aborts when the operation is cancelled (client gone, timeout, shutdown). A function is
   * called on the first read of `ctx.signal` and must return the same signal every time:
   * hosts whose signals are costly to create (Deno.serve's `req.signal`) pass one.
   */
  signal?: SignalSource;
  /** Name of the operation. */
  name?: string;
  /** Where the context's logger writes; JSON lines on stdout at `info` by default. */
  log?: LogSink;
}

/**
 * Fields {@linkcode KrepisContext.derive} may replace without opening a new span.
 *
 * @example
 * ```ts
 * import { type ContextOverrides, createContext } from "@krepis/core";
 * const tighter: ContextOverrides = { deadline: Date.now() + 100 };
 * const ctx = createContext().derive(tighter);
 * console.assert(ctx.remainingMs() <= 100);
 * ```
 */
export interface ContextOverrides {
  /** A new absolute deadline in epoch milliseconds. */
  deadline?: number;
  /** A new cancellation signal (it should follow the current one), or a lazy source. */
  signal?: SignalSource;
  /** A new tenant. */
  tenantId?: string;
}

/**
 * A cancellation signal, or a function returning it on first use (always the same one).
 *
 * @example
 * ```ts
 * import { createContext, type SignalSource } from "@krepis/core";
 * const req = new Request("http://x/");
 * const source: SignalSource = () => req.signal; // not touched until someone reads ctx.signal
 * console.assert(createContext({ signal: source }).signal === req.signal);
 * ```
 */
export type SignalSource = AbortSignal | (() => AbortSignal);

/**
 * Where a context reads the ids it was not given: the context it is a child or a copy of,
 * or a root context's origin (see the constructor).
 */
type IdOrigin = Pick<
  KrepisContext,
  "requestId" | "traceId" | "spanId" | "parentSpanId"
>;

const NEVER_ABORTED: AbortSignal = new AbortController().signal;
const STDOUT_SINK: LogSink = jsonLinesSink("info");

/**
 * The explicit context of one operation. Immutable: `child`, `derive` and `with` return new
 * contexts and leave this one untouched.
 *
 * @example
 * ```ts
 * import { createContext } from "@krepis/core";
 * import { memorySink } from "@krepis/core/testing";
 * const sink = memorySink();
 * const ctx = createContext({ tenantId: "acme", log: sink });
 * const step = ctx.child("load-user");
 * step.log.info("loading");
 * const rec = sink.records()[0];
 * console.assert(rec.traceId === ctx.traceId && rec.parentSpanId === ctx.spanId);
 * ```
 */
export class KrepisContext {
  /** Absolute deadline in epoch milliseconds (`Infinity` when there is none). */
  readonly deadline: number;
  /** Name of the operation this context belongs to, if any. */
  readonly name: string | undefined;
  #requestId: string | undefined;
  #traceId: string | undefined;
  #spanId: string | undefined;
  #parentSpanId: string | undefined;
  /**
   * The context this one is a child (`#child`) or a copy of, or the origin a root context
   * was given; its ids are read from it.
   */
  #from: IdOrigin | undefined;
  #child = false;
  #sink: LogSink;
  #caps: CapabilityLink | undefined;
  #log: Logger | undefined;
  #signal: SignalSource | SignalHost;
  #tenant: string | undefined | (() => string | undefined);

  /**
   * Use {@linkcode createContext}; this constructor is positional for speed. `tenant` may
   * be a function, called on the first read of `tenantId` (a host reading it from a
   * request header passes one, so a request nobody asks about reads no header). An
   * `origin` gives the ids not passed, each read from it once, on first use (a host
   * reading them from request headers passes one); its `spanId` is this span's own.
   */
  constructor(
    requestId: string | undefined,
    traceId: string | undefined,
    spanId: string | undefined,
    parentSpanId: string | undefined,
    tenant: string | undefined | (() => string | undefined),
    deadline: number,
    signal: SignalSource | SignalHost,
    name: string | undefined,
    sink: LogSink,
    caps: CapabilityLink | undefined,
    origin?: IdOrigin,
  ) {
    this.#from = origin;
    this.#requestId = requestId;
    this.#traceId = traceId;
    this.#spanId = spanId;
    this.#parentSpanId = parentSpanId;
    this.#tenant = tenant;
    this.deadline = deadline;
    this.#signal = signal;
    this.name = name;
    this.#sink = sink;
    this.#caps = caps;
    this.#log = undefined;
  }

  /** Tenant the operation acts for, when known. */
  get tenantId(): string | undefined {
    const t = this.#tenant;
    return typeof t === "function" ? (this.#tenant = t()) : t;
  }

  /** Correlation id of the request this operation serves. */
  get requestId(): string {
    return this.#requestId ??= this.#from
      ? this.#from.requestId
      : crypto.randomUUID();
  }

  /** W3C trace id shared by every span of the request. */
  get traceId(): string {
    return this.#traceId ??= this.#from ? this.#from.traceId : newTraceId();
  }

  /** W3C span id of this operation. */
  get spanId(): string {
    return this.#spanId ??= this.#from && !this.#child
      ? this.#from.spanId
      : newSpanId();
  }

  /** Span id of the caller, or `undefined` for a root span. */
  get parentSpanId(): string | undefined {
    const from = this.#from;
    if (this.#parentSpanId !== undefined || from === undefined) {
      return this.#parentSpanId;
    }
    return this.#parentSpanId = this.#child ? from.spanId : from.parentSpanId;
  }

  /**
   * Aborts when the operation should stop. Long-running work must watch it. Made on first
   * read when the context was given a lazy source.
   */
  get signal(): AbortSignal {
    const s = this.#signal;
    if (typeof s === "function") return this.#signal = s();
    return ABORT_WATCH in s ? s.signal : s;
  }

  /**
   * Has `listener.handleEvent()` called when this context's signal aborts; `false` (and
   * nothing registered) when it has aborted already. For behaviors that link a signal of
   * their own to this one: a host that watches its abort itself (the kernel's request)
   * makes no signal for it. Undone by {@linkcode KrepisContext.unwatchAbort}.
   */
  watchAbort(listener: EventListenerObject): boolean {
    const s = this.#signal;
    if (typeof s !== "function" && ABORT_WATCH in s) {
      return s[ABORT_WATCH](listener, true);
    }
    const signal = this.signal;
    if (signal.aborted) return false;
    signal.addEventListener("abort", listener);
    return true;
  }

  /** Stops calling a listener given to {@linkcode KrepisContext.watchAbort}. */
  unwatchAbort(listener: EventListenerObject): void {
    const s = this.#signal;
    if (typeof s === "function") return; // never read, so never listened to
    if (ABORT_WATCH in s) s[ABORT_WATCH](listener, false);
    else s.removeEventListener("abort", listener);
  }

  /** A JSON-lines logger whose records carry this context's ids. */
  get log(): Logger {
    return this.#log ??= new ScopedLogger(this, this.#sink);
  }

  /** Whether `ctx.log` would write a record at `level` (without making the logger). */
  logs(level: LogLevel): boolean {
    return sinkTakes(this.#sink, level);
  }

  /** Milliseconds left before the deadline (never negative; `Infinity` without deadline). */
  remainingMs(): number {
    return Math.max(0, this.deadline - Date.now());
  }

  /** This span as an outgoing W3C `traceparent` header value. */
  traceparent(): string {
    return formatTraceparent(this.traceId, this.spanId);
  }

  /**
   * Opens a span for a sub-operation: same request, trace, tenant, deadline, signal and
   * capabilities; a new span id whose parent is this span.
   */
  child(name: string): KrepisContext {
    const ctx = new KrepisContext(
      this.#requestId,
      this.#traceId,
      undefined,
      this.#spanId,
      this.#tenant,
      this.deadline,
      this.#signal,
      name,
      this.#sink,
      this.#caps,
    );
    ctx.#from = this;
    ctx.#child = true;
    return ctx;
  }

  /** The same span with a tighter deadline, another signal or another tenant. */
  derive(overrides: ContextOverrides): KrepisContext {
    return this.#copy(
      overrides.tenantId ?? this.#tenant,
      overrides.deadline ?? this.deadline,
      overrides.signal ?? this.#signal,
      this.#caps,
    );
  }

  /** A new context carrying `value` for `key` (replacing an earlier value for that key). */
  with<T>(key: Capability<T>, value: T): KrepisContext {
    return this.#copy(this.#tenant, this.deadline, this.#signal, {
      key,
      value,
      next: this.#caps,
    });
  }

  /** The same span (its ids read from this one on first use) with other fields. */
  #copy(
    tenant: string | undefined | (() => string | undefined),
    deadline: number,
    signal: SignalSource | SignalHost,
    caps: CapabilityLink | undefined,
  ): KrepisContext {
    const ctx = new KrepisContext(
      this.#requestId,
      this.#traceId,
      this.#spanId,
      this.#parentSpanId,
      tenant,
      deadline,
      signal,
      this.name,
      this.#sink,
      caps,
    );
    ctx.#from = this;
    return ctx;
  }

  /** The value attached for `key`, or `undefined`. */
  get<T>(key: Capability<T>): T | undefined {
    for (let link = this.#caps; link; link = link.next) {
      if (link.key === key) return link.value as T;
    }
    return undefined;
  }

  /** The value attached for `key`; throws a clear error when the capability is missing. */
  use<T>(key: Capability<T>): T {
    for (let link = this.#caps; link; link = link.next) {
      if (link.key === key) return link.value as T;
    }
    throw new Error(
      `capability "${key.name}" is not attached to this context` +
        (this.name ? ` (operation "${this.name}")` : "") +
        `; attach it with ctx.with(${key.name}, value)`,
    );
  }
}

/**
 * Creates a root context. Ids that are not given are generated on first read.
 *
 * @example
 * ```ts
 * import { createContext } from "@krepis/core";
 * const ctx = createContext({ tenantId: "acme", deadline: Date.now() + 1000 });
 * console.assert(ctx.traceId.length === 32 && ctx.remainingMs() <= 1000);
 * ```
 */
export function createContext(init: ContextInit = {}): KrepisContext {
  return new KrepisContext(
    init.requestId,
    init.traceId,
    init.spanId,
    init.parentSpanId,
    init.tenantId,
    init.deadline ?? Infinity,
    init.signal ?? NEVER_ABORTED,
    init.name,
    init.log ?? STDOUT_SINK,
    undefined,
  );
}

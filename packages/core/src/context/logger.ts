/**
 * Structured JSON-lines logging bound to a context.
 *
 * A {@linkcode LogSink} receives finished lines; the logger only formats. Records carry the
 * trace ids of the context that produced them, so every line can be joined to its request.
 *
 * @module
 */

/**
 * Severity of a log record, from least to most severe.
 *
 * @example
 * ```ts
 * import type { LogLevel } from "@krepis/core";
 * const level: LogLevel = "warn";
 * console.assert(level === "warn");
 * ```
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * The threshold of a sink: a level, or `"silent"` to drop everything.
 *
 * @example
 * ```ts
 * import { createContext, type LogThreshold } from "@krepis/core";
 * import { memorySink } from "@krepis/core/testing";
 * const threshold: LogThreshold = "silent";
 * createContext({ log: memorySink(threshold) }).log.error("dropped");
 * ```
 */
export type LogThreshold = LogLevel | "silent";

const RANK: Record<LogThreshold, number> = {
  debug: 10,
  info: 20,
  warn: 30,
  error: 40,
  silent: 100,
};

/**
 * Where finished JSON lines go. Shared by every context of an app; never global.
 *
 * @example
 * ```ts
 * import { createContext, type LogSink } from "@krepis/core";
 * const lines: string[] = [];
 * const sink: LogSink = { level: "info", write: (line) => lines.push(line) };
 * createContext({ log: sink }).log.info("hello");
 * console.assert(JSON.parse(lines[0]).msg === "hello");
 * ```
 */
export interface LogSink {
  /** Records below this level are dropped before they are formatted. */
  readonly level: LogThreshold;
  /** Receives one JSON document without a trailing newline. */
  write(line: string): void;
}

/**
 * Extra structured fields attached to one record.
 *
 * @example
 * ```ts
 * import { createContext, type LogFields } from "@krepis/core";
 * import { memorySink } from "@krepis/core/testing";
 * const fields: LogFields = { todoId: "t1", attempt: 2 };
 * createContext({ log: memorySink() }).log.info("saved", fields);
 * ```
 */
export type LogFields = Record<string, unknown>;

/**
 * A logger whose records carry the ids of the context it belongs to.
 *
 * @example
 * ```ts
 * import { createContext, type Logger } from "@krepis/core";
 * import { memorySink } from "@krepis/core/testing";
 * const log: Logger = createContext({ log: memorySink("info") }).log;
 * if (log.enabled("debug")) log.debug("expensive", { dump: "..." });
 * log.info("cheap");
 * ```
 */
export interface Logger {
  /** Logs at `debug`. */
  debug(msg: string, fields?: LogFields): void;
  /** Logs at `info`. */
  info(msg: string, fields?: LogFields): void;
  /** Logs at `warn`. */
  warn(msg: string, fields?: LogFields): void;
  /** Logs at `error`. */
  error(msg: string, fields?: LogFields): void;
  /** Whether a record at `level` would be written (use it to skip costly field building). */
  enabled(level: LogLevel): boolean;
}

/**
 * The ids a logger stamps on each record; a `KrepisContext` satisfies it.
 *
 * @example
 * ```ts
 * import { createContext } from "@krepis/core";
 * import type { LogScope } from "./logger.ts";
 * const scope: LogScope = createContext({ name: "op" }); // a context is a log scope
 * console.assert(scope.name === "op");
 * ```
 */
export interface LogScope {
  /** Correlates all records of one request. */
  readonly requestId: string;
  /** W3C trace id. */
  readonly traceId: string;
  /** W3C span id of the current operation. */
  readonly spanId: string;
  /** Span id of the caller, when there is one. */
  readonly parentSpanId: string | undefined;
  /** Tenant the operation acts for, when known. */
  readonly tenantId: string | undefined;
  /** Name of the current operation, when it has one. */
  readonly name: string | undefined;
}

/** Keys the logger owns; caller fields with these names are dropped rather than trusted. */
const RESERVED = new Set([
  "time",
  "level",
  "msg",
  "requestId",
  "traceId",
  "spanId",
  "parentSpanId",
  "tenantId",
  "op",
]);

/**
 * Whether `sink` takes records at `level`.
 *
 * @example
 * ```ts
 * import { memorySink } from "@krepis/core/testing";
 * import { sinkTakes } from "./logger.ts";
 * console.assert(sinkTakes(memorySink("warn"), "error"));
 * console.assert(!sinkTakes(memorySink("warn"), "info"));
 * ```
 */
export function sinkTakes(sink: LogSink, level: LogLevel): boolean {
  return RANK[level] >= RANK[sink.level];
}

// Formatting a date costs ~0.5 µs, and under load many records share a millisecond: the
// string is made once per millisecond (it has millisecond precision, so it is the same).
let isoMs = NaN;
let isoTime = "";
function isoNow(): string {
  const now = Date.now();
  if (now !== isoMs) {
    isoMs = now;
    isoTime = new Date(now).toISOString();
  }
  return isoTime;
}

function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    return { name: value.name, message: value.message, stack: value.stack };
  }
  if (typeof value === "bigint") return value.toString();
  return value;
}

/**
 * A logger that formats records of one {@linkcode LogScope} as JSON lines.
 *
 * @example
 * ```ts
 * import { memorySink } from "@krepis/core/testing";
 * import { ScopedLogger } from "./logger.ts";
 * const sink = memorySink();
 * const scope = {
 *   requestId: "r1",
 *   traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
 *   spanId: "00f067aa0ba902b7",
 *   parentSpanId: undefined,
 *   tenantId: undefined,
 *   name: "demo",
 * };
 * new ScopedLogger(scope, sink).info("hello", { n: 1 });
 * console.assert(sink.records()[0].traceId === scope.traceId);
 * ```
 */
export class ScopedLogger implements Logger {
  #scope: LogScope;
  #sink: LogSink;

  /** Binds a logger to the ids of `scope`, writing to `sink`. */
  constructor(scope: LogScope, sink: LogSink) {
    this.#scope = scope;
    this.#sink = sink;
  }

  /** Whether a record at `level` reaches the sink. */
  enabled(level: LogLevel): boolean {
    return sinkTakes(this.#sink, level);
  }

  /** Logs at `debug`. */
  debug(msg: string, fields?: LogFields): void {
    this.#emit("debug", msg, fields);
  }

  /** Logs at `info`. */
  info(msg: string, fields?: LogFields): void {
    this.#emit("info", msg, fields);
  }

  /** Logs at `warn`. */
  warn(msg: string, fields?: LogFields): void {
    this.#emit("warn", msg, fields);
  }

  /** Logs at `error`. */
  error(msg: string, fields?: LogFields): void {
    this.#emit("error", msg, fields);
  }

  #emit(level: LogLevel, msg: string, fields: LogFields | undefined): void {
    if (!this.enabled(level)) return;
    const s = this.#scope;
    const record: LogFields = {
      time: isoNow(),
      level,
      msg,
      requestId: s.requestId,
      traceId: s.traceId,
      spanId: s.spanId,
    };
    if (s.parentSpanId !== undefined) record.parentSpanId = s.parentSpanId;
    if (s.tenantId !== undefined) record.tenantId = s.tenantId;
    if (s.name !== undefined) record.op = s.name;
    // The replacer (errors, bigints) runs for every key of the record; records whose
    // fields are plain strings, numbers and booleans are written without it.
    let plain = true;
    if (fields) {
      for (const key in fields) {
        if (RESERVED.has(key)) continue;
        const value = fields[key];
        record[key] = value;
        if (
          (typeof value === "object" && value !== null) ||
          typeof value === "bigint"
        ) {
          plain = false;
        }
      }
    }
    this.#sink.write(
      plain ? JSON.stringify(record) : JSON.stringify(record, replacer),
    );
  }
}

/** Sinks holding lines not yet written, flushed together at the end of the microtask. */
const dirty: Array<() => void> = [];
let flushQueued = false;
let unloadHooked = false;

function flushDirty(): void {
  flushQueued = false;
  flushAll();
}

function flushAll(): void {
  // A flush may log (a writer that logs): such a sink re-registers itself after this.
  for (const flush of dirty.splice(0)) {
    try {
      flush();
    } catch {
      // The writer failed (stdout closed, a broken pipe): there is nowhere to put these
      // lines, and a logger must not bring the process down from a microtask.
    }
  }
}

/** Pending text past which a sink writes at once instead of waiting for the microtask. */
const BATCH_BYTES = 64 * 1024;

/**
 * A sink writing JSON lines to standard output (or another writer). Lines are gathered and
 * written together once the current microtask checkpoint is reached (one write for the
 * records of many requests instead of one per record), in order; an `error` record is
 * written at once, after the lines every sink holds (a failing writer then throws to the
 * caller, as any write would), and what is pending is written when the process exits through
 * `Deno.exit` or the end of the program (the `unload` event). A batch whose writer fails
 * is dropped.
 *
 * @example
 * ```ts
 * import { createContext, jsonLinesSink } from "@krepis/core";
 * const ctx = createContext({ log: jsonLinesSink("warn") });
 * ctx.log.info("dropped: below the threshold");
 * ctx.log.warn("written once this microtask ends");
 * ```
 */
export function jsonLinesSink(
  level: LogThreshold = "info",
  writer: { writeSync(p: Uint8Array): number } = Deno.stdout,
): LogSink {
  const encoder = new TextEncoder();
  let pending = "";
  const flush = () => {
    if (pending === "") return;
    const bytes = encoder.encode(pending);
    pending = "";
    let off = 0;
    while (off < bytes.length) off += writer.writeSync(bytes.subarray(off));
  };
  return {
    level,
    write(line) {
      if (pending === "") {
        dirty.push(flush);
        if (!flushQueued) {
          flushQueued = true;
          queueMicrotask(flushDirty);
        }
        if (!unloadHooked) {
          unloadHooked = true;
          globalThis.addEventListener("unload", flushDirty);
        }
      }
      if (isErrorLine(line)) {
        // An error may be the last thing the process says before it dies: it is never
        // held back, and what other sinks hold goes first, so the order stays.
        flushAll();
        pending = line + "\n";
        flush();
        return;
      }
      pending += line + "\n";
      if (pending.length > BATCH_BYTES) flush();
    },
  };
}

/** Whether a formatted record is at `error` level (the logger writes `level` second). */
function isErrorLine(line: string): boolean {
  return line.includes('"level":"error"', 30);
}

/**
 * A sink that keeps lines in memory, for tests and diagnostics.
 *
 * @example
 * ```ts
 * import { createContext } from "@krepis/core";
 * import { type MemorySink, memorySink } from "@krepis/core/testing";
 * const sink: MemorySink = memorySink();
 * createContext({ log: sink }).log.info("one");
 * console.assert(sink.lines.length === 1 && sink.records()[0].msg === "one");
 * ```
 */
export interface MemorySink extends LogSink {
  /** Every line written so far, in order. */
  readonly lines: string[];
  /** The lines parsed back into objects. */
  records(): Record<string, unknown>[];
}

/**
 * Creates a sink that keeps every line in memory.
 *
 * @example
 * ```ts
 * import { createContext } from "@krepis/core";
 * import { memorySink } from "@krepis/core/testing";
 * const sink = memorySink();
 * createContext({ log: sink }).log.warn("careful");
 * console.assert(sink.records()[0].level === "warn");
 * ```
 */
export function memorySink(level: LogThreshold = "debug"): MemorySink {
  const lines: string[] = [];
  return {
    level,
    lines,
    write(line) {
      lines.push(line);
    },
    records() {
      return lines.map((l) => JSON.parse(l));
    },
  };
}

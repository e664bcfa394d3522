/**
 * Supervises one plugin's isolate: starts it, multiplexes calls over its channel with their
 * context and deadline, and replaces it when it dies. A call past its deadline is answered
 * with `TIMEOUT` and aborted inside the isolate; if the isolate then does not answer a ping
 * (a loop that never yields), it is terminated and restarted with exponential backoff.
 *
 * @module
 */

import type { KrepisContext } from "../context/context.ts";
import { PluginError } from "./errors.ts";
import type { Isolate } from "./isolate.ts";
import type { IsolateMessage, WireError } from "./protocol.ts";

/** Timing of a supervisor. */
export interface SupervisorOptions {
  /** Longest a call may take when the caller's deadline is later (ms). */
  callTimeoutMs: number;
  /** How long an isolate has to answer a ping after a missed deadline (ms). */
  pingGraceMs: number;
  /** First restart delay after a crash (ms); doubles per consecutive crash. */
  backoffInitialMs: number;
  /** Largest restart delay (ms). */
  backoffMaxMs: number;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: PluginError): void;
  cleanup(): void;
}

interface Running {
  isolate: Isolate;
  ready: Promise<void>;
  settleReady(error?: WireError): void;
}

/** Runs calls of one plugin in a supervised, restartable isolate. */
export class Supervisor {
  #name: string;
  #entry: string;
  #start: (onMessage: (m: IsolateMessage) => void) => Isolate;
  #options: SupervisorOptions;
  #running: Running | undefined;
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #probe: { n: number; timer: ReturnType<typeof setTimeout> } | undefined;
  #crashes = 0;
  #restarts = 0;
  #launched = false;
  #notBefore = 0;
  #backoffMs = 0;
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  /**
   * `start` creates an isolate that delivers its messages to the given listener; `entry`
   * is the URL of the verified entry module.
   */
  constructor(
    name: string,
    entry: string,
    start: (onMessage: (m: IsolateMessage) => void) => Isolate,
    options: SupervisorOptions,
  ) {
    this.#name = name;
    this.#entry = entry;
    this.#start = start;
    this.#options = options;
  }

  /** How many times the isolate was replaced after a crash, a hang or a failed start. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Starts the isolate (if needed) and waits until the entry module is loaded. */
  ready(): Promise<void> {
    if (this.#closed) {
      return Promise.reject(this.#error("CLOSED", "the plugin is closed"));
    }
    const wait = this.#notBefore - Date.now();
    if (this.#running === undefined && wait > 0) {
      return Promise.reject(
        this.#error(
          "UNAVAILABLE",
          `restarting after a crash; next start in ${wait} ms (backoff ${this.#backoffMs} ms)`,
        ),
      );
    }
    return (this.#running ??= this.#launch()).ready;
  }

  #launch(): Running {
    const { promise: ready, resolve, reject } = Promise.withResolvers<void>();
    ready.catch(() => {});
    if (this.#launched) this.#restarts++;
    this.#launched = true;
    const isolate = this.#start((m) => this.#onMessage(m));
    const running: Running = {
      isolate,
      ready,
      settleReady: (error) =>
        error === undefined ? resolve() : reject(
          this.#error(
            "UNAVAILABLE",
            `its entry module failed to load: ${error.name}: ${error.message}`,
          ),
        ),
    };
    isolate.exited.then((why) => {
      if (this.#running === running) this.#crash(why);
    });
    isolate.send({ t: "init", entry: this.#entry });
    return running;
  }

  #error(
    code: PluginError["code"],
    message: string,
    remote?: WireError,
  ): PluginError {
    return new PluginError(code, this.#name, message, {
      remoteName: remote?.name,
    });
  }

  #onMessage(message: IsolateMessage): void {
    switch (message.t) {
      case "ready":
        this.#running?.settleReady();
        return;
      case "failed":
        this.#running?.settleReady(message.error);
        this.#crash(
          `its entry module failed to load: ${message.error.message}`,
        );
        return;
      case "pong":
        if (this.#probe?.n === message.n) {
          clearTimeout(this.#probe.timer);
          this.#probe = undefined;
        }
        return;
      case "result": {
        const pending = this.#pending.get(message.id);
        if (pending === undefined) return; // Timed out or cancelled already.
        this.#pending.delete(message.id);
        pending.cleanup();
        this.#crashes = 0;
        if (message.ok) pending.resolve(message.value);
        else {
          pending.reject(
            this.#error(
              "PLUGIN_ERROR",
              `${message.error.name}: ${message.error.message}`,
              message.error,
            ),
          );
        }
      }
    }
  }

  /** Calls the plugin with `input`; the call carries `ctx`'s ids, deadline and signal. */
  async call(ctx: KrepisContext, input: unknown): Promise<unknown> {
    await this.ready();
    const running = this.#running!;
    const now = Date.now();
    const deadline = Math.min(ctx.deadline, now + this.#options.callTimeoutMs);
    const id = this.#nextId++;
    const signal = ctx.signal;
    if (signal.aborted) {
      throw this.#error("CANCELLED", "the call was cancelled");
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.#expire(id), deadline - now);
      const onAbort = () =>
        this.#abandon(id, "CANCELLED", "the call was cancelled");
      signal.addEventListener("abort", onAbort, { once: true });
      this.#pending.set(id, {
        resolve,
        reject,
        cleanup: () => {
          clearTimeout(timer);
          signal.removeEventListener("abort", onAbort);
        },
      });
      try {
        running.isolate.send({
          t: "call",
          id,
          ctx: {
            requestId: ctx.requestId,
            traceId: ctx.traceId,
            spanId: ctx.spanId,
            parentSpanId: ctx.parentSpanId,
            tenantId: ctx.tenantId,
            deadline: Number.isFinite(deadline) ? deadline : null,
          },
          input,
        });
      } catch (error) {
        this.#pending.delete(id);
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        reject(
          this.#error(
            "PLUGIN_ERROR",
            `the input cannot be sent to the isolate: ${error}`,
          ),
        );
      }
    });
  }

  /** Answers call `id` with an error now and tells the isolate to abort it. */
  #abandon(id: number, code: "TIMEOUT" | "CANCELLED", message: string): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    pending.cleanup();
    pending.reject(this.#error(code, message));
    this.#running?.isolate.send({ t: "abort", id, reason: message });
  }

  #expire(id: number): void {
    this.#abandon(id, "TIMEOUT", "the call passed its deadline");
    // A loop that never yields cannot even answer a ping: then the isolate is replaced.
    if (this.#probe !== undefined || this.#running === undefined) return;
    const n = this.#nextId++;
    const timer = setTimeout(
      () =>
        this.#crash(
          `did not answer within ${this.#options.pingGraceMs} ms after a missed deadline; terminated`,
        ),
      this.#options.pingGraceMs,
    );
    this.#probe = { n, timer };
    this.#running.isolate.send({ t: "ping", n });
  }

  /** Kills the isolate, fails its calls, and schedules the next start with backoff. */
  #crash(why: string): void {
    const running = this.#running;
    if (running === undefined) return;
    this.#running = undefined;
    running.isolate.kill();
    running.settleReady({ name: "Error", message: why });
    if (this.#probe) clearTimeout(this.#probe.timer);
    this.#probe = undefined;
    for (const [id, pending] of this.#pending) {
      this.#pending.delete(id);
      pending.cleanup();
      pending.reject(this.#error("CRASHED", why));
    }
    if (this.#closed) return;
    const delay = Math.min(
      this.#options.backoffMaxMs,
      this.#options.backoffInitialMs * 2 ** this.#crashes,
    );
    this.#crashes++;
    this.#backoffMs = delay;
    this.#notBefore = Date.now() + delay;
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (this.#closed || this.#running !== undefined) return;
      this.#running = this.#launch();
    }, delay);
  }

  /** Stops the isolate; pending and later calls fail with `CLOSED`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#restartTimer);
    const running = this.#running;
    this.#running = undefined;
    if (this.#probe) clearTimeout(this.#probe.timer);
    running?.isolate.kill();
    running?.settleReady({ name: "Error", message: "closed" });
    for (const [id, pending] of this.#pending) {
      this.#pending.delete(id);
      pending.cleanup();
      pending.reject(this.#error("CLOSED", "the plugin was closed"));
    }
  }
}

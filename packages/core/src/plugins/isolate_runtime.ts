/**
 * What runs inside a plugin's isolate: imports the verified entry module and answers calls.
 * Transport-neutral; `worker_main.ts` and `process_main.ts` connect it to their channel.
 *
 * @module
 */

import {
  type HostMessage,
  type IsolateMessage,
  wireError,
} from "./protocol.ts";

/**
 * The context a plugin's default export receives inside its isolate: the caller's ids and
 * deadline, and a signal that aborts when the host cancels the call or its deadline passes.
 *
 * @example
 * ```ts
 * import type { IsolateContext } from "@krepis/core/plugins";
 * export default function guard(ctx: IsolateContext, call: { input: unknown }) {
 *   if (ctx.signal.aborted) return {};
 *   return { input: { seenBy: ctx.traceId, call } };
 * }
 * ```
 */
export interface IsolateContext {
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
  /** Absolute deadline in epoch ms (`Infinity` when none). */
  deadline: number;
  /** Aborts when the host cancels the call or its deadline passes. */
  signal: AbortSignal;
}

type PluginFunction = (ctx: IsolateContext, input: unknown) => unknown;

/** Returns the handler of host messages; `send` delivers isolate messages. */
export function serveIsolate(
  send: (message: IsolateMessage) => void,
): (message: HostMessage) => Promise<void> {
  let plugin: PluginFunction | undefined;
  const calls = new Map<number, AbortController>();
  const reply = (message: IsolateMessage, id?: number) => {
    try {
      send(message);
    } catch (error) {
      // The value could not be sent (not cloneable / not JSON): report that instead.
      if (id !== undefined) {
        send({ t: "result", id, ok: false, error: wireError(error) });
      }
    }
  };
  return async (message) => {
    switch (message.t) {
      case "init":
        try {
          const module = await import(message.entry);
          if (typeof module.default !== "function") {
            throw new TypeError(
              "the entry module's default export must be a function",
            );
          }
          plugin = module.default;
          reply({ t: "ready" });
        } catch (error) {
          reply({ t: "failed", error: wireError(error) });
        }
        return;
      case "ping":
        reply({ t: "pong", n: message.n });
        return;
      case "abort":
        calls.get(message.id)?.abort(
          new DOMException(message.reason, "AbortError"),
        );
        return;
      case "call": {
        const controller = new AbortController();
        calls.set(message.id, controller);
        const ctx: IsolateContext = {
          ...message.ctx,
          deadline: message.ctx.deadline ?? Infinity,
          signal: controller.signal,
        };
        try {
          const value = await plugin!(ctx, message.input);
          reply({ t: "result", id: message.id, ok: true, value }, message.id);
        } catch (error) {
          reply({
            t: "result",
            id: message.id,
            ok: false,
            error: wireError(error),
          });
        } finally {
          calls.delete(message.id);
        }
      }
    }
  };
}

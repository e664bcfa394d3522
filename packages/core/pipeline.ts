/**
 * `@krepis/core/pipeline`: behaviors that wrap every command and query — error mapping,
 * tracing, timeouts and cancellation, authentication — and `defineBehavior` for your own.
 * `createApp` uses {@linkcode defaultBehaviors} unless `behaviors` says otherwise.
 *
 * @example
 * ```ts
 * import { createApp, ok } from "@krepis/core";
 * import { auth, defaultBehaviors } from "@krepis/core/pipeline";
 * import { memorySink } from "@krepis/core/testing";
 * const app = createApp({
 *   behaviors: [...defaultBehaviors(), auth((ctx) => ok(ctx))],
 *   log: memorySink(),
 * });
 * await app.close();
 * ```
 *
 * @module
 */

export {
  type Behavior,
  defineBehavior,
  type Next,
} from "./src/pipeline/behavior.ts";
export { defaultBehaviors } from "./src/app/create_app.ts";
export { errors } from "./src/pipeline/errors.ts";
export { tracing, type TracingOptions } from "./src/pipeline/tracing.ts";
export { timeout, type TimeoutOptions } from "./src/pipeline/timeout.ts";
export { auth, type AuthHook } from "./src/pipeline/auth.ts";

/**
 * `PluginError`: why loading or calling a plugin failed.
 *
 * @module
 */

/**
 * Reason of a {@linkcode PluginError}: `REFUSED` (the kernel refused the signature),
 * `PLUGIN_ERROR` (the plugin threw), `TIMEOUT` (its deadline passed), `CANCELLED` (the caller
 * aborted), `CRASHED` (the isolate died or was terminated during the call), `UNAVAILABLE`
 * (restarting after a crash), `CLOSED` (the plugin was closed).
 *
 * @example
 * ```ts
 * import type { PluginErrorCode } from "@krepis/core/plugins";
 * const code: PluginErrorCode = "TIMEOUT";
 * ```
 */
export type PluginErrorCode =
  | "REFUSED"
  | "PLUGIN_ERROR"
  | "TIMEOUT"
  | "CANCELLED"
  | "CRASHED"
  | "UNAVAILABLE"
  | "CLOSED";

/**
 * Raised by {@linkcode loadPlugin} and plugin calls; `code` is for branching.
 *
 * @example
 * ```ts
 * import { PluginError } from "@krepis/core/plugins";
 * const e = new PluginError("TIMEOUT", "greeter", "deadline passed");
 * console.assert(e.code === "TIMEOUT" && e.message.includes("greeter"));
 * ```
 */
export class PluginError extends Error {
  /** Machine-readable reason. */
  readonly code: PluginErrorCode;
  /** The plugin's name (or directory, when it was refused before it had one). */
  readonly plugin: string;
  /** For `PLUGIN_ERROR`: the class name of what the plugin threw (e.g. `NotCapable`). */
  readonly remoteName?: string;

  /**
   * Creates an error about `plugin`.
   *
   * @param code Machine-readable reason.
   * @param plugin The plugin's name.
   * @param message What happened.
   * @param options `remoteName`: the thrown class in the isolate; `cause`: the underlying error.
   */
  constructor(
    code: PluginErrorCode,
    plugin: string,
    message: string,
    options: { remoteName?: string; cause?: unknown } = {},
  ) {
    super(`plugin ${plugin}: ${message}`, { cause: options.cause });
    this.name = "PluginError";
    this.code = code;
    this.plugin = plugin;
    if (options.remoteName !== undefined) this.remoteName = options.remoteName;
  }
}

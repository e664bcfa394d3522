/**
 * `@krepis/core/plugins`: load third-party plugins that the kernel verified (ed25519
 * signature over every file, the manifest's permissions and the static check result) and run
 * each in its own isolate with exactly the permissions it declares.
 *
 * ```ts ignore
 * import { createApp } from "@krepis/core";
 * import { defaultBehaviors } from "@krepis/core/pipeline";
 * import { loadPlugin, pluginBehavior } from "@krepis/core/plugins";
 * const greeter = await loadPlugin("plugins/greeter", {
 *   trustedKeys: [await Deno.readTextFile("publisher.key.pub")],
 * });
 * const app = createApp({ behaviors: [...defaultBehaviors(), pluginBehavior(greeter)] });
 * ```
 *
 * @module
 */

export {
  loadPlugin,
  type LoadPluginOptions,
  type Plugin,
} from "./src/plugins/load.ts";
export {
  type BehaviorDecision,
  pluginBehavior,
} from "./src/plugins/behavior.ts";
export { PluginError, type PluginErrorCode } from "./src/plugins/errors.ts";
export type {
  PluginManifest,
  PluginPermissions,
} from "./src/plugins/manifest.ts";
export type { IsolateContext } from "./src/plugins/isolate_runtime.ts";

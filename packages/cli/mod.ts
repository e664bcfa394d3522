/**
 * `@krepis/cli`: the architecture checker for Krepis apps (Trinity pattern:
 * a pure domain, application code that depends on ports only, and queries
 * that never write). `check.ts` runs it with the ctx checker.
 *
 * ```ts ignore
 * import { checkApps } from "@krepis/cli";
 * const report = checkApps(["examples/todo"], new Set(["ctx", "arch"]));
 * ```
 *
 * @module
 */

export { checkArch } from "./src/arch_checker.ts";
export { ARCH_RULES, isWriteMethod } from "./src/arch_rules.ts";
export { checkApps, type RuleSet } from "./check.ts";
export {
  checkPlugin,
  formatPluginReport,
  PLUGIN_CHECKER,
  type PluginFinding,
  type PluginReport,
} from "./src/plugin_checker.ts";
export {
  type ArgKind,
  type DeclaredPermissions,
  DENO_APIS,
  DENO_ENV_APIS,
  DYNAMIC_GLOBALS,
  DYNAMIC_NODE_MODULES,
  flagFor,
  GLOBAL_OBJECTS,
  hostCovered,
  isGatedNodeModule,
  type Need,
  nodeNeeds,
  pathCovered,
  type PermissionName,
  PLUGIN_RULES,
  WEB_APIS,
} from "./src/plugin_rules.ts";

/**
 * Package version.
 *
 * @example
 * ```ts
 * import { VERSION } from "./mod.ts";
 * console.log(VERSION);
 * ```
 */
export const VERSION = "0.1.0";

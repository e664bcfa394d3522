/**
 * Krepis root entry point: re-exports the application layer of `@krepis/core` (its `.`
 * entry). The I/O layers are subpaths of the package: `@krepis/core/http`,
 * `@krepis/core/storage`, `@krepis/core/native` (see `packages/core/README.md`).
 *
 * @example
 * ```ts
 * import { defineQuery, ok } from "./mod.ts";
 * const ping = defineQuery({ name: "ping", handle: () => ok("pong") });
 * console.assert(ping.kind === "query");
 * ```
 *
 * @module
 */

export * from "@krepis/core";

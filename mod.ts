/**
 * Krepis repository root entry: the application layer of `@krepis/core`, by relative path.
 *
 * Apps import `jsr:@krepis/core` (and its subpaths `/http`, `/storage`, `/native`, `/knul`,
 * `/plugins`, `/pipeline`, `/testing`); this file exists for scripts inside this
 * checkout, and for scripts elsewhere that run with `--config <checkout>/deno.json` so the
 * workspace's dependencies resolve.
 *
 * @example
 * ```ts
 * import { ok } from "./mod.ts";
 * console.assert(ok(1).ok);
 * ```
 *
 * @module
 */

export * from "./packages/core/mod.ts";

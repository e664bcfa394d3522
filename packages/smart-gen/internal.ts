/**
 * Building blocks shared with `@krepis/cli` (project loading and the
 * per-file ctx check). They hand out ts-morph objects, so this entry point
 * is for sibling packages, not a stable public API.
 *
 * @module
 */

export { checkCtxFile } from "./src/ctx_checker.ts";
export {
  createProject,
  loadApp,
  type LoadedApp,
  relativePath,
} from "./src/project.ts";

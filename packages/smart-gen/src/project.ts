/**
 * Loads an app's TypeScript files into a ts-morph project that resolves
 * imports the way Deno does for the cases the checkers care about: relative
 * `.ts` specifiers and local entries of the `deno.json` import map.
 *
 * @module
 */

import {
  ModuleKind,
  ModuleResolutionKind,
  Project,
  ScriptTarget,
  type SourceFile,
} from "ts-morph";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { existsSync, readFileSync } from "node:fs";
import { isTestFile } from "./classify.ts";

/** Directories never scanned: dependencies, build output and runtime data. */
const SKIP_DIRS = ["node_modules", "target", ".krepis", ".git", "coverage"];

/** An app loaded for checking. */
export interface LoadedApp {
  /** Absolute root directory that paths in reports are relative to. */
  root: string;
  /** The ts-morph project (with the type checker). */
  project: Project;
  /** The files to check (tests and skipped directories left out). */
  files: SourceFile[];
}

/**
 * Path of `file` relative to `root`, `/` separated, for reports.
 *
 * @example
 * ```ts
 * import { relativePath } from "./project.ts";
 * relativePath("/app", "/app/src/domain/todo.ts"); // "src/domain/todo.ts"
 * ```
 */
export function relativePath(root: string, file: string): string {
  return relative(root, file).replaceAll("\\", "/");
}

/**
 * Local import-map entries from every `deno.json` from `root` upwards (the
 * nearest wins), as TypeScript `paths`, so `@krepis/core` resolves to the
 * workspace sources.
 */
function importMapPaths(root: string): Record<string, string[]> {
  const paths: Record<string, string[]> = {};
  let dir = root;
  while (true) {
    for (const name of ["deno.json", "deno.jsonc"]) {
      const file = join(dir, name);
      if (!existsSync(file)) continue;
      const imports = readImports(file);
      for (const [key, target] of Object.entries(imports)) {
        if (key in paths || !/^(\.{1,2}\/|\/)/.test(target)) continue;
        const abs = isAbsolute(target) ? target : resolve(dir, target);
        paths[key] = [abs];
        if (key.endsWith("/")) paths[`${key}*`] = [`${abs}*`];
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return paths;
    dir = parent;
  }
}

function readImports(file: string): Record<string, string> {
  try {
    const json = JSON.parse(readFileSync(file, "utf8"));
    return typeof json?.imports === "object" && json.imports !== null
      ? json.imports
      : {};
  } catch {
    // A deno.jsonc with comments: the checkers still work, only bare
    // specifiers stay unresolved.
    return {};
  }
}

/**
 * Create an in-memory-config project for `root` (no files added yet).
 *
 * @example
 * ```ts ignore
 * import { createProject } from "./project.ts";
 * const project = createProject("/path/to/app");
 * ```
 */
export function createProject(root: string): Project {
  return new Project({
    compilerOptions: {
      target: ScriptTarget.ESNext,
      module: ModuleKind.ESNext,
      moduleResolution: ModuleResolutionKind.Bundler,
      allowImportingTsExtensions: true,
      noEmit: true,
      strict: true,
      skipLibCheck: true,
      baseUrl: root,
      paths: importMapPaths(root),
    },
    skipAddingFilesFromTsConfig: true,
  });
}

/**
 * Load every `.ts`/`.tsx` file under `root` except tests and skipped
 * directories.
 *
 * @example
 * ```ts ignore
 * import { loadApp } from "./project.ts";
 * const app = loadApp("examples/todo");
 * console.log(app.files.length);
 * ```
 */
export function loadApp(rootDir: string): LoadedApp {
  const root = resolve(rootDir);
  if (!existsSync(root)) throw new Error(`no such directory: ${rootDir}`);
  const project = createProject(root);
  const skips = SKIP_DIRS.map((d) => `!${root}/**/${d}/**`);
  const added = project.addSourceFilesAtPaths([
    `${root}/**/*.{ts,tsx,mts}`,
    ...skips,
  ]);
  const files = added
    .filter((f) => !isTestFile(f.getFilePath()))
    .sort((a, b) => a.getFilePath().localeCompare(b.getFilePath()));
  return { root, project, files };
}

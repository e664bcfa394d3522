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
import { existsSync, readdirSync, readFileSync } from "node:fs";
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
 * TypeScript compiler options for checking the app at `root` (plain data,
 * so packages with their own ts-morph can use them): Deno-style `.ts`
 * imports, and `paths` from the local entries of every `deno.json` import
 * map from `root` upwards (the nearest wins), so `@krepis/core` resolves to
 * the workspace sources.
 *
 * @example
 * ```ts
 * import { appCompilerOptions } from "./project.ts";
 * const options = appCompilerOptions(Deno.cwd());
 * console.log(options.allowImportingTsExtensions); // true
 * ```
 */
export function appCompilerOptions(root: string): AppCompilerOptions {
  return {
    target: ScriptTarget.ESNext,
    module: ModuleKind.ESNext,
    moduleResolution: ModuleResolutionKind.Bundler,
    allowImportingTsExtensions: true,
    noEmit: true,
    strict: true,
    skipLibCheck: true,
    baseUrl: root,
    paths: importMapPaths(root),
  };
}

/**
 * The compiler options {@linkcode appCompilerOptions} returns.
 *
 * @example
 * ```ts
 * import type { AppCompilerOptions } from "./project.ts";
 * const paths: AppCompilerOptions["paths"] = { "@krepis/core": ["/repo/packages/core/mod.ts"] };
 * ```
 */
export type AppCompilerOptions = {
  /** `ts.ScriptTarget.ESNext`. */
  target: number;
  /** `ts.ModuleKind.ESNext`. */
  module: number;
  /** `ts.ModuleResolutionKind.Bundler`. */
  moduleResolution: number;
  /** Deno imports name `.ts` files. */
  allowImportingTsExtensions: boolean;
  /** Checking only. */
  noEmit: boolean;
  /** Strict mode, as Deno. */
  strict: boolean;
  /** Declaration files are not the app's concern. */
  skipLibCheck: boolean;
  /** The app root. */
  baseUrl: string;
  /** Import-map entries that point at local files. */
  paths: Record<string, string[]>;
};

/**
 * The app's source files under `root` (absolute): every `.ts`, `.tsx` and
 * `.mts` file outside dependency, build and data directories, sorted. Tests
 * are filtered afterwards with {@linkcode isTestFile}. A plain directory walk
 * rather than globs: ts-morph's glob matching depends on the current
 * directory and missed files when run from inside the app.
 *
 * @example
 * ```ts ignore
 * import { appSourceFiles } from "./project.ts";
 * appSourceFiles("/app").every((f) => f.startsWith("/app/")); // true
 * ```
 */
export function appSourceFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!SKIP_DIRS.includes(entry.name)) walk(path);
      } else if (entry.isFile() && /\.(ts|tsx|mts)$/.test(entry.name)) {
        out.push(path);
      }
    }
  };
  walk(root);
  return out.sort();
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
  const project = new Project({
    compilerOptions: appCompilerOptions(root),
    skipAddingFilesFromTsConfig: true,
  });
  const added = appSourceFiles(root).map((f) => project.addSourceFileAtPath(f));
  const files = added
    .filter((f) => !isTestFile(f.getFilePath()))
    .sort((a, b) => a.getFilePath().localeCompare(b.getFilePath()));
  return { root, project, files };
}

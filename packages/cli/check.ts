/**
 * `krepis check` in TypeScript: runs the ctx checker and the architecture
 * checker over app directories, or over single files (for editors and
 * pre-commit hooks: the file's app is found by walking up to its `deno.json`
 * or `.krepis/`, and only the file's violations are reported).
 *
 * ```sh
 * deno run -A packages/cli/check.ts [--json] [--rules ctx,arch] [dir|file...]
 * ```
 *
 * Exit code 0 when clean, 1 on violations, 2 on bad arguments.
 *
 * @module
 */

import {
  formatJson,
  formatText,
  parseStrict,
  type Report,
  runMain,
  sortViolations,
  UsageError,
} from "@krepis/smart-gen";
import { checkCtx } from "@krepis/smart-gen";
import { checkArch } from "./src/arch_checker.ts";
import { existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const USAGE =
  "usage: krepis check [--json] [--rules ctx,arch] [dir|file...]   (default: the project around .)";

/**
 * Which checkers to run.
 *
 * @example
 * ```ts
 * import type { RuleSet } from "./check.ts";
 * const rules = new Set<RuleSet>(["ctx", "arch"]);
 * ```
 */
export type RuleSet = "ctx" | "arch";

/**
 * Run the selected checkers over every app directory in `dirs`.
 *
 * @example
 * ```ts ignore
 * import { checkApps } from "./check.ts";
 * const report = checkApps(["examples/todo"], new Set(["ctx", "arch"]));
 * console.log(report.violations.length === 0);
 * ```
 */
export function checkApps(dirs: string[], rules: ReadonlySet<RuleSet>): Report {
  const reports = [
    ...(rules.has("ctx") ? [checkCtx(dirs)] : []),
    ...(rules.has("arch") ? [checkArch(dirs)] : []),
  ];
  return {
    filesChecked: Math.max(0, ...reports.map((r) => r.filesChecked)),
    violations: sortViolations(reports.flatMap((r) => r.violations)),
  };
}

/**
 * The app root of `file`: the nearest directory upwards holding a `deno.json`,
 * `deno.jsonc` or `.krepis/`.
 *
 * @example
 * ```ts ignore
 * import { projectRootOf } from "./check.ts";
 * projectRootOf("my-app/src/app.ts"); // "/abs/my-app"
 * ```
 */
export function projectRootOf(file: string): string {
  let dir = dirname(resolve(file));
  for (;;) {
    if (
      ["deno.json", "deno.jsonc", ".krepis"].some((name) =>
        existsSync(join(dir, name))
      )
    ) {
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) {
      throw new UsageError(
        `${file} is not inside a Krepis project (no deno.json or .krepis/ above it)`,
      );
    }
    dir = parent;
  }
}

/**
 * Run the selected checkers over `paths`: directories are checked whole; a
 * file is checked within its app (so imports and layers resolve) and only
 * its own violations are reported.
 *
 * @example
 * ```ts ignore
 * import { checkPaths } from "./check.ts";
 * const report = checkPaths(["my-app/src/app.ts"], new Set(["ctx", "arch"]));
 * console.log(report.filesChecked); // 1
 * ```
 */
export function checkPaths(
  paths: string[],
  rules: ReadonlySet<RuleSet>,
): Report {
  const dirs: string[] = [];
  const files = new Map<string, Set<string>>();
  for (const path of paths) {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(path);
    } catch {
      throw new UsageError(`${path} does not exist`);
    }
    if (info.isDirectory) {
      dirs.push(path);
      continue;
    }
    const root = projectRootOf(path);
    if (!files.has(root)) files.set(root, new Set());
    files.get(root)!.add(relative(root, resolve(path)).replaceAll("\\", "/"));
  }
  const reports = dirs.length ? [checkApps(dirs, rules)] : [];
  for (const [root, wanted] of files) {
    const report = checkApps([root], rules);
    reports.push({
      filesChecked: wanted.size,
      violations: report.violations.filter((v) => wanted.has(v.file)),
    });
  }
  return {
    filesChecked: reports.reduce((n, r) => n + r.filesChecked, 0),
    violations: sortViolations(reports.flatMap((r) => r.violations)),
  };
}

function parseRules(value: string | undefined): Set<RuleSet> {
  const names = (value ?? "ctx,arch").split(",").map((s) => s.trim()).filter(
    Boolean,
  );
  const rules = new Set<RuleSet>();
  for (const name of names) {
    if (name !== "ctx" && name !== "arch") {
      throw new UsageError(`unknown rule set "${name}" (expected ctx or arch)`);
    }
    rules.add(name);
  }
  return rules;
}

if (import.meta.main) {
  await runMain(USAGE, () => {
    const { values, positionals } = parseStrict(Deno.args, {
      json: { type: "boolean" },
      rules: { type: "string" },
    });
    const report = checkPaths(
      positionals.length > 0 ? positionals : ["."],
      parseRules(values.rules),
    );
    console.log(values.json ? formatJson(report) : formatText(report));
    return Promise.resolve(report.violations.length === 0 ? 0 : 1);
  });
}

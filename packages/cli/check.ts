/**
 * `krepis check` in TypeScript: runs the ctx checker and the architecture
 * checker over one or more app directories.
 *
 * ```sh
 * deno run -A packages/cli/check.ts [--json] [--rules ctx,arch] [dir...]
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

const USAGE =
  "usage: krepis check [--json] [--rules ctx,arch] [dir...]   (default dir: .)";

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
    const report = checkApps(
      positionals.length > 0 ? positionals : ["."],
      parseRules(values.rules),
    );
    console.log(values.json ? formatJson(report) : formatText(report));
    return Promise.resolve(report.violations.length === 0 ? 0 : 1);
  });
}

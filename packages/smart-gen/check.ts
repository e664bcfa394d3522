/**
 * Command-line ctx checker: `deno run -A check.ts [--json] [dir...]`.
 * Prints `file:line:col` violations with fix hints and exits 1 when there
 * are any (2 for bad arguments).
 *
 * @module
 */

import { parseStrict, runMain } from "./src/args.ts";
import { loadApp } from "./src/project.ts";
import { checkCtxFile } from "./src/ctx_checker.ts";
import {
  formatJson,
  formatText,
  type Report,
  sortViolations,
} from "./src/report.ts";

const USAGE = "usage: check.ts [--json] [dir...]   (default dir: .)";

/**
 * Check the apps under `dirs` and merge their reports (paths stay relative
 * to each app's root).
 *
 * @example
 * ```ts ignore
 * import { checkCtx } from "./check.ts";
 * const report = checkCtx(["examples/todo"]);
 * console.log(report.violations.length);
 * ```
 */
export function checkCtx(dirs: string[]): Report {
  const report: Report = { filesChecked: 0, violations: [] };
  for (const dir of dirs) {
    const app = loadApp(dir);
    report.filesChecked += app.files.length;
    for (const file of app.files) {
      report.violations.push(...checkCtxFile(app.root, file));
    }
  }
  report.violations = sortViolations(report.violations);
  return report;
}

if (import.meta.main) {
  await runMain(USAGE, () => {
    const { values, positionals } = parseStrict(Deno.args, {
      json: { type: "boolean" },
    });
    const report = checkCtx(positionals.length > 0 ? positionals : ["."]);
    console.log(values.json ? formatJson(report) : formatText(report));
    return Promise.resolve(report.violations.length === 0 ? 0 : 1);
  });
}

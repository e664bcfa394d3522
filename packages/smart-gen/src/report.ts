/**
 * Violations with positions, and their text and JSON renderings, shared by
 * the ctx checker and the architecture checker in `@krepis/cli`.
 *
 * @module
 */

/**
 * One rule violation at a position (1-based line and column).
 *
 * @example
 * ```ts
 * import type { Violation } from "./report.ts";
 * const v: Violation = {
 *   rule: "ctx-first",
 *   file: "src/ports/repo.ts",
 *   line: 4,
 *   column: 3,
 *   message: "`Repo.find` takes `id: string` first",
 *   hint: "make `ctx: KrepisContext` the first parameter",
 * };
 * ```
 */
export interface Violation {
  /** Rule identifier, e.g. `ctx-first`. */
  rule: string;
  /** Path relative to the checked root, `/` separated. */
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  column: number;
  /** What is wrong. */
  message: string;
  /** How to fix it. */
  hint: string;
}

/**
 * The outcome of a check run.
 *
 * @example
 * ```ts
 * import type { Report } from "./report.ts";
 * const clean: Report = { filesChecked: 12, violations: [] };
 * ```
 */
export interface Report {
  /** How many source files were examined. */
  filesChecked: number;
  /** Every violation, sorted by file and position. */
  violations: Violation[];
}

/**
 * Sort violations by file, line and column so output is stable.
 *
 * @example
 * ```ts
 * import { sortViolations } from "./report.ts";
 * sortViolations([]); // []
 * ```
 */
export function sortViolations(violations: Violation[]): Violation[] {
  return [...violations].sort((a, b) =>
    a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column ||
    a.rule.localeCompare(b.rule)
  );
}

/**
 * Render a report for people: one `file:line:col` line per violation with
 * an indented hint, then a summary line.
 *
 * @example
 * ```ts
 * import { formatText } from "./report.ts";
 * console.log(formatText({ filesChecked: 3, violations: [] }));
 * ```
 */
export function formatText(report: Report): string {
  const lines: string[] = [];
  for (const v of report.violations) {
    lines.push(`${v.file}:${v.line}:${v.column} error[${v.rule}] ${v.message}`);
    lines.push(`  hint: ${v.hint}`);
  }
  const n = report.violations.length;
  lines.push(
    n === 0
      ? `ok: ${report.filesChecked} files checked, no violations`
      : `${n} violation${
        n === 1 ? "" : "s"
      } in ${report.filesChecked} files checked`,
  );
  return lines.join("\n");
}

/**
 * Render a report as JSON (`{ filesChecked, violations: [...] }`).
 *
 * @example
 * ```ts
 * import { formatJson } from "./report.ts";
 * JSON.parse(formatJson({ filesChecked: 0, violations: [] })).filesChecked; // 0
 * ```
 */
export function formatJson(report: Report): string {
  return JSON.stringify(report, null, 2);
}

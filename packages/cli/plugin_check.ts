/**
 * `krepis plugin check` in TypeScript: analyses a plugin's module graph against the
 * permissions its `krepis.plugin.json` declares.
 *
 * ```sh
 * deno run -A packages/cli/plugin_check.ts [--json] <plugin-dir>
 * ```
 *
 * Exit code 0 when there are no errors (warnings allowed), 1 on errors, 2 on bad arguments.
 * The Rust CLI validates the manifest with the kernel before running this.
 *
 * @module
 */

import { parseStrict, runMain, UsageError } from "@krepis/smart-gen";
import { checkPlugin, formatPluginReport } from "./src/plugin_checker.ts";

const USAGE = "usage: krepis plugin check [--json] <plugin-dir>";

if (import.meta.main) {
  await runMain(USAGE, () => {
    const { values, positionals } = parseStrict(Deno.args, {
      json: { type: "boolean" },
    });
    if (positionals.length !== 1) {
      throw new UsageError("expected exactly one plugin directory");
    }
    const report = checkPlugin(positionals[0]);
    console.log(
      values.json
        ? JSON.stringify(report, null, 2)
        : formatPluginReport(report),
    );
    return Promise.resolve(report.errors === 0 ? 0 : 1);
  });
}

/**
 * `krepis plugin run` in TypeScript: loads a `command` plugin (the kernel verifies it against
 * the trusted keys first) and calls it in its isolate with the command-line arguments.
 *
 * ```sh
 * deno run -A --unstable-worker-options packages/cli/plugin_run.ts \
 *   --trust publisher.key.pub [--isolation process] <plugin-dir> [args...]
 * ```
 *
 * The plugin's default export gets `{ args }` and returns `{ exitCode?, output? }`: a string
 * `output` is printed as is, anything else as JSON. Exit code: the plugin's (default 0); 1
 * when it is refused or fails; 2 on bad arguments.
 *
 * @module
 */

import { createContext } from "@krepis/core";
import { loadPlugin } from "@krepis/core/plugins";
import { parseStrict, runMain, UsageError } from "@krepis/smart-gen";

const USAGE =
  "usage: krepis plugin run --trust <key.pub>... [--isolation worker|process] <plugin-dir> [-- args...]";

if (import.meta.main) {
  await runMain(USAGE, async () => {
    const { values, positionals } = parseStrict(Deno.args, {
      trust: { type: "string", multiple: true },
      isolation: { type: "string" },
    });
    const [dir, ...args] = positionals;
    if (dir === undefined) throw new UsageError("missing <plugin-dir>");
    if (!values.trust?.length) {
      throw new UsageError("give at least one --trust <key.pub>");
    }
    const isolation = values.isolation ?? "worker";
    if (isolation !== "worker" && isolation !== "process") {
      throw new UsageError(
        `--isolation must be worker or process, not ${isolation}`,
      );
    }
    const trustedKeys = await Promise.all(
      values.trust.map((path) => Deno.readTextFile(path)),
    );
    await using plugin = await loadPlugin(dir, { trustedKeys, isolation });
    if (plugin.manifest.kind !== "command") {
      throw new Error(
        `plugin ${plugin.manifest.name} is a ${plugin.manifest.kind} plugin, not a command`,
      );
    }
    const result = await plugin.call(
      createContext({ name: plugin.manifest.name }),
      { args },
    ) as { exitCode?: unknown; output?: unknown } | undefined;
    const output = result?.output;
    if (output !== undefined) {
      console.log(
        typeof output === "string" ? output : JSON.stringify(output, null, 2),
      );
    }
    const code = result?.exitCode;
    return typeof code === "number" && Number.isInteger(code) ? code : 0;
  });
}

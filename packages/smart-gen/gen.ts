/**
 * The generator behind `krepis gen`:
 *
 * ```sh
 * deno run -A gen.ts <command|query|port|adapter> <Name> [--port P] [--route "POST /path"] [--app file] [--root dir] [--no-test]
 * ```
 *
 * Prints the plan as JSON (`{ files: [{ path, content, action }], notes }`)
 * with every file formatted by `deno fmt`; it writes nothing itself. Exit
 * code 1 when the generation is impossible, 2 for bad arguments.
 *
 * @module
 */

import { parseStrict, runMain, UsageError } from "./src/args.ts";
import { type GenKind, type Plan, planGeneration } from "./src/gen/plan.ts";
import { ROUTE_METHODS, type RouteSpec } from "./src/gen/app_module.ts";

export type { RouteMethod, RouteSpec } from "./src/gen/app_module.ts";

export {
  type GenKind,
  type GenOptions,
  type Plan,
  planGeneration,
  type PlannedFile,
} from "./src/gen/plan.ts";

const USAGE =
  `usage: krepis gen <command|query|port|adapter> <Name> [--port <Port>] [--route "<METHOD> /path"] [--app <file>] [--root <dir>] [--no-test] [--dry-run]`;
const KINDS: readonly GenKind[] = ["command", "query", "port", "adapter"];

/**
 * Parse `"POST /todos/:id"` into a route spec.
 *
 * @example
 * ```ts
 * import { parseRoute } from "./gen.ts";
 * parseRoute("post /todos").method; // "POST"
 * ```
 */
export function parseRoute(text: string): RouteSpec {
  const match = /^\s*([A-Za-z]+)\s+(\/\S*)\s*$/.exec(text);
  const method = match?.[1].toUpperCase();
  if (!match || !ROUTE_METHODS.includes(method as RouteSpec["method"])) {
    throw new UsageError(
      `invalid --route "${text}": expected "<${
        ROUTE_METHODS.join("|")
      }> /path", e.g. "POST /todos"`,
    );
  }
  return { method: method as RouteSpec["method"], path: match[2] };
}

/**
 * Format every planned file with `deno fmt` (using the app's configuration).
 *
 * @example
 * ```ts ignore
 * import { formatPlan } from "./gen.ts";
 * await formatPlan(plan, "my-app");
 * ```
 */
export async function formatPlan(plan: Plan, root: string): Promise<void> {
  for (const file of plan.files) {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["fmt", "--ext", "ts", "-"],
      cwd: root,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(file.content));
    await writer.close();
    const out = await child.output();
    if (!out.success) {
      throw new Error(
        `generated ${file.path} does not parse:\n${
          new TextDecoder().decode(out.stderr)
        }`,
      );
    }
    file.content = new TextDecoder().decode(out.stdout);
  }
}

if (import.meta.main) {
  await runMain(USAGE, async () => {
    const { values, positionals } = parseStrict(Deno.args, {
      port: { type: "string" },
      route: { type: "string" },
      app: { type: "string" },
      root: { type: "string" },
      "no-test": { type: "boolean" },
    });
    const [kind, name, ...extra] = positionals;
    if (!KINDS.includes(kind as GenKind)) {
      throw new UsageError(
        kind
          ? `unknown kind "${kind}" (expected ${KINDS.join(", ")})`
          : "missing <kind>",
      );
    }
    if (!name) throw new UsageError(`missing <Name> for the ${kind}`);
    if (extra.length > 0) {
      throw new UsageError(`unexpected argument "${extra[0]}"`);
    }
    const root = values.root ?? ".";
    const plan = planGeneration({
      root,
      kind: kind as GenKind,
      name,
      port: values.port,
      route: values.route === undefined ? undefined : parseRoute(values.route),
      app: values.app,
      noTest: values["no-test"] === true,
    });
    await formatPlan(plan, root);
    console.log(JSON.stringify(plan));
    return 0;
  });
}

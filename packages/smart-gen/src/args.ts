/**
 * Argument parsing shared by the TypeScript entry points, so that bad
 * arguments end in a one-line usage error (exit code 2), never a stack trace.
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";

/** Thrown for bad command-line arguments; entry points print it with the usage. */
export class UsageError extends Error {
  /**
   * Creates a usage error; `message` says what is wrong with the arguments.
   *
   * @example
   * ```ts
   * import { UsageError } from "./args.ts";
   * const error = new UsageError("missing <dir>");
   * console.log(error.message); // "missing <dir>"
   * ```
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * Parse `args` strictly against `options`, turning parse failures into
 * {@linkcode UsageError}.
 *
 * @example
 * ```ts
 * import { parseStrict } from "./args.ts";
 * const { values } = parseStrict(["--json"], { json: { type: "boolean" } });
 * values.json; // true
 * ```
 */
export function parseStrict<T extends ParseArgsOptionsConfig>(
  args: string[],
  options: T,
): ReturnType<
  typeof parseArgs<{ args: string[]; options: T; allowPositionals: true }>
> {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(
      error instanceof Error ? error.message : String(error),
    );
  }
}

/**
 * Run an entry point: usage errors print `error: ...` and the usage text
 * and exit 2; other errors print their message and exit 1.
 *
 * @example
 * ```ts ignore
 * import { runMain } from "./args.ts";
 * await runMain("usage: tool <dir>", async () => 0);
 * ```
 */
export async function runMain(
  usage: string,
  main: () => Promise<number>,
): Promise<never> {
  try {
    Deno.exit(await main());
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`error: ${error.message}\n\n${usage}`);
      Deno.exit(2);
    }
    console.error(
      `error: ${error instanceof Error ? error.message : String(error)}`,
    );
    Deno.exit(1);
  }
}

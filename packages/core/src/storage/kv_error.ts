/**
 * Kernel KV errors as Deno KV raises them: a refused argument or a limit is a
 * `TypeError` carrying Deno's message; use after close is `Deno.errors.BadResource`.
 *
 * @module
 */

import { KrepisError } from "../errors.ts";

/** Turns a kernel refusal into the `TypeError` Deno KV throws; other errors pass through. */
export function kvError(error: unknown): unknown {
  if (
    error instanceof KrepisError &&
    (error.code === "INVALID_ARGUMENT" || error.code === "LIMIT_EXCEEDED")
  ) {
    return new TypeError(
      error.message.replace(/^(invalid argument|limit exceeded): /, ""),
    );
  }
  return error;
}

/** The error of a call on a closed store, as Deno's. */
export function badResource(): Error {
  return new Deno.errors.BadResource("Bad resource ID");
}

/**
 * Runs a handler's Standard Schema on raw input and turns issues into an `INVALID_INPUT`
 * `AppError`. No validation logic lives here: the schema library does the work.
 *
 * @module
 */

import type { StandardSchemaV1 } from "@standard-schema/spec";
import { AppError } from "../result/app_error.ts";
import { err, ok, type Result } from "../result/result.ts";

/** One validation problem, flattened for clients. */
export interface InputIssue {
  /** Dotted path to the offending field (`""` for the input itself). */
  path: string;
  /** The validator's message. */
  message: string;
}

function toResult(
  name: string,
  r: StandardSchemaV1.Result<unknown>,
): Result<unknown> {
  if (!r.issues) return ok(r.value);
  const issues: InputIssue[] = r.issues.map((issue) => ({
    path: (issue.path ?? [])
      .map((p) => String(typeof p === "object" ? p.key : p))
      .join("."),
    message: issue.message,
  }));
  return err(
    new AppError("INVALID_INPUT", `invalid input for "${name}"`, {
      details: { issues },
    }),
  );
}

/**
 * Validates `input` with `schema` (sync or async validators alike).
 *
 * @example
 * ```ts
 * import * as v from "valibot";
 * import { validateInput } from "./validate.ts";
 * const r = await validateInput("demo", v.object({ n: v.number() }), { n: "x" });
 * console.assert(!r.ok && r.error.code === "INVALID_INPUT");
 * ```
 */
export function validateInput(
  name: string,
  schema: StandardSchemaV1 | undefined,
  input: unknown,
): Result<unknown> | Promise<Result<unknown>> {
  if (!schema) return ok(undefined);
  const r = schema["~standard"].validate(input);
  return r instanceof Promise
    ? r.then((res) => toResult(name, res))
    : toResult(name, r);
}

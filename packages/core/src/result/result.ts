/**
 * `Result`: the return type of every command and query handler. Expected failures are values,
 * not exceptions, so the pipeline and the HTTP layer can map them without guessing.
 *
 * @module
 */

import type { AppError } from "./app_error.ts";

/**
 * A successful outcome carrying `value`.
 *
 * @example
 * ```ts
 * import { type Ok, ok } from "@krepis/core";
 * const r: Ok<number> = ok(1);
 * console.assert(r.value === 1);
 * ```
 */
export interface Ok<T> {
  /** Discriminant: `true` for success. */
  readonly ok: true;
  /** The produced value. */
  readonly value: T;
}

/**
 * A failed outcome carrying `error`.
 *
 * @example
 * ```ts
 * import { AppError, type Err, err } from "@krepis/core";
 * const r: Err<AppError> = err(new AppError("NOT_FOUND", "gone"));
 * console.assert(r.error.status === 404);
 * ```
 */
export interface Err<E> {
  /** Discriminant: `false` for failure. */
  readonly ok: false;
  /** Why it failed. */
  readonly error: E;
}

/**
 * Either a value or an error; `E` defaults to {@linkcode AppError}.
 *
 * @example
 * ```ts
 * import { AppError, err, ok, type Result } from "@krepis/core";
 * function half(n: number): Result<number> {
 *   return n % 2 === 0 ? ok(n / 2) : err(new AppError("INVALID_INPUT", "odd"));
 * }
 * const r = half(4);
 * console.assert(r.ok && r.value === 2);
 * ```
 */
export type Result<T, E = AppError> = Ok<T> | Err<E>;

/**
 * Wraps a value as a successful result.
 *
 * @example
 * ```ts
 * import { ok } from "@krepis/core";
 * const r = ok(42);
 * console.assert(r.ok && r.value === 42);
 * ```
 */
export function ok<T>(value: T): Ok<T> {
  return { ok: true, value };
}

/**
 * Wraps an error as a failed result.
 *
 * @example
 * ```ts
 * import { AppError, err } from "@krepis/core";
 * const r = err(new AppError("NOT_FOUND", "no such todo"));
 * console.assert(!r.ok && r.error.status === 404);
 * ```
 */
export function err<E>(error: E): Err<E> {
  return { ok: false, error };
}

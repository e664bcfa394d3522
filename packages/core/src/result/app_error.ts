/**
 * `AppError`: an application failure with a stable code and the HTTP status it maps to.
 *
 * @module
 */

/**
 * HTTP status for each well-known error code.
 *
 * @example
 * ```ts
 * import { ERROR_STATUS } from "@krepis/core";
 * console.assert(ERROR_STATUS.NOT_FOUND === 404 && ERROR_STATUS.TIMEOUT === 504);
 * ```
 */
export const ERROR_STATUS = {
  INVALID_INPUT: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNPROCESSABLE: 422,
  CANCELLED: 499,
  INTERNAL: 500,
  UNAVAILABLE: 503,
  TIMEOUT: 504,
} as const;

/**
 * A well-known error code; custom codes are allowed with an explicit status.
 *
 * @example
 * ```ts
 * import { AppError, type ErrorCode } from "@krepis/core";
 * const code: ErrorCode = "CONFLICT";
 * console.assert(new AppError(code, "dup").status === 409);
 * ```
 */
export type ErrorCode = keyof typeof ERROR_STATUS;

/**
 * Any error code: a well-known one (autocompleted) or a custom string.
 *
 * @example
 * ```ts
 * import { type AnyErrorCode, AppError } from "@krepis/core";
 * const code: AnyErrorCode = "QUOTA_EXCEEDED";
 * console.assert(new AppError(code, "slow down", { status: 429 }).code === code);
 * ```
 */
export type AnyErrorCode = ErrorCode | (string & Record<never, never>);

/**
 * Options of {@linkcode AppError}.
 *
 * @example
 * ```ts
 * import { AppError, type AppErrorOptions } from "@krepis/core";
 * const options: AppErrorOptions = { details: { field: "title" }, cause: new Error("db") };
 * console.assert(new AppError("INVALID_INPUT", "bad", options).details !== undefined);
 * ```
 */
export interface AppErrorOptions {
  /** HTTP status; defaults to the code's status, or 500 for an unknown code. */
  status?: number;
  /** JSON-serialisable details sent to the client (e.g. validation issues). */
  details?: unknown;
  /** The underlying error; logged, never sent to the client. */
  cause?: unknown;
}

/**
 * An expected application failure. Its `code`, `message` and `details` are safe to show to a
 * client; `cause` is not.
 *
 * @example
 * ```ts
 * import { AppError } from "@krepis/core";
 * const e = new AppError("CONFLICT", "todo already completed");
 * console.assert(e.status === 409);
 * const custom = new AppError("QUOTA_EXCEEDED", "too many todos", { status: 429 });
 * console.assert(custom.status === 429);
 * ```
 */
export class AppError extends Error {
  /** Stable machine-readable code. */
  readonly code: AnyErrorCode;
  /** HTTP status this error maps to. */
  readonly status: number;
  /** Client-visible details. */
  readonly details: unknown;

  /** Creates an error; the status follows the code unless given. */
  constructor(
    code: AnyErrorCode,
    message: string,
    options: AppErrorOptions = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "AppError";
    this.code = code;
    this.status = options.status ??
      (ERROR_STATUS as Record<string, number>)[code] ?? 500;
    this.details = options.details;
  }

  /** The JSON body sent to HTTP clients. */
  toJSON(): { code: string; message: string; details?: unknown } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

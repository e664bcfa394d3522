/**
 * KNUL status codes (`docs/knul.md` §4, gRPC numbering), the error a failed call raises,
 * and the mapping between the framework's `AppError` codes and KNUL statuses.
 *
 * @module
 */

import { AppError } from "../result/app_error.ts";

/**
 * The status codes of KNUL calls.
 *
 * @example
 * ```ts
 * import { KnulStatus } from "@krepis/core/knul";
 * console.assert(KnulStatus.DEADLINE_EXCEEDED === 4);
 * ```
 */
export const KnulStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/**
 * The name of a KNUL status code.
 *
 * @example
 * ```ts
 * import type { KnulStatusName } from "@krepis/core/knul";
 * const name: KnulStatusName = "NOT_FOUND";
 * console.assert(name.length > 0);
 * ```
 */
export type KnulStatusName = keyof typeof KnulStatus;

const NAMES = Object.fromEntries(
  Object.entries(KnulStatus).map(([k, v]) => [v, k]),
) as Record<number, KnulStatusName>;

/** AppError codes → KNUL statuses. */
const FROM_APP: Record<string, number> = {
  INVALID_INPUT: KnulStatus.INVALID_ARGUMENT,
  UNSUPPORTED_MEDIA_TYPE: KnulStatus.INVALID_ARGUMENT,
  UNAUTHORIZED: KnulStatus.UNAUTHENTICATED,
  FORBIDDEN: KnulStatus.PERMISSION_DENIED,
  NOT_FOUND: KnulStatus.NOT_FOUND,
  METHOD_NOT_ALLOWED: KnulStatus.UNIMPLEMENTED,
  CONFLICT: KnulStatus.FAILED_PRECONDITION,
  UNPROCESSABLE: KnulStatus.FAILED_PRECONDITION,
  PAYLOAD_TOO_LARGE: KnulStatus.RESOURCE_EXHAUSTED,
  CANCELLED: KnulStatus.CANCELLED,
  INTERNAL: KnulStatus.INTERNAL,
  UNAVAILABLE: KnulStatus.UNAVAILABLE,
  TIMEOUT: KnulStatus.DEADLINE_EXCEEDED,
};

/**
 * A KNUL call that did not end with `OK`: raised by the client, thrown by handlers to
 * answer with a specific status.
 *
 * @example
 * ```ts
 * import { KnulError, KnulStatus } from "@krepis/core/knul";
 * const e = new KnulError(KnulStatus.NOT_FOUND, "no such todo");
 * console.assert(e.status === "NOT_FOUND" && e.code === 5);
 * ```
 */
export class KnulError extends Error {
  /** The numeric status code. */
  readonly code: number;
  /** Machine-readable details (decoded JSON for JSON calls). */
  readonly details: unknown;
  /** The application's own error code (e.g. `"NOT_FOUND"`), when it failed with one. */
  readonly errorCode: string | undefined;

  /** Creates an error with `code` and `message`. */
  constructor(
    code: number,
    message: string,
    options: { details?: unknown; errorCode?: string; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "KnulError";
    this.code = code;
    this.details = options.details;
    this.errorCode = options.errorCode;
  }

  /** The status's name, e.g. `"DEADLINE_EXCEEDED"`. */
  get status(): KnulStatusName | `CODE_${number}` {
    return NAMES[this.code] ?? `CODE_${this.code}`;
  }
}

/**
 * The KNUL status an `AppError` code maps to (`UNKNOWN` for codes with no mapping).
 *
 * @example
 * ```ts
 * import { KnulStatus, statusOfAppError } from "@krepis/core/knul";
 * console.assert(statusOfAppError("INVALID_INPUT") === KnulStatus.INVALID_ARGUMENT);
 * ```
 */
export function statusOfAppError(code: string): number {
  return FROM_APP[code] ?? KnulStatus.UNKNOWN;
}

/** The status, message, details and app code a thrown value answers with. */
export function statusOf(
  error: unknown,
): {
  code: number;
  message: string;
  details: unknown;
  errorCode: string | undefined;
} {
  if (error instanceof KnulError) {
    return {
      code: error.code,
      message: error.message,
      details: error.details,
      errorCode: error.errorCode,
    };
  }
  if (error instanceof AppError) {
    return {
      code: statusOfAppError(error.code),
      message: error.message,
      details: error.details,
      errorCode: error.code,
    };
  }
  return {
    code: KnulStatus.INTERNAL,
    message: "internal error",
    details: undefined,
    errorCode: undefined,
  };
}

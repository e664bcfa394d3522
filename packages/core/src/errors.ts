/**
 * The error type of every failure that comes from the native kernel or the loader.
 *
 * @module
 */

/**
 * Machine-readable reason of a {@linkcode KrepisError}. Kernel codes mirror the Protobuf
 * `ErrorCode` enum; `LOAD_FAILED` and `ABI_MISMATCH` come from the loader.
 */
export type KrepisErrorCode =
  | "UNSPECIFIED"
  | "INVALID_ARGUMENT"
  | "INVALID_HANDLE"
  | "PANIC"
  | "NOT_FOUND"
  | "IO"
  | "ALREADY_EXISTS"
  | "CONFLICT"
  | "UNSUPPORTED"
  | "CLOSED"
  | "TIMEOUT"
  | "LIMIT_EXCEEDED"
  | "PERMISSION_DENIED"
  | "INTERNAL"
  | "LOAD_FAILED"
  | "ABI_MISMATCH";

/**
 * An error raised by the Krepis kernel or while loading it. `code` is stable and meant for
 * branching; `message` is for people.
 *
 * @example
 * ```ts
 * import { KrepisError } from "@krepis/core/native";
 * try {
 *   throw new KrepisError("NOT_FOUND", "no such key");
 * } catch (e) {
 *   if (e instanceof KrepisError && e.code === "NOT_FOUND") console.log("missing");
 * }
 * ```
 */
export class KrepisError extends Error {
  /** Machine-readable reason. */
  readonly code: KrepisErrorCode;
  /** The kernel function that failed, when the error came from the kernel. */
  readonly symbol?: string;

  /**
   * Creates an error with a code and a message.
   *
   * @param code Machine-readable reason.
   * @param message Human-readable explanation.
   * @param options `symbol`: the failing kernel function; `cause`: the underlying error.
   */
  constructor(
    code: KrepisErrorCode,
    message: string,
    options: { symbol?: string; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "KrepisError";
    this.code = code;
    this.symbol = options.symbol;
  }
}

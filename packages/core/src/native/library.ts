/**
 * Opens a kernel library file: checks its ABI version first, then binds every symbol with
 * the generated typed wrappers.
 *
 * @module
 */

import { fromBinary } from "@bufbuild/protobuf";
import {
  ABI_FINGERPRINT,
  ABI_VERSION,
  createBindings,
  ErrorCode,
  ErrorDetailSchema,
  type KernelBindings,
  type KernelSymbols,
  symbols,
} from "@krepis/bindings";
import { KrepisError, type KrepisErrorCode } from "../errors.ts";

/** An opened kernel library. */
export interface OpenedLibrary {
  /** Typed wrappers that throw {@linkcode KrepisError} on failure. */
  bindings: KernelBindings;
  /** The raw symbols, for hot paths that check results themselves. */
  symbols: KernelSymbols;
  /** Path the library was opened from. */
  path: string;
  /** Unloads the library. Only safe when nothing of it is in use any more. */
  close(): void;
}

const ABI_PROBE = {
  krepis_abi_version: symbols.krepis_abi_version,
} as const;

const FINGERPRINT_PROBE = {
  krepis_abi_fingerprint: symbols.krepis_abi_fingerprint,
} as const;

const REBUILD =
  "Rebuild the kernel from the same checkout (`deno task build:kernel`) or clear the cache " +
  "so the matching binary is downloaded.";

const hex = (n: number) => `0x${n.toString(16).padStart(8, "0")}`;

/**
 * The ABI version is bumped by people; the fingerprint follows every exported signature by
 * itself, so a library built from other sources than the bindings is refused even when the
 * version was not bumped.
 */
function checkFingerprint(path: string): void {
  let fingerprint: number;
  try {
    const probe = Deno.dlopen(path, FINGERPRINT_PROBE);
    fingerprint = probe.symbols.krepis_abi_fingerprint();
    probe.close();
  } catch (cause) {
    throw new KrepisError(
      "ABI_MISMATCH",
      `The Krepis kernel library ${path} reports ABI version ${ABI_VERSION} but has no ` +
        `ABI fingerprint, so it predates the bindings of @krepis/core. ${REBUILD}`,
      { cause },
    );
  }
  if (fingerprint !== ABI_FINGERPRINT) {
    throw new KrepisError(
      "ABI_MISMATCH",
      `The Krepis kernel library ${path} was built from other export signatures than ` +
        `@krepis/core's bindings: ABI fingerprint ${
          hex(fingerprint)
        }, expected ` +
        `${
          hex(ABI_FINGERPRINT)
        } (both report ABI version ${ABI_VERSION}). ${REBUILD} ` +
        `After changing an export, also run \`deno task codegen\`.`,
    );
  }
}

/**
 * Opens the kernel library at `path`, refusing one whose ABI differs from the bindings.
 *
 * @example
 * ```ts ignore
 * import { openLibrary } from "./library.ts";
 * const lib = openLibrary("./target/debug/libkrepis.so");
 * console.log(lib.bindings.abiVersion());
 * ```
 */
export function openLibrary(path: string): OpenedLibrary {
  let probe: Deno.DynamicLibrary<typeof ABI_PROBE>;
  try {
    probe = Deno.dlopen(path, ABI_PROBE);
  } catch (cause) {
    throw new KrepisError(
      "LOAD_FAILED",
      `Cannot load the Krepis kernel library ${path}: ${
        (cause as Error).message
      }`,
      { cause },
    );
  }
  const abi = probe.symbols.krepis_abi_version();
  probe.close();
  if (abi !== ABI_VERSION) {
    throw new KrepisError(
      "ABI_MISMATCH",
      `The Krepis kernel library ${path} has ABI version ${abi}, but @krepis/core ` +
        `expects ABI version ${ABI_VERSION}. ${REBUILD}`,
    );
  }
  checkFingerprint(path);
  let lib: Deno.DynamicLibrary<typeof symbols>;
  try {
    lib = Deno.dlopen(path, symbols);
  } catch (cause) {
    throw new KrepisError(
      "ABI_MISMATCH",
      `The Krepis kernel library ${path} reports ABI version ${abi} but lacks symbols ` +
        `the bindings need: ${(cause as Error).message}`,
      { cause },
    );
  }
  const raw = lib.symbols;
  let scratch = new Uint8Array(512);
  const fail = (ticket: number, symbol: string): never => {
    let len = raw.krepis_error_take(ticket, scratch, scratch.length);
    if (len > scratch.length) {
      scratch = new Uint8Array(len);
      len = raw.krepis_error_take(ticket, scratch, scratch.length);
    }
    if (len < 0) {
      throw new KrepisError(
        "INTERNAL",
        `${symbol} failed, but its error details (ticket ${ticket}) have expired`,
        { symbol },
      );
    }
    const detail = fromBinary(ErrorDetailSchema, scratch.subarray(0, len));
    const code = (ErrorCode[detail.code] ?? "UNSPECIFIED") as KrepisErrorCode;
    throw new KrepisError(code, detail.message, { symbol });
  };
  return {
    bindings: createBindings(raw, fail),
    symbols: raw,
    path,
    close: () => lib.close(),
  };
}

/**
 * Calls a kernel function that writes a variable-size result into a caller buffer and
 * returns the full length (the generated wrapper passes the buffer's length as the
 * capacity); calls again with a buffer of that length until the result fits (it can grow
 * between two calls, e.g. a history another process appends to).
 *
 * @example
 * ```ts ignore
 * import { readVariable } from "./library.ts";
 * declare const kernel: import("@krepis/bindings").KernelBindings;
 * const bytes = readVariable((buf) => kernel.kernelInfo(buf));
 * ```
 */
export function readVariable(
  call: (buffer: Uint8Array<ArrayBuffer>) => number,
  initial = 256,
): Uint8Array<ArrayBuffer> {
  let buffer = new Uint8Array(initial);
  let len = call(buffer);
  while (len > buffer.length) {
    buffer = new Uint8Array(len);
    len = call(buffer);
  }
  return buffer.subarray(0, len);
}

/**
 * {@linkcode readVariable} for a `nonblocking` kernel function (one that returns a Promise).
 *
 * @example
 * ```ts ignore
 * import { readVariableAsync } from "./library.ts";
 * declare const kernel: import("@krepis/bindings").KernelBindings;
 * const bytes = await readVariableAsync((buf) => kernel.journalHistory(1, buf));
 * ```
 */
export async function readVariableAsync(
  call: (buffer: Uint8Array<ArrayBuffer>) => Promise<number>,
  initial = 256,
): Promise<Uint8Array<ArrayBuffer>> {
  let buffer = new Uint8Array(initial);
  let len = await call(buffer);
  while (len > buffer.length) {
    buffer = new Uint8Array(len);
    len = await call(buffer);
  }
  return buffer.subarray(0, len);
}

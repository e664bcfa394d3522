/**
 * What the loaded kernel is, and its live counters.
 *
 * @module
 */

import { fromBinary } from "@bufbuild/protobuf";
import { KernelInfoSchema, KernelStatsSchema } from "@krepis/bindings";
import { type LibrarySource, loadKernel } from "./native/loader.ts";
import { readVariable } from "./native/library.ts";
import { numeric } from "./native/numeric.ts";

/** Identity of the loaded native kernel. */
export interface KernelInfo {
  /** Kernel version, e.g. `0.1.0`. */
  version: string;
  /** C ABI version of the library (equal to the bindings'). */
  abi: number;
  /** Rust target triple the library was built for. */
  target: string;
  /** Path of the library file that was loaded. */
  libraryPath: string;
  /** Which resolution step found the library. */
  source: LibrarySource;
  /** Capabilities compiled into the kernel. */
  features: string[];
  /** `debug` or `release`. */
  profile: string;
}

/** Live counters of the kernel. */
export interface KernelStats {
  /** Kernel objects currently addressed by handles. */
  liveHandles: number;
  /** Errors reported across the FFI boundary since load. */
  errorsReported: number;
  /** Panics caught at the boundary since load. */
  panicsCaught: number;
  /** Bytes of kernel memory lent to TypeScript. */
  sharedBytes: number;
  /** Milliseconds since the library was loaded. */
  uptimeMs: number;
}

/**
 * Loads the kernel (on first use) and describes it. The description travels over the
 * Protobuf control plane.
 *
 * @example
 * ```ts ignore
 * import { kernelInfo } from "@krepis/core/native";
 * const info = await kernelInfo();
 * console.log(`${info.version} ${info.target} from ${info.source}`);
 * ```
 */
export async function kernelInfo(): Promise<KernelInfo> {
  const kernel = await loadKernel();
  const info = fromBinary(
    KernelInfoSchema,
    readVariable((buf) => kernel.bindings.kernelInfo(buf)),
  );
  return {
    version: info.version,
    abi: info.abiVersion,
    target: info.target,
    libraryPath: kernel.path,
    source: kernel.source,
    features: info.features,
    profile: info.profile,
  };
}

/**
 * Reads the kernel's live counters.
 *
 * @example
 * ```ts ignore
 * import { kernelStats } from "@krepis/core/native";
 * console.log((await kernelStats()).liveHandles);
 * ```
 */
export async function kernelStats(): Promise<KernelStats> {
  const kernel = await loadKernel();
  return numeric(fromBinary(
    KernelStatsSchema,
    readVariable((buf) => kernel.bindings.kernelStats(buf)),
  ));
}

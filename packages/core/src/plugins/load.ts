/**
 * `loadPlugin`: the kernel verifies the plugin's signature against trusted keys and copies
 * the verified bytes into a private directory; only then is an isolate started, and it loads
 * the plugin from that copy, with exactly the permissions the signed manifest declares.
 *
 * @module
 */

import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { KrepisContext } from "../context/context.ts";
import { loadKernel } from "../native/loader.ts";
import { PluginError } from "./errors.ts";
import { type IsolateSpec, startProcess, startWorker } from "./isolate.ts";
import type { PluginManifest } from "./manifest.ts";
import { Supervisor } from "./supervisor.ts";

/**
 * Options of {@linkcode loadPlugin}.
 *
 * @example
 * ```ts
 * import type { LoadPluginOptions } from "@krepis/core/plugins";
 * const options: LoadPluginOptions = {
 *   // The text of a `krepis plugin keygen` .pub file (or just its 64 hex digits).
 *   trustedKeys: [
 *     "krepis-plugin-public-key ed25519 e5a6fbee25d2ed5e8ab07b9737933a07b13503f654345aaef194122d153a4eea",
 *   ],
 *   isolation: "process",
 *   memoryLimitMb: 64,
 * };
 * ```
 */
export interface LoadPluginOptions {
  /** Public keys whose signatures are accepted: `.pub` file contents or 64 hex digits. */
  trustedKeys: readonly string[];
  /**
   * `worker` (default): a Deno Worker with the declared permissions, which needs Deno's
   * `--unstable-worker-options` (or `"unstable": ["worker-options"]` in deno.json; without
   * it Deno exits the process when the Worker is created); `process`: a supervised child
   * `deno` process, which needs no flag.
   */
  isolation?: "worker" | "process";
  /** Longest a call may take when the caller's deadline is later (default 5 000 ms). */
  callTimeoutMs?: number;
  /** Heap limit of a `process` isolate in MiB (default 128). */
  memoryLimitMb?: number;
  /** How long a hung isolate may stay silent after a missed deadline (default 250 ms). */
  pingGraceMs?: number;
  /** First restart delay after a crash (default 100 ms); doubles per crash up to 5 s. */
  restartBackoffMs?: number;
}

/**
 * A verified plugin running in its own isolate. `await using` closes it.
 *
 * @example
 * ```ts ignore
 * import { createContext } from "@krepis/core";
 * import { loadPlugin } from "@krepis/core/plugins";
 * await using plugin = await loadPlugin("plugins/greeter", {
 *   trustedKeys: [await Deno.readTextFile("publisher.key.pub")],
 * });
 * console.log(await plugin.call(createContext(), { handler: "hello", input: {} }));
 * ```
 */
export interface Plugin extends AsyncDisposable {
  /** The signed manifest. */
  readonly manifest: PluginManifest;
  /** The signer's public key (hex). */
  readonly signer: string;
  /** Where it runs. */
  readonly isolation: "worker" | "process";
  /** How many times its isolate was replaced (after crashes, hangs or failed starts). */
  readonly restarts: number;
  /**
   * Calls the plugin's default export with `ctx` (ids, tenant, deadline; `ctx.signal`
   * aborts it) and `input` (structured-cloneable, JSON for `process`). Rejects with a
   * {@linkcode PluginError}.
   */
  call(ctx: KrepisContext, input: unknown): Promise<unknown>;
  /** Stops the isolate and removes the private copy. */
  close(): Promise<void>;
}

const RESULT_BYTES = 1 << 20;
const utf8 = new TextEncoder();

/**
 * Verifies the plugin in `dir` in the kernel and starts it. Refuses (`PluginError` with code
 * `REFUSED`, naming what differs) a plugin that is unsigned, changed after signing in any
 * byte, file or permission, or signed by a key not in `trustedKeys`.
 *
 * @example
 * ```ts ignore
 * import { loadPlugin } from "@krepis/core/plugins";
 * const plugin = await loadPlugin("plugins/greeter", {
 *   trustedKeys: [await Deno.readTextFile("publisher.key.pub")],
 * });
 * console.log(plugin.manifest.permissions);
 * await plugin.close();
 * ```
 */
export async function loadPlugin(
  dir: string,
  options: LoadPluginOptions,
): Promise<Plugin> {
  const { bindings } = await loadKernel();
  const staged = await Deno.makeTempDir({ prefix: "krepis-plugin-" });
  const cleanup = () =>
    Deno.remove(staged, { recursive: true }).catch(() => {});
  let verified: { manifest: PluginManifest; signer: string };
  try {
    const out = new Uint8Array(RESULT_BYTES);
    const len = await bindings.pluginVerify(
      utf8.encode(resolve(dir)),
      utf8.encode(options.trustedKeys.join("\n")),
      utf8.encode(staged),
      out,
    );
    verified = JSON.parse(new TextDecoder().decode(out.subarray(0, len)));
  } catch (error) {
    await cleanup();
    throw new PluginError(
      "REFUSED",
      dir,
      error instanceof Error ? error.message : String(error),
      { cause: error },
    );
  }
  const { manifest, signer } = verified;
  const isolation = options.isolation ?? "worker";
  const spec: Omit<IsolateSpec, "onMessage"> = {
    staged,
    permissions: manifest.permissions,
    memoryLimitMb: options.memoryLimitMb ?? 128,
  };
  const start = isolation === "process" ? startProcess : startWorker;
  const supervisor = new Supervisor(
    manifest.name,
    pathToFileURL(resolve(staged, manifest.entry)).href,
    (onMessage) => start({ ...spec, onMessage }),
    {
      callTimeoutMs: options.callTimeoutMs ?? 5_000,
      pingGraceMs: options.pingGraceMs ?? 250,
      backoffInitialMs: options.restartBackoffMs ?? 100,
      backoffMaxMs: 5_000,
    },
  );
  try {
    await supervisor.ready();
  } catch (error) {
    supervisor.close();
    await cleanup();
    throw error;
  }
  let closed: Promise<void> | undefined;
  const close = () =>
    closed ??= (async () => {
      supervisor.close();
      await cleanup();
    })();
  return {
    manifest,
    signer,
    isolation,
    get restarts() {
      return supervisor.restarts;
    },
    call: (ctx, input) => supervisor.call(ctx, input),
    close,
    [Symbol.asyncDispose]: close,
  };
}

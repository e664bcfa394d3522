/**
 * Helpers for the loader tests: a real HTTP mirror on 127.0.0.1 serving the built kernel,
 * and fresh child processes that import `@krepis/core` with a chosen environment.
 *
 * @module
 */

import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import type { KernelInfo } from "@krepis/core/native";
import { libraryFileName } from "./target.ts";

/** Root of the Krepis checkout. */
export const REPO_ROOT: string = fileURLToPath(
  new URL("../../../../", import.meta.url),
);

/** File name of the kernel library on this OS. */
export const LIB_FILE: string = libraryFileName(Deno.build.os);

/** The debug build `deno task test` produces (honours `CARGO_TARGET_DIR`). */
export function builtLibrary(): string {
  const targetDir = Deno.env.get("CARGO_TARGET_DIR") ??
    join(REPO_ROOT, "target");
  return join(targetDir, "debug", LIB_FILE);
}

/** A local HTTP server that serves one file and counts every request. */
export interface Mirror extends AsyncDisposable {
  /** Base URL for `KREPIS_BINARY_BASE_URL`. */
  url: string;
  /** Requests received so far (any path). */
  requests: number;
  /** Bytes served for the file; replace to tamper. */
  body: Uint8Array<ArrayBuffer>;
  /** HTTP status for the file; anything but 200 serves an error page. */
  status: number;
  /** Delay before answering, so concurrent clients overlap. */
  delayMs: number;
}

/** Starts a mirror serving `body` as `/<file>` on an ephemeral port. */
export function startMirror(
  file: string,
  body: Uint8Array<ArrayBuffer>,
): Mirror {
  const mirror = { requests: 0, body, status: 200, delayMs: 0 } as Mirror;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      mirror.requests++;
      if (mirror.delayMs) {
        await new Promise((resolve) => setTimeout(resolve, mirror.delayMs));
      }
      if (
        new URL(request.url).pathname !== `/${file}` || mirror.status !== 200
      ) {
        const status = mirror.status === 200 ? 404 : mirror.status;
        return new Response("no such file", { status });
      }
      return new Response(mirror.body, {
        headers: { "content-length": String(mirror.body.length) },
      });
    },
  );
  mirror.url = `http://127.0.0.1:${server.addr.port}`;
  mirror[Symbol.asyncDispose] = () => server.shutdown();
  return mirror;
}

/** What the child probe printed: the kernel info, or the `KrepisError` it got. */
export type ProbeResult =
  | { ok: true; info: KernelInfo; stderr: string }
  | { ok: false; code: string; message: string; stderr: string };

const PROBE = join(
  REPO_ROOT,
  "packages/core/src/native/testdata/import_kernel.ts",
);

/**
 * Runs a fresh Deno process that imports `@krepis/core` and calls `kernelInfo()`. The
 * loader steps the test did not ask for are switched off: no `KREPIS_LIB_PATH`, no local
 * build.
 */
export async function probe(env: Record<string, string>): Promise<ProbeResult> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", PROBE],
    cwd: REPO_ROOT,
    env: {
      KREPIS_LIB_PATH: "",
      KREPIS_LOCAL_BUILD: "0",
      NO_COLOR: "1",
      ...env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout).trim();
  const stderr = new TextDecoder().decode(output.stderr);
  if (!output.success || !stdout) {
    throw new Error(
      `probe exited with ${output.code}\nstdout: ${stdout}\nstderr: ${stderr}`,
    );
  }
  return { ...JSON.parse(stdout.split("\n").at(-1)!), stderr };
}

/** Every file under `dir`, relative to it, sorted; empty when `dir` does not exist. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (current: string) => {
    try {
      for await (const entry of Deno.readDir(current)) {
        const path = join(current, entry.name);
        if (entry.isDirectory) await walk(path);
        else out.push(relative(dir, path).replaceAll("\\", "/"));
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  };
  await walk(dir);
  return out.sort();
}

/** A temporary directory removed on dispose. */
export async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "krepis-test-" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

/** Lower-case hex SHA-256 of bytes. */
export async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

/** Asserts that the probe failed with `code` and a message matching `pattern`. */
export function expectError(
  result: ProbeResult,
  code: string,
  pattern: RegExp,
): string {
  assert.ok(!result.ok, `expected ${code}, got ${JSON.stringify(result)}`);
  assert.equal(result.code, code, result.message);
  assert.match(result.message, pattern);
  return result.message;
}

/** Asserts that the probe loaded a kernel and returns its info. */
export function expectInfo(result: ProbeResult): KernelInfo {
  assert.ok(
    result.ok,
    `expected a loaded kernel, got ${JSON.stringify(result)}`,
  );
  return result.info;
}

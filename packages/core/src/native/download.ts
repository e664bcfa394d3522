/**
 * Downloads a prebuilt kernel library into the cache: verified against the manifest's
 * SHA-256 before use, written atomically (temp file + rename) and guarded by a lock file so
 * concurrent first imports download once.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { KrepisError } from "../errors.ts";
import { byteProgress } from "./progress.ts";
import { sha256File } from "./verify.ts";

/** What to download and where to keep it. */
export interface DownloadRequest {
  /** Absolute URL of the library file. */
  url: string;
  /** Directory the verified file is stored in. */
  dir: string;
  /** File name inside `dir`. */
  file: string;
  /** Expected lower-case hex SHA-256. */
  sha256: string;
}

const HINT =
  "Set KREPIS_BINARY_BASE_URL to a reachable mirror, or build the kernel from source " +
  "(`cargo build --release -p krepis-ffi`) and set KREPIS_LIB_PATH to the built library.";

/**
 * Returns the cached, verified library, downloading it first if needed. A cached file whose
 * checksum does not match is removed and downloaded again.
 *
 * @example
 * ```ts ignore
 * import { ensureDownloaded } from "./download.ts";
 * const path = await ensureDownloaded({
 *   url: "https://example.com/libkrepis.so",
 *   dir: "/tmp/krepis-cache",
 *   file: "libkrepis.so",
 *   sha256: "…",
 * });
 * ```
 */
export async function ensureDownloaded(
  request: DownloadRequest,
): Promise<{ path: string; downloaded: boolean }> {
  try {
    return await fetchIntoCache(request);
  } catch (error) {
    if (error instanceof KrepisError) throw error;
    throw new KrepisError(
      "LOAD_FAILED",
      `Cannot use the Krepis kernel cache ${request.dir}: ${
        (error as Error).message
      }. Set KREPIS_CACHE_DIR to a writable directory, or KREPIS_LIB_PATH to a built kernel.`,
      { cause: error },
    );
  }
}

async function fetchIntoCache(
  request: DownloadRequest,
): Promise<{ path: string; downloaded: boolean }> {
  const path = join(request.dir, request.file);
  // Fast path without the lock: a verified file is never rewritten in place (downloads
  // land by rename), so a matching checksum here stays valid.
  if (await matches(path, request.sha256) === true) {
    return { path, downloaded: false };
  }
  await Deno.mkdir(request.dir, { recursive: true });
  return await withLock(join(request.dir, `${request.file}.lock`), async () => {
    // Another process may have finished the download while we waited for the lock.
    const state = await matches(path, request.sha256);
    if (state === true) return { path, downloaded: false };
    if (state === "corrupt") {
      // Removed only under the lock, so a concurrent process that just renamed a good
      // download into place never loses it to a stale check.
      console.warn(
        `krepis: the cached kernel ${path} is corrupt (checksum mismatch); removing it and downloading again`,
      );
      await Deno.remove(path).catch(() => {});
    }
    await download(request, path);
    return { path, downloaded: true };
  });
}

/** `true` when `path` holds the expected file, `"missing"` or `"corrupt"` otherwise. */
async function matches(
  path: string,
  sha256: string,
): Promise<true | "missing" | "corrupt"> {
  try {
    return (await sha256File(path)) === sha256 ? true : "corrupt";
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "missing";
    throw error;
  }
}

async function withLock<T>(lockPath: string, fn: () => Promise<T>): Promise<T> {
  using lock = await Deno.open(lockPath, { create: true, write: true });
  await lock.lock(true);
  try {
    return await fn();
  } finally {
    await lock.unlock();
  }
}

async function download(request: DownloadRequest, path: string): Promise<void> {
  let response: Response;
  try {
    response = await fetch(request.url);
  } catch (cause) {
    throw new KrepisError(
      "LOAD_FAILED",
      `Could not download the Krepis kernel from ${request.url}: ${
        (cause as Error).message
      }. ${HINT}`,
      { cause },
    );
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new KrepisError(
      "LOAD_FAILED",
      `Could not download the Krepis kernel from ${request.url}: HTTP ${response.status} ${response.statusText}. ${HINT}`,
    );
  }
  const total = Number(response.headers.get("content-length") ?? 0);
  const temp = `${path}.${Deno.pid}.${crypto.randomUUID()}.tmp`;
  const hash = createHash("sha256");
  const bar = byteProgress(`Downloading ${request.file}`);
  let done = 0;
  try {
    {
      using out = await Deno.open(temp, { write: true, createNew: true });
      for await (const chunk of response.body) {
        hash.update(chunk);
        let written = 0;
        while (written < chunk.length) {
          written += await out.write(chunk.subarray(written));
        }
        done += chunk.length;
        bar.update(done, total);
      }
      await out.sync();
    }
    const actual = hash.digest("hex");
    if (actual !== request.sha256) {
      throw new KrepisError(
        "LOAD_FAILED",
        `Checksum mismatch for the Krepis kernel downloaded from ${request.url}: expected sha256 ${request.sha256}, got ${actual}. The file was discarded. ${HINT}`,
      );
    }
    if (Deno.build.os !== "windows") await Deno.chmod(temp, 0o755);
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    if (error instanceof KrepisError) throw error;
    throw new KrepisError(
      "LOAD_FAILED",
      `Could not download the Krepis kernel from ${request.url}: ${
        (error as Error).message
      }. ${HINT}`,
      { cause: error },
    );
  } finally {
    bar.finish();
  }
}

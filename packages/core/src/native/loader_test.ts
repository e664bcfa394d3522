import assert from "node:assert/strict";
import { join } from "node:path";
import { sha256File } from "./verify.ts";
import {
  builtLibrary,
  expectError,
  expectInfo,
  LIB_FILE,
  listFiles,
  type Mirror,
  probe,
  sha256,
  startMirror,
  tempDir,
} from "./_test_util.ts";

// Every test downloads the real debug build of the kernel from a real HTTP server on
// 127.0.0.1, into an empty temporary cache, in fresh child processes.

const VERSION = "0.1.0";
const TARGET = Deno.build.target;
/** The file name on the mirror differs from the local one, as in a real release. */
const ASSET = `krepis-test-${TARGET}-${LIB_FILE}`;
const library = await Deno.readFile(builtLibrary());
const digest = await sha256(library);

interface Setup {
  mirror: Mirror;
  cache: string;
  /** Where the verified library lands in the cache. */
  cached: string;
  env: Record<string, string>;
}

/** A mirror serving the kernel, a manifest naming it, and an empty cache. */
async function setup(
  dir: string,
  targets: Record<string, unknown> = {
    [TARGET]: { file: ASSET, sha256: digest },
  },
): Promise<Setup> {
  const mirror = startMirror(ASSET, library);
  const manifest = join(dir, "manifest.json");
  await Deno.writeTextFile(
    manifest,
    JSON.stringify({ version: VERSION, targets }),
  );
  const cache = join(dir, "cache");
  return {
    mirror,
    cache,
    cached: join(cache, VERSION, TARGET, ASSET),
    env: {
      KREPIS_MANIFEST_PATH: manifest,
      KREPIS_CACHE_DIR: cache,
      KREPIS_BINARY_BASE_URL: mirror.url,
    },
  };
}

/** Only lock files may remain: no library, no temp file. */
async function assertNothingCached(cache: string) {
  const left = (await listFiles(cache)).filter((f) => !f.endsWith(".lock"));
  assert.deepEqual(
    left,
    [],
    "a bad download must not leave a file in the cache",
  );
}

Deno.test("first import downloads and verifies; the second uses the cache without a request", async () => {
  await using dir = await tempDir();
  const { mirror, cached, env } = await setup(dir.path);
  await using _ = mirror;

  const first = expectInfo(await probe(env));
  assert.equal(first.source, "download");
  assert.equal(first.libraryPath, cached);
  assert.equal(first.target, TARGET);
  assert.equal(mirror.requests, 1);
  assert.equal(await sha256File(cached), digest);

  const second = await probe(env);
  assert.equal(expectInfo(second).source, "cache");
  assert.equal(mirror.requests, 1, "a cached kernel must not be fetched again");
  // No terminal: the progress bar stays silent.
  assert.ok(!second.stderr.includes("Downloading"), second.stderr);
});

Deno.test("a tampered download is rejected and never cached", async () => {
  await using dir = await tempDir();
  const { mirror, cache, env } = await setup(dir.path);
  await using _ = mirror;
  const tampered = library.slice();
  tampered[tampered.length >> 1] ^= 0xff;
  mirror.body = tampered;

  const message = expectError(
    await probe(env),
    "LOAD_FAILED",
    /Checksum mismatch/,
  );
  assert.ok(message.includes(digest), "names the expected checksum");
  assert.ok(
    message.includes(await sha256(tampered)),
    "names the actual checksum",
  );
  assert.match(message, /KREPIS_BINARY_BASE_URL/, "says what to do");
  await assertNothingCached(cache);

  // With the mirror fixed, the next import recovers without manual clean-up.
  mirror.body = library;
  assert.equal(expectInfo(await probe(env)).source, "download");
});

Deno.test("four concurrent first imports download exactly once", async () => {
  await using dir = await tempDir();
  const { mirror, cached, env } = await setup(dir.path);
  await using _ = mirror;
  // Hold the response so the other processes reach the lock while one downloads.
  mirror.delayMs = 1500;

  const results = await Promise.all([1, 2, 3, 4].map(() => probe(env)));
  const sources = results.map((r) => expectInfo(r).source).sort();
  assert.deepEqual(sources, ["cache", "cache", "cache", "download"]);
  assert.equal(mirror.requests, 1);
  for (const r of results) assert.equal(expectInfo(r).libraryPath, cached);
  assert.equal(await sha256File(cached), digest);
});

Deno.test("a corrupt cached file is removed and downloaded again", async () => {
  await using dir = await tempDir();
  const { mirror, cached, env } = await setup(dir.path);
  await using _ = mirror;
  assert.equal(expectInfo(await probe(env)).source, "download");

  // Same size, different bytes: only the checksum can tell.
  const corrupt = library.slice();
  corrupt.fill(0, 0, 4096);
  await Deno.writeFile(cached, corrupt);

  const result = await probe(env);
  assert.equal(expectInfo(result).source, "download");
  assert.match(result.stderr, /is corrupt \(checksum mismatch\)/);
  assert.equal(mirror.requests, 2);
  assert.equal(await sha256File(cached), digest);
});

Deno.test("a mirror that is down gives a clear error and caches nothing", async () => {
  await using dir = await tempDir();
  const { mirror, cache, env } = await setup(dir.path);
  await mirror[Symbol.asyncDispose]();

  const message = expectError(
    await probe(env),
    "LOAD_FAILED",
    /Could not download the Krepis kernel/,
  );
  assert.ok(message.includes(`${mirror.url}/${ASSET}`), "names the URL");
  assert.match(message, /KREPIS_BINARY_BASE_URL.*KREPIS_LIB_PATH/s);
  await assertNothingCached(cache);
});

Deno.test("an HTTP error gives a clear error and caches nothing", async () => {
  await using dir = await tempDir();
  const { mirror, cache, env } = await setup(dir.path);
  await using _ = mirror;
  mirror.status = 404;

  const message = expectError(await probe(env), "LOAD_FAILED", /HTTP 404/);
  assert.ok(message.includes(`${mirror.url}/${ASSET}`), "names the URL");
  assert.match(message, /KREPIS_BINARY_BASE_URL/);
  assert.equal(mirror.requests, 1);
  await assertNothingCached(cache);
});

Deno.test("a platform missing from the manifest gives a clear error without a request", async () => {
  await using dir = await tempDir();
  const { mirror, cache, env } = await setup(dir.path, {
    "riscv64gc-unknown-linux-gnu": { file: ASSET, sha256: digest },
  });
  await using _ = mirror;

  const message = expectError(
    await probe(env),
    "LOAD_FAILED",
    new RegExp(`has no prebuilt kernel for ${TARGET}`),
  );
  assert.match(message, /prebuilt: riscv64gc-unknown-linux-gnu/);
  assert.match(
    message,
    /cargo build --release -p krepis-ffi/,
    "says what to do",
  );
  assert.equal(mirror.requests, 0);
  await assertNothingCached(cache);
});

Deno.test("an invalid manifest is refused before any request", async () => {
  await using dir = await tempDir();
  const { mirror, env } = await setup(dir.path, {
    [TARGET]: { file: "../escape.so", sha256: digest },
  });
  await using _ = mirror;

  expectError(await probe(env), "LOAD_FAILED", /must be a plain file name/);
  assert.equal(mirror.requests, 0);
});

Deno.test("an unusable cache directory gives a clear error", async () => {
  await using dir = await tempDir();
  const { mirror, env } = await setup(dir.path);
  await using _ = mirror;
  // A regular file where the cache root should be: nothing can be created below it.
  const blocked = join(dir.path, "not-a-directory");
  await Deno.writeTextFile(blocked, "");

  const message = expectError(
    await probe({ ...env, KREPIS_CACHE_DIR: blocked }),
    "LOAD_FAILED",
    /Cannot use the Krepis kernel cache/,
  );
  assert.ok(message.includes(blocked), "names the directory");
  assert.match(message, /KREPIS_CACHE_DIR/, "says what to do");
  assert.equal(mirror.requests, 0);
});

import assert from "node:assert/strict";
import { KrepisError } from "@krepis/core/native";
import { ensureDownloaded } from "./download.ts";
import { listFiles, sha256, tempDir } from "./_test_util.ts";

// A mirror that stops sending must not hang the import: the download gives up after the
// stall timeout with a clear error and leaves nothing behind. In-process, against a real
// server on 127.0.0.1, with a short timeout.

const FILE = "libkrepis-stall-test.so";
const payload = new Uint8Array(64 * 1024).fill(7);
const digest = await sha256(payload);

/** Serves `/FILE` through `respond`; shut down on dispose. */
function server(respond: () => Response | Promise<Response>) {
  const controller = new AbortController();
  const instance = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: controller.signal,
    onListen: () => {},
  }, respond);
  return {
    url: `http://127.0.0.1:${instance.addr.port}/${FILE}`,
    async [Symbol.asyncDispose]() {
      controller.abort();
      await instance.finished;
    },
  };
}

async function expectStall(url: string, dir: string) {
  const started = performance.now();
  await assert.rejects(
    () =>
      ensureDownloaded({
        url,
        dir,
        file: FILE,
        sha256: digest,
        stallTimeoutMs: 300,
      }),
    (e: unknown) =>
      e instanceof KrepisError && e.code === "LOAD_FAILED" &&
      e.message.includes(url) && /no data arrived for 0\.3 s/.test(e.message) &&
      /KREPIS_BINARY_BASE_URL/.test(e.message),
  );
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 5_000, `gave up after ${elapsed} ms`);
  const left = (await listFiles(dir)).filter((f) => !f.endsWith(".lock"));
  assert.deepEqual(left, [], "a stalled download must not leave a file behind");
}

Deno.test("a mirror that never answers fails after the stall timeout", async () => {
  await using dir = await tempDir();
  const { promise: never, resolve: release } = Promise.withResolvers<void>();
  await using mirror = server(async () => {
    await never;
    return new Response(payload);
  });
  try {
    await expectStall(mirror.url, dir.path);
  } finally {
    release();
  }
});

Deno.test("a mirror that stops mid-file fails after the stall timeout", async () => {
  await using dir = await tempDir();
  await using mirror = server(() =>
    new Response(
      new ReadableStream<Uint8Array>({
        start(controller) {
          // Half the file, then silence.
          controller.enqueue(payload.subarray(0, payload.length / 2));
        },
      }),
      { headers: { "content-length": String(payload.length) } },
    )
  );
  await expectStall(mirror.url, dir.path);
});

Deno.test("a slow but steady mirror is not cut off", async () => {
  await using dir = await tempDir();
  await using mirror = server(() => {
    let sent = 0;
    const chunk = 8 * 1024;
    return new Response(
      new ReadableStream<Uint8Array>({
        async pull(controller) {
          // Each chunk arrives well inside the stall timeout, the whole file well after it.
          await new Promise((resolve) => setTimeout(resolve, 100));
          controller.enqueue(payload.slice(sent, sent + chunk));
          sent += chunk;
          if (sent >= payload.length) controller.close();
        },
      }),
    );
  });
  const result = await ensureDownloaded({
    url: mirror.url,
    dir: dir.path,
    file: FILE,
    sha256: digest,
    stallTimeoutMs: 300,
  });
  assert.equal(result.downloaded, true);
  assert.deepEqual(await Deno.readFile(result.path), payload);
});

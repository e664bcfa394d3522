import assert from "node:assert/strict";
import { kernelInfo, kernelStats, KrepisError } from "@krepis/core/native";
import { loadKernel } from "./native/loader.ts";
import { SharedBuffer } from "./native/shared_buffer.ts";
import { ABI_VERSION } from "@krepis/bindings";

Deno.test("kernel info travels over the Protobuf control plane", async () => {
  const info = await kernelInfo();
  assert.equal(info.version, "0.1.0");
  assert.equal(info.abi, ABI_VERSION);
  assert.equal(info.target, Deno.build.target);
  assert.ok(info.features.includes("handles"));
  assert.ok(["env", "local"].includes(info.source), info.source);
  assert.ok((await Deno.stat(info.libraryPath)).isFile);
});

Deno.test("a panic inside the kernel becomes a KrepisError and Deno lives on", async () => {
  const { bindings } = await loadKernel();
  const before = (await kernelStats()).panicsCaught;
  const message = new TextEncoder().encode("deliberate test panic");
  assert.throws(
    () => bindings.debugPanic(message),
    (e: unknown) =>
      e instanceof KrepisError && e.code === "PANIC" &&
      e.message.includes("deliberate test panic") &&
      e.symbol === "krepis_debug_panic",
  );
  assert.equal((await kernelStats()).panicsCaught, before + 1);
  // The process and the library still work after the panic.
  assert.equal(bindings.abiVersion(), ABI_VERSION);
});

Deno.test("forged, stale and malformed handles are errors, not crashes", async () => {
  const { bindings } = await loadKernel();
  const isInvalidHandle = (e: unknown) =>
    e instanceof KrepisError && e.code === "INVALID_HANDLE";
  assert.throws(() => bindings.bufferLen(123456789), isInvalidHandle);
  assert.throws(() => bindings.bufferLen(-1), isInvalidHandle);
  assert.throws(() => bindings.bufferLen(0.5), isInvalidHandle);
  const handle = bindings.bufferAlloc(16);
  assert.equal(bindings.bufferLen(handle), 16);
  bindings.bufferFree(handle);
  assert.throws(() => bindings.bufferLen(handle), isInvalidHandle);
  assert.throws(() => bindings.bufferFree(handle), isInvalidHandle);
});

Deno.test("bad arguments get a clear INVALID_ARGUMENT error", async () => {
  const { bindings } = await loadKernel();
  assert.throws(
    () => bindings.bufferAlloc(0),
    (e: unknown) =>
      e instanceof KrepisError && e.code === "INVALID_ARGUMENT" &&
      /between 1 and/.test(e.message),
  );
  const handle = bindings.bufferAlloc(4);
  try {
    assert.throws(
      () => bindings.bufferWrite(handle, 2, new Uint8Array(8)),
      (e: unknown) =>
        e instanceof KrepisError && /exceeds buffer/.test(e.message),
    );
    // The wrapper passes the array's real length, so TS cannot overstate it.
    assert.equal(bindings.bufferWrite(handle, 0, new Uint8Array([1, 2])), 2);
  } finally {
    bindings.bufferFree(handle);
  }
});

Deno.test("a shared buffer is kernel memory viewed without copying", async () => {
  const { bindings } = await loadKernel();
  const shared = await SharedBuffer.allocate(8);
  const view = shared.bytes;
  bindings.bufferWrite(shared.handle, 3, new Uint8Array([7, 8, 9]));
  // The write went into kernel memory; the existing view sees it without a copy.
  assert.deepEqual([...view.subarray(3, 6)], [7, 8, 9]);
  const before = (await kernelStats()).sharedBytes;
  shared.release();
  assert.equal(shared.buffer.byteLength, 0, "view detached before free");
  assert.equal(view.byteLength, 0, "old views see length 0, not freed memory");
  assert.equal((await kernelStats()).sharedBytes, before - 8);
  shared.release(); // idempotent
  await assert.rejects(() => SharedBuffer.allocate(-1), KrepisError);
});

Deno.test("a transferred shared-buffer view is never freed under a live alias", async () => {
  const { bindings } = await loadKernel();
  const shared = await SharedBuffer.allocate(4);
  const alias = shared.buffer.transfer();
  assert.throws(
    () => shared.release(),
    (e: unknown) => e instanceof KrepisError && e.code === "CONFLICT",
  );
  assert.equal(shared.released, true);
  // The memory was kept: the alias still points at a live kernel buffer.
  assert.equal(bindings.bufferLen(shared.handle), 4);
  new Uint8Array(alias)[0] = 1;
  shared.release(); // idempotent, no second error
});

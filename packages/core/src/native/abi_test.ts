import assert from "node:assert/strict";
import { join } from "node:path";
import { ABI_FINGERPRINT, ABI_VERSION } from "@krepis/bindings";
import { expectError, LIB_FILE, probe, tempDir } from "./_test_util.ts";

// KREPIS_LIB_PATH cases, each in a fresh process. The ABI cases need a stand-in library
// that answers `krepis_abi_version` / `krepis_abi_fingerprint` as the test wants; it is
// compiled here from C.

async function hasCompiler(): Promise<boolean> {
  if (Deno.build.os === "windows") return false;
  try {
    return (await new Deno.Command("cc", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output()).success;
  } catch {
    return false;
  }
}

const compiler = await hasCompiler();
if (!compiler) {
  console.warn(
    "abi_test: no C compiler (`cc`) on this machine; the ABI mismatch tests are skipped. " +
      "Install one (e.g. `apt-get install gcc`) to run them.",
  );
}

/**
 * Compiles a shared library whose `krepis_abi_version()` returns `abi` and, unless
 * `fingerprint` is undefined, whose `krepis_abi_fingerprint()` returns `fingerprint`.
 */
async function fakeLibrary(
  dir: string,
  abi: number,
  fingerprint?: number,
): Promise<string> {
  const source = join(dir, "fake.c");
  const output = join(dir, LIB_FILE);
  let code = `unsigned int krepis_abi_version(void) { return ${abi}u; }\n`;
  if (fingerprint !== undefined) {
    code +=
      `unsigned int krepis_abi_fingerprint(void) { return ${fingerprint}u; }\n`;
  }
  await Deno.writeTextFile(source, code);
  const cc = await new Deno.Command("cc", {
    args: ["-shared", "-fPIC", "-o", output, source],
    stderr: "piped",
  }).output();
  assert.ok(cc.success, new TextDecoder().decode(cc.stderr));
  return output;
}

const hex = (n: number) => `0x${n.toString(16).padStart(8, "0")}`;

Deno.test({
  name: "a library with another ABI version is refused, naming both versions",
  ignore: !compiler,
  async fn() {
    await using dir = await tempDir();
    const foreign = ABI_VERSION + 998;
    const path = await fakeLibrary(dir.path, foreign);
    const message = expectError(
      await probe({ KREPIS_LIB_PATH: path }),
      "ABI_MISMATCH",
      new RegExp(
        `has ABI version ${foreign}, but @krepis/core expects ABI version ${ABI_VERSION}`,
      ),
    );
    assert.ok(message.includes(path), "names the library");
    assert.match(message, /deno task build:kernel/, "says what to do");
  },
});

Deno.test({
  name: "a library with the right ABI version but other signatures is refused",
  ignore: !compiler,
  async fn() {
    await using dir = await tempDir();
    // What a kernel built after an export changed, without an ABI_VERSION bump, reports.
    const foreign = (ABI_FINGERPRINT ^ 0x5a5a5a5a) >>> 0;
    const path = await fakeLibrary(dir.path, ABI_VERSION, foreign);
    const message = expectError(
      await probe({ KREPIS_LIB_PATH: path }),
      "ABI_MISMATCH",
      /built from other export signatures/,
    );
    assert.ok(
      message.includes(
        `ABI fingerprint ${hex(foreign)}, expected ${hex(ABI_FINGERPRINT)}`,
      ),
      message,
    );
    assert.match(message, /deno task codegen/, "says what to do");
  },
});

Deno.test({
  name: "a library without an ABI fingerprint (an older build) is refused",
  ignore: !compiler,
  async fn() {
    await using dir = await tempDir();
    const path = await fakeLibrary(dir.path, ABI_VERSION);
    expectError(
      await probe({ KREPIS_LIB_PATH: path }),
      "ABI_MISMATCH",
      /has no ABI fingerprint, so it predates the bindings/,
    );
  },
});

Deno.test({
  name: "a library with the right ABI but missing symbols is refused",
  ignore: !compiler,
  async fn() {
    await using dir = await tempDir();
    const path = await fakeLibrary(dir.path, ABI_VERSION, ABI_FINGERPRINT);
    expectError(
      await probe({ KREPIS_LIB_PATH: path }),
      "ABI_MISMATCH",
      /lacks symbols the bindings need/,
    );
  },
});

Deno.test("KREPIS_LIB_PATH naming a missing file gives a clear error", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "nowhere", LIB_FILE);
  const message = expectError(
    await probe({ KREPIS_LIB_PATH: path }),
    "LOAD_FAILED",
    /does not name a file/,
  );
  assert.ok(message.includes(path));
  assert.match(message, /or unset it/);
});

Deno.test("KREPIS_LIB_PATH naming a file that is no library gives a clear error", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, LIB_FILE);
  await Deno.writeTextFile(path, "not a shared library\n");
  expectError(
    await probe({ KREPIS_LIB_PATH: path }),
    "LOAD_FAILED",
    /Cannot load the Krepis kernel library/,
  );
});

import assert from "node:assert/strict";
import { join } from "node:path";
import { ABI_VERSION } from "@krepis/bindings";
import { expectError, LIB_FILE, probe, tempDir } from "./support.ts";

// KREPIS_LIB_PATH cases, each in a fresh process. The ABI cases need a stand-in library
// that exports `krepis_abi_version` with another answer; it is compiled here from C.

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

/** Compiles a shared library whose `krepis_abi_version()` returns `abi`. */
async function fakeLibrary(dir: string, abi: number): Promise<string> {
  const source = join(dir, "fake.c");
  const output = join(dir, LIB_FILE);
  await Deno.writeTextFile(
    source,
    `unsigned int krepis_abi_version(void) { return ${abi}u; }\n`,
  );
  const cc = await new Deno.Command("cc", {
    args: ["-shared", "-fPIC", "-o", output, source],
    stderr: "piped",
  }).output();
  assert.ok(cc.success, new TextDecoder().decode(cc.stderr));
  return output;
}

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
  name: "a library with the right ABI number but missing symbols is refused",
  ignore: !compiler,
  async fn() {
    await using dir = await tempDir();
    const path = await fakeLibrary(dir.path, ABI_VERSION);
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

/**
 * FFI call cost: the generated typed wrappers of `@krepis/bindings` against hand-written
 * `Deno.dlopen` symbols, side by side on the release build (`deno task bench`). Each group
 * uses the raw symbol as its baseline, so `deno bench` prints the wrapper's ratio.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openLibrary } from "../packages/core/src/native/library.ts";
import { libraryFileName } from "../packages/core/src/native/target.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const path = join(
  Deno.env.get("CARGO_TARGET_DIR") ?? join(root, "target"),
  "release",
  libraryFileName(Deno.build.os),
);

// Written by hand, as an app without the generator would.
const raw = Deno.dlopen(path, {
  krepis_abi_version: { parameters: [], result: "u32" },
  krepis_buffer_len: { parameters: ["f64"], result: "f64" },
}).symbols;
const { bindings } = openLibrary(path);
const handle = bindings.bufferAlloc(64);
// V8 cannot drop or hoist a foreign call, so the results need no sink.

Deno.bench(
  "raw symbol",
  { group: "abiVersion (infallible)", baseline: true },
  () => {
    raw.krepis_abi_version();
  },
);
Deno.bench("generated binding", { group: "abiVersion (infallible)" }, () => {
  bindings.abiVersion();
});

Deno.bench("raw symbol", {
  group: "bufferLen (fallible, live handle)",
  baseline: true,
}, () => {
  raw.krepis_buffer_len(handle);
});
Deno.bench(
  "generated binding",
  { group: "bufferLen (fallible, live handle)" },
  () => {
    bindings.bufferLen(handle);
  },
);

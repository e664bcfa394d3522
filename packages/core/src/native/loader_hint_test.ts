import { strictEqual } from "node:assert";
import { buildHint } from "./loader.ts";

Deno.test("inside a checkout the hint is to build there, not to set KREPIS_LIB_PATH", () => {
  const hint = buildHint("/src/krepis", false, "libkrepis.so");
  strictEqual(hint.includes("deno task build:kernel"), true, hint);
  strictEqual(hint.includes("target/debug/libkrepis.so"), true, hint);
  strictEqual(hint.includes("KREPIS_LIB_PATH"), false, hint);
});

Deno.test("with KREPIS_LOCAL_BUILD=0 the hint names the switch that hides the build", () => {
  const hint = buildHint("/src/krepis", true, "libkrepis.so");
  strictEqual(hint.includes("KREPIS_LOCAL_BUILD=0"), true, hint);
});

Deno.test("outside a checkout the hint is a release build and KREPIS_LIB_PATH", () => {
  const hint = buildHint(undefined, false, "krepis.dll");
  strictEqual(hint.includes("cargo build --release -p krepis-ffi"), true, hint);
  strictEqual(hint.includes("KREPIS_LIB_PATH"), true, hint);
  strictEqual(hint.includes("target/release/krepis.dll"), true, hint);
});

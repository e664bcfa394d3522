import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { checkPlugin, type PluginReport } from "./src/plugin_checker.ts";
import type { DeclaredPermissions } from "./src/plugin_rules.ts";

const NONE: DeclaredPermissions = {
  read: [],
  write: [],
  net: [],
  env: [],
  run: false,
  ffi: false,
  sys: false,
};

/** Writes a plugin with `files` (entry `mod.ts`) and `permissions`, and checks it. */
async function check(
  files: Record<string, string>,
  permissions: Partial<DeclaredPermissions> = {},
): Promise<PluginReport> {
  const dir = await Deno.makeTempDir({ prefix: "krepis-plugin-check-" });
  try {
    await Deno.writeTextFile(
      join(dir, "krepis.plugin.json"),
      JSON.stringify({
        name: "t",
        version: "1.0.0",
        entry: "mod.ts",
        kind: "behavior",
        permissions: { ...NONE, ...permissions },
      }),
    );
    for (const [path, text] of Object.entries(files)) {
      await Deno.mkdir(join(dir, path, ".."), { recursive: true });
      await Deno.writeTextFile(join(dir, path), text);
    }
    return checkPlugin(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** `file:line:col rule [flag]` of every finding. */
function brief(report: PluginReport): string[] {
  return report.findings.map((f) =>
    `${f.file}:${f.line}:${f.column} ${f.severity} ${f.rule}${
      f.permission ? ` ${f.permission}` : ""
    }`
  );
}

Deno.test("the module graph is followed through static and literal dynamic imports", async () => {
  const report = await check({
    "mod.ts":
      'import { a } from "./lib/a.ts";\nexport default async () => (await import("./lib/b.ts")).b + a;\n',
    "lib/a.ts": "export const a = 1;\n",
    "lib/b.ts": 'export const b = Deno.env.get("SECRET");\n',
    "unused.ts": 'Deno.readTextFileSync("/etc/shadow");\n',
  });
  assertEquals(report.files.map((f) => f.path), [
    "lib/a.ts",
    "lib/b.ts",
    "mod.ts",
  ]);
  assertEquals(
    report.files[0].sha256,
    createHash("sha256").update("export const a = 1;\n").digest("hex"),
  );
  assertEquals(brief(report), [
    "lib/b.ts:1:18 error undeclared-permission --allow-env=SECRET",
  ]);
});

Deno.test("declared permissions cover what they name and nothing else", async () => {
  const report = await check({
    "mod.ts": [
      'await Deno.readTextFile("/srv/data/a.json");',
      'await Deno.readTextFile("/srv/database");',
      'await Deno.writeTextFile("/srv/data/a.json", "");',
      'await fetch("https://api.example.com/v1");',
      "await fetch(`https://api.example.com/v1/${Math.random()}`);",
      'await fetch(new URL("http://api.example.com:8080/"));',
      'const HOST = "db.internal";',
      "await Deno.connect({ hostname: HOST, port: 5432 });",
      'Deno.env.get("TOKEN");',
      "export default () => ({});",
    ].join("\n"),
  }, {
    read: ["/srv/data"],
    net: ["api.example.com", "db.internal:5432"],
    env: ["TOKEN"],
  });
  assertEquals(brief(report), [
    "mod.ts:2:7 error undeclared-permission --allow-read=/srv/database",
    "mod.ts:3:7 error undeclared-permission --allow-write=/srv/data/a.json",
  ]);
});

Deno.test("node: equivalents need the same permissions", async () => {
  const report = await check({
    "mod.ts": [
      'import { readFileSync } from "node:fs";',
      'import * as fsp from "node:fs/promises";',
      'import { execSync } from "node:child_process";',
      'import os from "node:os";',
      'import https from "node:https";',
      'readFileSync("/etc/passwd");',
      'await fsp.writeFile("/tmp/x", "");',
      'execSync("id");',
      "os.hostname();",
      'https.get("https://evil.example/");',
      "process.env.HOME;",
      "export default () => ({});",
    ].join("\n"),
  });
  assertEquals(brief(report), [
    "mod.ts:6:1 error undeclared-permission --allow-read=/etc/passwd",
    "mod.ts:7:7 error undeclared-permission --allow-write=/tmp/x",
    "mod.ts:8:1 error undeclared-permission --allow-run",
    "mod.ts:9:1 error undeclared-permission --allow-sys",
    "mod.ts:10:1 error undeclared-permission --allow-net=evil.example",
    "mod.ts:11:1 error undeclared-permission --allow-env=HOME",
  ]);
});

Deno.test("dynamic code and hidden access to Deno are reported", async () => {
  const report = await check({
    "mod.ts": [
      'const name = "read" + "TextFile";',
      "const D = Deno;",
      'globalThis["Deno"];',
      "(Deno as any)[name];",
      'new Function("return 1");',
      "await import(name);",
      'globalThis.eval("1");',
      "const r = Deno.readTextFile;",
      'import("node:vm");',
      'import * as fs from "node:fs";',
      "const { readFileSync } = fs;",
      'new Worker("data:text/javascript,1");',
      "export default () => ({});",
    ].join("\n"),
  }, { read: ["/anything"] });
  assertEquals(brief(report), [
    "mod.ts:2:11 error dynamic-code",
    "mod.ts:3:1 error dynamic-code",
    "mod.ts:4:2 error dynamic-code",
    "mod.ts:5:5 error dynamic-code",
    "mod.ts:6:7 error dynamic-code",
    "mod.ts:7:1 error dynamic-code",
    "mod.ts:8:11 warning unverifiable-permission --allow-read",
    "mod.ts:9:8 error dynamic-code",
    "mod.ts:11:26 error dynamic-code",
    "mod.ts:12:5 error dynamic-code",
  ]);
});

Deno.test("imports that cannot be analysed or signed with the plugin are errors", async () => {
  const report = await check({
    "mod.ts": [
      'import "../outside.ts";',
      'import "npm:left-pad";',
      'import "./missing.ts";',
      'import type { X } from "npm:types-only";',
      "export default () => ({} as X);",
    ].join("\n"),
  });
  assertEquals(brief(report), [
    "mod.ts:1:8 error import-escapes-plugin",
    "mod.ts:2:8 error unanalysable-import",
    "mod.ts:3:8 error unanalysable-import",
  ]);
});

Deno.test("a computed resource is an error without a declaration and a warning with one", async () => {
  const source = {
    "mod.ts":
      "export default (p: string) => Deno.readTextFile(p).then(() => fetch(p));\n",
  };
  assertEquals(brief(await check(source)), [
    "mod.ts:1:31 error undeclared-permission --allow-read",
    "mod.ts:1:63 error undeclared-permission --allow-net",
  ]);
  const declared = await check(source, { read: ["/data"], net: ["a.example"] });
  assertEquals(declared.errors, 0);
  assertEquals(declared.warnings, 2);
});

Deno.test("the working directory is a read", async () => {
  const source = { "mod.ts": "export default () => ({ cwd: Deno.cwd() });\n" };
  assertEquals(brief(await check(source)), [
    "mod.ts:1:30 error undeclared-permission --allow-read",
  ]);
  assertEquals(brief(await check(source, { read: ["/srv"] })), [
    "mod.ts:1:30 warning unverifiable-permission --allow-read",
  ]);
});

Deno.test("run, ffi and sys are all-or-nothing", async () => {
  const source = {
    "mod.ts": [
      'new Deno.Command("ls");',
      'Deno.dlopen("libc.so.6", {});',
      "Deno.hostname();",
      "export default () => ({});",
    ].join("\n"),
  };
  assertEquals(brief(await check(source)), [
    "mod.ts:1:1 error undeclared-permission --allow-run",
    "mod.ts:2:1 error undeclared-permission --allow-ffi",
    "mod.ts:3:1 error undeclared-permission --allow-sys",
  ]);
  assertEquals(
    (await check(source, { run: true, ffi: true, sys: true })).findings,
    [],
  );
});

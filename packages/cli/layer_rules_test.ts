/**
 * The layer rules on small apps written to a temporary directory, through both front ends:
 * `krepis check` (the ts-morph checker) and the Deno lint plugin an editor runs. Each case
 * lists every finding it must produce, as (rule, file, line, the text the finding points at).
 */

import { deepStrictEqual, strictEqual } from "node:assert";
import { join } from "node:path";
import plugin from "@krepis/smart-gen/lint-plugin";
import { checkApps } from "./check.ts";

type Expected = [rule: string, file: string, line: number, at: string];

interface Case {
  name: string;
  files: Record<string, string>;
  expected: Expected[];
}

const CASES: Case[] = [
  {
    name:
      "subpath layers: the domain may import @krepis/core, /pipeline and /testing, no other subpath",
    files: {
      "src/domain/store.ts": [
        'import { err, ok } from "@krepis/core";',
        'import type { Kv } from "@krepis/core/storage";',
        'import { serve } from "@krepis/core/http";',
        'import { kernelInfo } from "@krepis/core/native";',
        'import { auth } from "@krepis/core/pipeline";',
        'export { openKv } from "jsr:@krepis/core@^0.1.0/storage";',
        'import { memorySink } from "@krepis/core/testing";',
        'import { loadPlugin } from "@krepis/core/plugins";',
        'import type { Mailer } from "@krepis/core/mail";',
        "export const pick = (kv?: Kv) => (kv ? ok(kv) : err(0));",
        "export type Client = Mailer;",
        "export const refs = [serve, kernelInfo, auth, memorySink, loadPlugin];",
      ].join("\n"),
      // Adapters are where I/O belongs.
      "src/adapters/kv_store.ts": [
        'import { openKv } from "@krepis/core/storage";',
        "export const open = openKv;",
      ].join("\n"),
    },
    expected: [
      [
        "domain-imports-infrastructure",
        "src/domain/store.ts",
        2,
        '"@krepis/core/storage"',
      ],
      [
        "domain-imports-infrastructure",
        "src/domain/store.ts",
        3,
        '"@krepis/core/http"',
      ],
      [
        "domain-imports-infrastructure",
        "src/domain/store.ts",
        4,
        '"@krepis/core/native"',
      ],
      [
        "domain-imports-infrastructure",
        "src/domain/store.ts",
        6,
        '"jsr:@krepis/core@^0.1.0/storage"',
      ],
      [
        "domain-imports-infrastructure",
        "src/domain/store.ts",
        8,
        '"@krepis/core/plugins"',
      ],
      // An area added later is guarded until it is listed as pure.
      [
        "domain-imports-infrastructure",
        "src/domain/store.ts",
        9,
        '"@krepis/core/mail"',
      ],
    ],
  },
  {
    name:
      "dynamic import(): a forbidden layer or a computed specifier is flagged",
    files: {
      "src/domain/loader.ts": [
        "export async function load(name: string) {",
        '  const kv = await import("@krepis/core/storage");',
        "  const fs = await import(`node:fs`);",
        "  const any = await import(name);",
        '  const pure = await import("./rules.ts");',
        "  return [kv, fs, any, pure];",
        "}",
      ].join("\n"),
      "src/domain/rules.ts": "export const limit = 3;",
      "src/adapters/kv_store.ts": "export const open = () => 1;",
      "src/application/commands/run.ts":
        'export const adapter = () => import("../../adapters/kv_store.ts");',
    },
    expected: [
      [
        "application-imports-adapter",
        "src/application/commands/run.ts",
        1,
        '"../../adapters/kv_store.ts"',
      ],
      [
        "domain-imports-infrastructure",
        "src/domain/loader.ts",
        2,
        '"@krepis/core/storage"',
      ],
      ["domain-imports-infrastructure", "src/domain/loader.ts", 3, "`node:fs`"],
      ["domain-imports-infrastructure", "src/domain/loader.ts", 4, "name)"],
    ],
  },
  {
    name:
      "globalThis: I/O globals reached through the global object are flagged",
    files: {
      "src/domain/env.ts": [
        "export const a = globalThis.Deno;",
        'export const b = globalThis["Deno"];',
        "export const c = window.fetch;",
        "export const d = (k: string) => (globalThis as Record<string, unknown>)[k];",
        "export const e = self[`WebSocket`];",
        "export const g = globalThis;",
        "export const pure = globalThis.structuredClone;",
        "export type G = typeof globalThis;",
        "export function shadow(Deno: { x: number }) {",
        "  return Deno.x;",
        "}",
      ].join("\n"),
    },
    expected: [
      ["domain-uses-deno-api", "src/domain/env.ts", 1, "globalThis.Deno"],
      ["domain-uses-deno-api", "src/domain/env.ts", 2, 'globalThis["Deno"]'],
      ["domain-uses-deno-api", "src/domain/env.ts", 3, "window.fetch"],
      ["domain-uses-deno-api", "src/domain/env.ts", 4, "globalThis as"],
      ["domain-uses-deno-api", "src/domain/env.ts", 5, "self[`WebSocket`]"],
      ["domain-uses-deno-api", "src/domain/env.ts", 6, "globalThis;"],
    ],
  },
];

/** `rule file:line:col`, the column found from the text the finding points at. */
function positions(c: Case): string[] {
  return c.expected.map(([rule, file, line, at]) => {
    const text = c.files[file].split("\n")[line - 1];
    const column = text.indexOf(at) + 1;
    if (column === 0) throw new Error(`"${at}" is not on ${file}:${line}`);
    return `${rule} ${file}:${line}:${column}`;
  }).sort();
}

async function writeApp(c: Case): Promise<string> {
  const dir = await Deno.makeTempDir();
  for (const [file, source] of Object.entries(c.files)) {
    await Deno.mkdir(join(dir, file, ".."), { recursive: true });
    await Deno.writeTextFile(join(dir, file), source + "\n");
  }
  return dir;
}

/** The plugin's layer-rule diagnostics (its ctx-first rule is tested in smart-gen). */
function lintFindings(dir: string, c: Case) {
  return Object.entries(c.files).flatMap(([file, source]) =>
    Deno.lint.runPlugin(plugin, join(dir, file), source + "\n").filter((d) =>
      d.id !== "krepis/ctx-first"
    ).map((d) => {
      const before = source.slice(0, d.range[0]).split("\n");
      const line = before.length;
      const column = before[line - 1].length + 1;
      return {
        d,
        at: `${d.id.replace("krepis/", "")} ${file}:${line}:${column}`,
      };
    })
  );
}

for (const c of CASES) {
  Deno.test(`krepis check: ${c.name}`, async () => {
    const dir = await writeApp(c);
    try {
      const found = checkApps([dir], new Set(["arch"])).violations.map((v) =>
        `${v.rule} ${v.file}:${v.line}:${v.column}`
      ).sort();
      deepStrictEqual(found, positions(c));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  Deno.test(`lint plugin reports the same: ${c.name}`, async () => {
    const dir = await writeApp(c);
    try {
      const found = lintFindings(dir, c).map((f) => f.at).sort();
      deepStrictEqual(found, positions(c));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("lint plugin: a layer violation carries the checker's message and hint", async () => {
  const c = CASES[0];
  const dir = await writeApp(c);
  try {
    const [{ d }] = lintFindings(dir, c);
    const [v] = checkApps([dir], new Set(["arch"])).violations;
    strictEqual(d.id, "krepis/domain-imports-infrastructure");
    strictEqual(
      d.message,
      'the domain imports "@krepis/core/storage" (infrastructure); the domain is the functional core and imports only domain code',
    );
    strictEqual(d.message, v.message);
    strictEqual(d.hint, v.hint);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

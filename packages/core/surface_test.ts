/**
 * The public surface of `@krepis/core` as `deno doc` sees it (the rule is in README.md):
 * a small root, every subpath entry published, and no internals in any entry.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const config = JSON.parse(await Deno.readTextFile(here("./deno.json"))) as {
  exports: Record<string, string>;
  publish: { include: string[] };
};

async function symbols(entry: string): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", here(entry)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const doc = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    nodes: Record<string, { symbols: { name: string }[] }>;
  };
  return Object.values(doc.nodes).flatMap((n) => n.symbols.map((s) => s.name));
}

/** Things that load or unload the library, reach its symbols or memory, or are details. */
const INTERNALS = [
  "loadKernel",
  "LoadedKernel",
  "OpenedLibrary",
  "openLibrary",
  "resolveLibrary",
  "SharedBuffer",
  "readVariable",
  "Router",
  "parsePattern",
  "Container",
  "Scope",
  "compose",
  "checkWiring",
  "DeadlineWatch",
  "readOnlyView",
  "encodeKey",
  "decodeKey",
  "numeric",
];

Deno.test("the root entry lists at most 60 symbols", async () => {
  const root = await symbols(config.exports["."]);
  assert.ok(root.length > 20, `suspiciously few: ${root.join(" ")}`);
  assert.ok(root.length <= 60, `${root.length} symbols: ${root.join(" ")}`);
});

Deno.test("no entry exports an internal", async () => {
  for (const [subpath, entry] of Object.entries(config.exports)) {
    const leaked = (await symbols(entry)).filter((s) => INTERNALS.includes(s));
    assert.deepEqual(leaked, [], `${subpath} exports internals`);
  }
});

Deno.test("every entry is a root file that is published", () => {
  for (const [subpath, entry] of Object.entries(config.exports)) {
    const file = entry.replace(/^\.\//, "");
    assert.match(
      file,
      /^[a-z_]+\.ts$/,
      `${subpath}: entry files live at the root`,
    );
    assert.ok(config.publish.include.includes(file), `${file} is published`);
  }
});

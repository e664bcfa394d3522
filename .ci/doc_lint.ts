/**
 * `deno doc --lint` on the public entry points of every Deno workspace package (every
 * subpath in the `exports` of each member's `deno.json`), as `.ci/run` runs it. The entries
 * are linted in one run, so a type that one entry exports may appear in another's
 * signatures (`App.serve` in `@krepis/core` returns the `HttpServer` of
 * `@krepis/core/http`): a user imports it from there.
 *
 * One kind of finding is tolerated: `private-type-ref` to a type that is not declared
 * anywhere in this repository. Those are third-party types a package builds on (the
 * protobuf-es message types in `@krepis/bindings`, ts-morph's `Project` in
 * `@krepis/smart-gen`, `StandardSchemaV1` in `@krepis/core`); re-exporting them would only move the finding onto the library's
 * own internal types. Every other finding fails the run, including a private-type-ref to
 * a type of ours.
 *
 * @module
 */

import { join, relative } from "node:path";

const SKIP_DIRS = new Set([".git", "target", "node_modules", ".krepis"]);

async function workspaceEntries(): Promise<string[]> {
  const root = JSON.parse(await Deno.readTextFile("deno.json")) as {
    workspace?: string[];
  };
  const entries: string[] = [];
  for (const member of root.workspace ?? []) {
    const dir = member.replace(/^\.\//, "");
    const config = JSON.parse(await Deno.readTextFile(`${dir}/deno.json`)) as {
      exports?: string | Record<string, string>;
    };
    const exports = typeof config.exports === "string"
      ? [config.exports]
      : Object.values(config.exports ?? {});
    for (const entry of exports) {
      entries.push(`${dir}/${entry.replace(/^\.\//, "")}`);
    }
  }
  return entries;
}

/** Every TypeScript source of the repository, read once. */
async function repoSources(dir = "."): Promise<string[]> {
  const texts: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory && !SKIP_DIRS.has(entry.name)) {
      texts.push(...await repoSources(path));
    } else if (entry.isFile && /\.m?tsx?$/.test(entry.name)) {
      texts.push(await Deno.readTextFile(path));
    }
  }
  return texts;
}

const entries = await workspaceEntries();
if (entries.length === 0) {
  console.error("no public entry points found in the workspace");
  Deno.exit(1);
}
for (const entry of entries) console.log(`  ${relative(".", entry)}`);

const result = await new Deno.Command(Deno.execPath(), {
  args: ["doc", "--lint", ...entries],
  env: { NO_COLOR: "1" },
  stdout: "piped",
  stderr: "piped",
}).output();
const output = new TextDecoder().decode(result.stdout) +
  new TextDecoder().decode(result.stderr);
if (result.success) {
  console.log("deno doc --lint: no findings");
  Deno.exit(0);
}

const findings = output.split(/(?=^error\[)/m).filter((b) =>
  b.startsWith("error[")
);
if (findings.length === 0) {
  // Not a lint finding (a missing module, a syntax error): report it as it is.
  console.error(output);
  Deno.exit(1);
}
const sources = await repoSources();
const declaredHere = (name: string) => {
  const declaration = new RegExp(
    `^\\s*(?:export\\s+)?(?:declare\\s+)?(?:abstract\\s+)?` +
      `(?:type|interface|class|enum|function|const|let|var)\\s+${name}` +
      // What follows a declared name; an import specifier (`type X,`) has none of it.
      `\\s*(?:[=<{(:]|extends\\b|implements\\b)`,
    "m",
  );
  return sources.some((text) => declaration.test(text));
};
let failures = 0;
for (const finding of findings) {
  // `StandardSchemaV1.InferOutput` is judged by its namespace, `StandardSchemaV1`.
  const foreign = finding.match(
    /^error\[private-type-ref\]: .*references private type '([\w$]+)[\w$.]*'/,
  );
  if (foreign && !declaredHere(foreign[1])) {
    console.log(`  tolerated (third-party type): ${finding.split("\n")[0]}`);
  } else {
    failures++;
    console.error(finding.trimEnd());
  }
}
console.log(
  `deno doc --lint: ${failures} finding(s), ${
    findings.length - failures
  } tolerated`,
);
Deno.exit(failures === 0 ? 0 : 1);

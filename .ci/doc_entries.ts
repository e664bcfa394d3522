/**
 * Prints the public entry points of every Deno workspace package, one per line, for
 * `deno doc --lint` in `.ci/run`.
 *
 * The generated protobuf-es codecs of `@krepis/bindings` expose `@bufbuild/protobuf`'s own
 * types, which `deno doc` counts as private; that package is linted through its FFI module.
 *
 * @module
 */

interface PackageConfig {
  name?: string;
  exports?: string | Record<string, string>;
}

const root = JSON.parse(await Deno.readTextFile("deno.json")) as {
  workspace?: string[];
};
for (const member of root.workspace ?? []) {
  const dir = member.replace(/^\.\//, "");
  const config = JSON.parse(
    await Deno.readTextFile(`${dir}/deno.json`),
  ) as PackageConfig;
  const exports = typeof config.exports === "string"
    ? [config.exports]
    : Object.values(config.exports ?? {});
  for (const entry of exports) {
    const path = `${dir}/${entry.replace(/^\.\//, "")}`;
    console.log(
      config.name === "@krepis/bindings"
        ? path.replace(/mod\.ts$/, "ffi.ts")
        : path,
    );
  }
}

import { strictEqual } from "node:assert";
import { join } from "node:path";
import { startJsrRegistry } from "./jsr_registry.ts";

async function deno(args: string[], cwd: string, env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", ...env },
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(out.stdout) +
    new TextDecoder().decode(out.stderr);
  return { code: out.code, text };
}

Deno.test("deno publish to the local registry, then a jsr: import of what it published", async () => {
  const registry = await startJsrRegistry();
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      join(dir, "deno.json"),
      JSON.stringify({
        name: "@e2e/greeter",
        version: "1.2.3",
        license: "MIT",
        exports: { ".": "./mod.ts", "./loud": "./loud.ts" },
      }),
    );
    await Deno.writeTextFile(
      join(dir, "mod.ts"),
      "/** Greets. */\nexport function greet(name: string): string {\n  return `hi ${name}`;\n}\n",
    );
    await Deno.writeTextFile(
      join(dir, "loud.ts"),
      'import { greet } from "./mod.ts";\n/** Greets loudly. */\nexport function shout(name: string): string {\n  return greet(name).toUpperCase();\n}\n',
    );
    const env = { JSR_URL: registry.url, DENO_DIR: join(dir, ".deno") };
    const denied = await deno(
      ["publish", "--token", "wrong", "--allow-dirty", "--no-provenance"],
      dir,
      env,
    );
    strictEqual(denied.code !== 0, true, denied.text);
    strictEqual(
      denied.text.includes("a valid token is required"),
      true,
      denied.text,
    );
    strictEqual(registry.published.length, 0);

    const publish = [
      "publish",
      "--token",
      registry.token,
      "--allow-dirty",
      "--no-provenance",
    ];
    const ok = await deno(publish, dir, env);
    strictEqual(ok.code, 0, ok.text);
    strictEqual(registry.published.join(), "@e2e/greeter@1.2.3");
    // Published versions are skipped, not uploaded twice.
    const again = await deno(publish, dir, env);
    strictEqual(again.code, 0, again.text);
    strictEqual(registry.published.length, 1);

    const meta =
      await (await fetch(`${registry.url}@e2e/greeter/1.2.3_meta.json`))
        .json();
    strictEqual(meta.exports["./loud"], "./loud.ts");
    strictEqual(meta.manifest["/mod.ts"].checksum.startsWith("sha256-"), true);

    const use = await deno(
      [
        "eval",
        'import { shout } from "jsr:@e2e/greeter@^1.2.0/loud"; console.log(shout("ada"));',
      ],
      await Deno.makeTempDir(),
      env,
    );
    strictEqual(use.code, 0, use.text);
    strictEqual(use.text.includes("HI ADA"), true, use.text);
  } finally {
    await registry.close();
    await Deno.remove(dir, { recursive: true });
  }
});

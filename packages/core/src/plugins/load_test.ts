import assert from "node:assert/strict";
import { z } from "zod";
import { join } from "node:path";
import { createContext } from "../context/context.ts";
import { defineQuery } from "../cqs/handler.ts";
import { ok } from "../result/result.ts";
import { PluginError } from "./errors.ts";
import { loadPlugin } from "./load.ts";
import {
  copyDir,
  copyFixture,
  fixture,
  keyPair,
  krepis,
  publisher,
  rejection,
  scratch,
  servePluginQuery,
  signed,
  signedFixture,
} from "./_testing.ts";

async function refusal(
  dir: string,
  trustedKeys: string[],
): Promise<PluginError> {
  const error = await rejection(
    loadPlugin(dir, { trustedKeys }).then((p) => p.close()),
  );
  assert.equal(error.code, "REFUSED");
  return error;
}

Deno.test("a good plugin is checked, signed, verified, loaded and serves HTTP through the pipeline", async () => {
  await using tmp = await scratch();
  const { secret, publicKey } = await keyPair(tmp.path);
  const dir = await copyFixture("good", tmp.path);

  const check = await krepis("plugin", "check", dir);
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stdout, /ok: plugin greeter, 2 modules checked/);
  const sign = await krepis("plugin", "sign", dir, "--key", secret);
  assert.equal(sign.code, 0, sign.stderr);
  const verify = await krepis(
    "plugin",
    "verify",
    dir,
    "--trust",
    `${secret}.pub`,
  );
  assert.equal(verify.code, 0, verify.stderr);
  assert.match(
    verify.stdout,
    /^ok: greeter 1\.0\.0 \(3 files\) signed by [0-9a-f]{64}/,
  );

  Deno.env.set("GREETING", "hello from the isolate");
  await using greeter = await loadPlugin(dir, { trustedKeys: [publicKey] });
  assert.equal(greeter.manifest.name, "greeter");
  assert.deepEqual(greeter.manifest.permissions.env, ["GREETING"]);

  // The plugin adds `greeting` and `traceId` to the input before validation.
  const hello = defineQuery({
    name: "hello",
    input: z.object({
      name: z.string(),
      greeting: z.string(),
      traceId: z.string(),
    }),
    handle: (_ctx, input) => ok(input),
  });
  const { app, server } = await servePluginQuery(
    greeter,
    hello,
    "/hello/:name",
  );
  await using _app = app;
  try {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const res = await fetch(
      `http://127.0.0.1:${server.addr.port}/hello/ada`,
      { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } },
    );
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      name: "ada",
      greeting: "hello from the isolate",
      traceId,
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("the code that runs is the verified copy, whatever happens to the directory afterwards", async () => {
  await using tmp = await scratch();
  const { publicKey } = await publisher();
  const dir = join(tmp.path, "good");
  await copyDir(await signed("good"), dir);
  await using greeter = await loadPlugin(dir, { trustedKeys: [publicKey] });
  await Deno.writeTextFile(
    join(dir, "lib/greeting.ts"),
    'export function greeting() { return "swapped after verification"; }\n',
  );
  Deno.env.set("GREETING", "verified");
  const out = await greeter.call(createContext(), { input: {} }) as {
    input: { greeting: string };
  };
  assert.equal(out.input.greeting, "verified");
  // And a fresh load of the changed directory is refused.
  const error = await refusal(dir, [publicKey]);
  assert.match(error.message, /changed file lib\/greeting\.ts/);
});

Deno.test("tampering after signing is refused and named: one byte, an added file, a changed permission", async () => {
  await using tmp = await scratch();
  const { secret, publicKey } = await publisher();
  // Each case tampers with its own copy of the signed plugin.
  const copy = async (name: string) => {
    const target = join(tmp.path, name);
    await copyDir(await signed("good"), target);
    return target;
  };
  const oneByte = await copy("byte");
  const path = join(oneByte, "mod.ts");
  const bytes = await Deno.readFile(path);
  bytes[bytes.length - 2] ^= 0x01;
  await Deno.writeFile(path, bytes);
  assert.match(
    (await refusal(oneByte, [publicKey])).message,
    /plugin greeter 1\.0\.0 refused: changed file mod\.ts$/,
  );

  const added = await copy("added");
  await Deno.writeTextFile(join(added, "lib/extra.ts"), "export {};\n");
  assert.match(
    (await refusal(added, [publicKey])).message,
    /refused: added file lib\/extra\.ts$/,
  );

  const widened = await copy("perm");
  const manifestPath = join(widened, "krepis.plugin.json");
  const manifest = JSON.parse(await Deno.readTextFile(manifestPath));
  manifest.permissions.read = ["/etc/passwd"];
  await Deno.writeTextFile(manifestPath, JSON.stringify(manifest, null, 2));
  const message = (await refusal(widened, [publicKey])).message;
  assert.match(message, /changed file krepis\.plugin\.json/);
  assert.match(message, /permission read: added "\/etc\/passwd"/);

  // The CLI names the same differences and exits 1.
  const verify = await krepis(
    "plugin",
    "verify",
    widened,
    "--trust",
    `${secret}.pub`,
  );
  assert.equal(verify.code, 1);
  assert.match(verify.stderr, /permission read: added "\/etc\/passwd"/);
});

Deno.test("a plugin signed by an untrusted key, or not signed, is refused", async () => {
  await using tmp = await scratch();
  const { publicKey } = await publisher();
  const stranger = await keyPair(tmp.path, "stranger.key");
  const dir = await signedFixture("good", tmp.path, stranger.secret);
  assert.match(
    (await refusal(dir, [publicKey])).message,
    /signed by key [0-9a-f]{64}, which is not among the 1 trusted key\(s\)/,
  );
  const unsigned = await copyFixture("throws", tmp.path);
  assert.match(
    (await refusal(unsigned, [publicKey])).message,
    /is not signed \(no krepis\.plugin\.sig\)/,
  );
  const noKeys = await refusal(dir, []);
  assert.match(noKeys.message, /no trusted keys given/);
});

Deno.test("undeclared reads, undeclared hosts and eval are flagged by check with file:line:col", async () => {
  const text = await krepis("plugin", "check", fixture("reads_passwd"));
  assert.equal(text.code, 1);
  assert.ok(
    text.stdout.startsWith(
      'mod.ts:2:23 error[undeclared-permission] `Deno.readTextFile` needs read access to "/etc/passwd"',
    ),
    text.stdout,
  );
  assert.match(text.stdout, /needs: --allow-read=\/etc\/passwd/);
  for (
    const [name, position, rule, needs] of [
      [
        "undeclared_host",
        "2:9",
        "undeclared-permission",
        "--allow-net=collector.evil.example:8443",
      ],
      ["uses_eval", "2:19", "dynamic-code", undefined],
    ] as const
  ) {
    const json = await krepis("plugin", "check", "--json", fixture(name));
    assert.equal(json.code, 1);
    const report = JSON.parse(json.stdout);
    assert.equal(report.errors, 1);
    const [finding] = report.findings;
    assert.equal(`${finding.line}:${finding.column}`, position, name);
    assert.equal(finding.rule, rule);
    assert.equal(finding.permission, needs);
  }
});

Deno.test("a plugin that fails check is never signed", async () => {
  await using tmp = await scratch();
  const { secret } = await keyPair(tmp.path);
  const copy = await copyFixture("reads_passwd", tmp.path);
  const sign = await krepis("plugin", "sign", copy, "--key", secret);
  assert.equal(sign.code, 1);
  assert.match(sign.stderr, /not signed: the static check failed/);
  await assert.rejects(
    Deno.stat(join(copy, "krepis.plugin.sig")),
    Deno.errors.NotFound,
  );
});

Deno.test("a malformed manifest is refused by check with every problem named", async () => {
  await using tmp = await scratch();
  const dir = await copyFixture("good", tmp.path);
  await Deno.writeTextFile(
    join(dir, "krepis.plugin.json"),
    JSON.stringify({
      name: "Greeter!",
      version: "one",
      entry: "../mod.ts",
      kind: "behavior",
      permissions: { net: ["https://x.example/"] },
    }),
  );
  const run = await krepis("plugin", "check", dir);
  assert.equal(run.code, 1);
  for (const field of ["`name`", "`version`", "`entry`", "`permissions.net`"]) {
    assert.ok(run.stderr.includes(field), run.stderr);
  }
});

Deno.test("the documented example plugin passes check", async () => {
  const example = new URL(
    "../../../../examples/plugins/tenant-guard",
    import.meta.url,
  );
  const check = await krepis("plugin", "check", "--json", example.pathname);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  const report = JSON.parse(check.stdout);
  assert.deepEqual(
    report.files.map((f: { path: string }) => f.path),
    ["lib/tenants.ts", "mod.ts"],
  );
  assert.equal(report.errors + report.warnings, 0);
});

Deno.test("a command plugin runs as `krepis plugin run` once the kernel verified it", async () => {
  const { publicKey } = await publisher();
  await using tmp = await scratch();
  const pub = join(tmp.path, "trusted.pub");
  await Deno.writeTextFile(pub, publicKey);
  const dir = await signed("context");
  for (const isolation of [[], ["--process"]]) {
    const run = await krepis(
      "plugin",
      "run",
      dir,
      "--trust",
      pub,
      ...isolation,
      "--",
      "hello",
      "--world",
    );
    assert.equal(run.code, 0, run.stderr);
    const output = JSON.parse(run.stdout);
    assert.deepEqual(output.args, ["hello", "--world"]);
    assert.match(output.traceId, /^[0-9a-f]{32}$/);
  }
  const behavior = await krepis(
    "plugin",
    "run",
    await signed("good"),
    "--trust",
    pub,
  );
  assert.equal(behavior.code, 1);
  assert.match(behavior.stderr, /is a behavior plugin, not a command/);
});

Deno.test("an entry module that fails to load is reported by loadPlugin, and nothing keeps running", async () => {
  await using tmp = await scratch();
  const { secret, publicKey } = await publisher();
  const dir = join(tmp.path, "broken");
  await Deno.mkdir(dir);
  await Deno.writeTextFile(
    join(dir, "krepis.plugin.json"),
    JSON.stringify({
      name: "broken",
      version: "1.0.0",
      entry: "mod.ts",
      kind: "behavior",
      permissions: {},
    }),
  );
  await Deno.writeTextFile(
    join(dir, "mod.ts"),
    'throw new SyntaxError("broken at load");\nexport default () => ({});\n',
  );
  const sign = await krepis("plugin", "sign", dir, "--key", secret);
  assert.equal(sign.code, 0, sign.stderr);
  const error = await rejection(loadPlugin(dir, { trustedKeys: [publicKey] }));
  assert.equal(error.code, "UNAVAILABLE");
  assert.match(
    error.message,
    /entry module failed to load: SyntaxError: broken at load/,
  );
});

import { deepStrictEqual, strictEqual as assertEquals } from "node:assert";
import { fileURLToPath as fromFileUrl } from "node:url";
import { checkApps } from "./check.ts";

const fixture = (name: string) =>
  fromFileUrl(new URL(`./tests/fixtures/${name}`, import.meta.url));
const checkScript = fromFileUrl(new URL("./check.ts", import.meta.url));

/** One violation of each rule, at the position the fixture was written to have it. */
const EXPECTED = [
  [
    "application-imports-adapter",
    "src/application/commands/seed_todos.ts",
    2,
    27,
  ],
  ["query-invokes-command", "src/application/queries/count_todos.ts", 11, 9],
  ["query-writes-port", "src/application/queries/get_todo.ts", 12, 30],
  ["domain-uses-deno-api", "src/domain/clock.ts", 3, 10],
  ["domain-imports-infrastructure", "src/domain/todo.ts", 1, 32],
  ["ctx-first", "src/ports/todo_repository.ts", 8, 3],
];

async function runCheck(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", checkScript, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("the violations fixture has exactly one violation of each rule, at its position", () => {
  const report = checkApps([fixture("violations")], new Set(["ctx", "arch"]));
  deepStrictEqual(
    report.violations.map((v) => [v.rule, v.file, v.line, v.column]),
    EXPECTED,
  );
  assertEquals(report.filesChecked, 8);
  for (const v of report.violations) {
    assertEquals(v.hint.length > 10, true, `${v.rule} has a fix hint`);
  }
});

Deno.test("the clean fixture passes both checkers", () => {
  const report = checkApps([fixture("clean")], new Set(["ctx", "arch"]));
  deepStrictEqual(report.violations, []);
  assertEquals(report.filesChecked > 5, true);
});

Deno.test("--rules selects the checkers", () => {
  const ctxOnly = checkApps([fixture("violations")], new Set(["ctx"]));
  deepStrictEqual(ctxOnly.violations.map((v) => v.rule), ["ctx-first"]);
  const archOnly = checkApps([fixture("violations")], new Set(["arch"]));
  assertEquals(archOnly.violations.length, 5);
});

Deno.test("CLI: text output has file:line:col and hints, exit code 1", async () => {
  const { code, stdout } = await runCheck(fixture("violations"));
  assertEquals(code, 1);
  for (const [rule, file, line, col] of EXPECTED) {
    assertEquals(
      stdout.includes(`${file}:${line}:${col} error[${rule}]`),
      true,
      `${rule} in\n${stdout}`,
    );
  }
  assertEquals(stdout.match(/^ {2}hint: /gm)?.length, EXPECTED.length);
  assertEquals(
    stdout.trimEnd().endsWith("6 violations in 8 files checked"),
    true,
  );
});

Deno.test("CLI: JSON output carries the same violations", async () => {
  const { code, stdout } = await runCheck("--json", fixture("violations"));
  assertEquals(code, 1);
  const report = JSON.parse(stdout);
  deepStrictEqual(
    report.violations.map((
      v: Record<string, unknown>,
    ) => [v.rule, v.file, v.line, v.column]),
    EXPECTED,
  );
});

Deno.test("CLI: clean app exits 0", async () => {
  const { code, stdout } = await runCheck(fixture("clean"));
  assertEquals(code, 0, stdout);
  assertEquals(stdout.startsWith("ok: "), true);
});

Deno.test("CLI: bad arguments are usage errors (exit 2), not stack traces", async () => {
  for (
    const args of [["--nope"], ["--rules", "bogus"], ["/definitely/not/here"]]
  ) {
    const { code, stderr } = await runCheck(...args);
    assertEquals(stderr.startsWith("error: "), true, stderr);
    assertEquals(
      stderr.includes("    at "),
      false,
      `no stack trace: ${stderr}`,
    );
    assertEquals(code, 2, stderr);
  }
});

Deno.test("a port's writes list, else @read/@write tags, else verbs decide what a query may call", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await new Deno.Command("cp", { args: ["-r", `${fixture("clean")}/.`, dir] })
      .output();
    // Outside the workspace the copy needs its own import map for @krepis/core.
    const core = fromFileUrl(new URL("../core/mod.ts", import.meta.url));
    await Deno.writeTextFile(
      `${dir}/deno.json`,
      JSON.stringify({ imports: { "@krepis/core": core } }),
    );
    const port = `${dir}/src/ports/todo_repository.ts`;
    const audit = `${dir}/src/ports/audit_log.ts`;
    const portSource = await Deno.readTextFile(port);
    const auditSource = await Deno.readTextFile(audit);
    const rulesAt = () =>
      checkApps([dir], new Set(["arch"])).violations.map((v) =>
        `${v.rule} ${v.file}:${v.line}:${v.column} ${v.message}`
      );
    deepStrictEqual(rulesAt(), []);

    // `setCursor` passes only because the writes list leaves it out.
    await Deno.writeTextFile(
      port,
      portSource.replace('writes: ["save"]', 'writes: ["save", "setCursor"]'),
    );
    deepStrictEqual(rulesAt(), [
      "query-writes-port src/application/queries/list_todos.ts:11:31 a query calls the writing port method `setCursor`; queries only read",
    ]);
    await Deno.writeTextFile(port, portSource);

    // Without its @read tag, `clearCache` is a write by its verb.
    await Deno.writeTextFile(audit, auditSource.replace(" @read */", " */"));
    deepStrictEqual(rulesAt(), [
      "query-writes-port src/application/queries/list_todos.ts:22:20 a query calls the writing port method `clearCache`; queries only read",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

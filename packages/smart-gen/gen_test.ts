import { deepStrictEqual, rejects, strictEqual, throws } from "node:assert";
import { fileURLToPath } from "node:url";
import { createHash } from "node:crypto";
import { formatPlan, parseRoute, planGeneration } from "./gen.ts";
import { names } from "./src/gen/names.ts";

const template = fileURLToPath(
  new URL("../../crates/krepis-cli/templates/app", import.meta.url),
);
const core = fileURLToPath(new URL("../core/mod.ts", import.meta.url));

/** A copy of the app template in a temp dir, with its own import map; removed on disposal. */
async function templateApp(): Promise<{ path: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir();
  await new Deno.Command("cp", { args: ["-r", `${template}/.`, dir] }).output();
  await Deno.writeTextFile(
    `${dir}/deno.json`,
    JSON.stringify({
      imports: { "@krepis/core": core, zod: "npm:zod@^4.6.7" },
    }),
  );
  return {
    path: dir,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

/** The plan for an adapter `FileGreetingLog` of the template's `GreetingLog` port. */
function fileGreetingLogPlan(root: string) {
  return planGeneration({
    root,
    kind: "adapter",
    name: "FileGreetingLog",
    port: "GreetingLog",
  });
}

/** Apply a plan the way `krepis gen` does, minus the journal. */
async function write(dir: string, plan: ReturnType<typeof planGeneration>) {
  for (const file of plan.files) {
    await Deno.mkdir(`${dir}/${file.path.split("/").slice(0, -1).join("/")}`, {
      recursive: true,
    });
    await Deno.writeTextFile(`${dir}/${file.path}`, file.content);
  }
}

Deno.test("names: every spelling of a name", () => {
  deepStrictEqual(names("CreateTodo"), {
    pascal: "CreateTodo",
    camel: "createTodo",
    snake: "create_todo",
  });
  deepStrictEqual(names("create-todo"), names("create_todo"));
  strictEqual(names("HTTPClient").snake, "http_client");
  throws(() => names("bad name"), /invalid name/);
  throws(() => names("1st"), /invalid name/);
});

Deno.test("parseRoute: method and path, or a usage error", () => {
  deepStrictEqual(parseRoute("post /todos/:id"), {
    method: "POST",
    path: "/todos/:id",
  });
  throws(() => parseRoute("FETCH /x"), /invalid --route/);
  throws(() => parseRoute("GET todos"), /invalid --route/);
});

Deno.test("planning writes nothing and registers a command once, with its route", async () => {
  await using copy = await templateApp();
  const dir = copy.path;
  const before = await Deno.readTextFile(`${dir}/src/app.ts`);
  const plan = planGeneration({
    root: dir,
    kind: "command",
    name: "ArchiveGreeting",
    route: { method: "DELETE", path: "/greetings/:id" },
  });
  strictEqual(
    await Deno.readTextFile(`${dir}/src/app.ts`),
    before,
    "planning wrote nothing",
  );
  deepStrictEqual(plan.files.map((f) => [f.action, f.path]), [
    ["create", "src/application/commands/archive_greeting.ts"],
    ["create", "src/application/commands/archive_greeting_test.ts"],
    ["update", "src/app.ts"],
  ]);
  const app = plan.files[2].content;
  strictEqual(app.match(/archiveGreetingCommand/g)?.length, 3, app); // import, commands, route
  strictEqual(
    app.includes('route("DELETE", "/greetings/:id", archiveGreetingCommand)'),
    true,
  );
  await write(dir, plan);
  throws(
    () =>
      planGeneration({ root: dir, kind: "command", name: "ArchiveGreeting" }),
    /already exists; nothing was generated/,
  );
  throws(
    () =>
      planGeneration({
        root: dir,
        kind: "query",
        name: "Other",
        route: { method: "DELETE", path: "/greetings/:id" },
      }),
    /already has a route DELETE \/greetings\/:id/,
  );
});

Deno.test("an adapter stubs every port method and replaces the port's earlier binding", async () => {
  await using copy = await templateApp();
  const dir = copy.path;
  const plan = fileGreetingLogPlan(dir);
  await formatPlan(plan, dir);
  const adapter = plan.files[0].content;
  strictEqual(adapter.includes("implements GreetingLog"), true, adapter);
  strictEqual(
    adapter.includes(
      "record(_ctx: KrepisContext, _greeting: Greeting): Promise<void>",
    ),
    true,
    adapter,
  );
  strictEqual(
    adapter.includes(
      'import type { Greeting } from "../domain/greeting.ts";',
    ),
    true,
    adapter,
  );
  strictEqual(plan.files[1].path, "src/adapters/file_greeting_log_test.ts");
  const app = plan.files[2].content;
  strictEqual(
    app.includes("provide(GreetingLogPort, new FileGreetingLog())"),
    true,
    app,
  );
  strictEqual(
    app.includes("new MemoryGreetingLog()"),
    false,
    "the old binding is replaced",
  );
  deepStrictEqual(plan.notes, [
    "replaced the earlier adapter bound to GreetingLogPort",
  ]);
  throws(
    () => planGeneration({ root: dir, kind: "adapter", name: "X" }),
    /pass --port/,
  );
  throws(
    () =>
      planGeneration({ root: dir, kind: "adapter", name: "X", port: "Nope" }),
    /no port Nope under src\/ports/,
  );
});

Deno.test("formatPlan rejects content that does not parse", async () => {
  await rejects(
    formatPlan({
      files: [{
        path: "x.ts",
        content: "export const = ;",
        action: "create",
        before: null,
      }],
      notes: [],
    }, "."),
    /generated x.ts does not parse/,
  );
});

Deno.test("route path parameters become input fields; the plan records what it read", async () => {
  await using copy = await templateApp();
  const dir = copy.path;
  const original = await Deno.readTextFile(`${dir}/src/app.ts`);
  const plan = planGeneration({
    root: dir,
    kind: "command",
    name: "ArchiveNote",
    route: parseRoute("POST /notes/:id/archive/:reason"),
  });
  const [command, test, app] = plan.files;
  strictEqual(command.path, "src/application/commands/archive_note.ts");
  strictEqual(
    command.content.includes("id: z.string(), reason: z.string()"),
    true,
    command.content,
  );
  strictEqual(command.before, null);
  strictEqual(test.path, "src/application/commands/archive_note_test.ts");
  strictEqual(test.content.includes('{ id: "1", reason: "1" }'), true);
  const hash = createHash("sha256").update(original).digest("hex");
  deepStrictEqual([app.path, app.before], ["src/app.ts", hash]);
  const noTest = planGeneration({
    root: dir,
    kind: "command",
    name: "ArchiveNote",
    noTest: true,
  });
  strictEqual(noTest.files.some((f) => f.path.endsWith("_test.ts")), false);
});

Deno.test("a stub adapter's test passes while its methods are stubs and fails once one is written", async () => {
  await using copy = await templateApp();
  const dir = copy.path;
  const plan = fileGreetingLogPlan(dir);
  await write(dir, plan);
  const test = (): Promise<Deno.CommandOutput> =>
    new Deno.Command(Deno.execPath(), {
      args: ["test", "-A", "src/adapters/file_greeting_log_test.ts"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
  const stubbed = await test();
  const output = (o: Deno.CommandOutput) =>
    new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr);
  strictEqual(stubbed.code, 0, output(stubbed));
  const adapter = `${dir}/src/adapters/file_greeting_log.ts`;
  const source = await Deno.readTextFile(adapter);
  await Deno.writeTextFile(
    adapter,
    source.replace(
      /return Promise\.reject\(new Error\("FileGreetingLog\.record is not implemented yet"\)\);/,
      "return Promise.resolve();",
    ),
  );
  const written = await test();
  strictEqual(written.code, 1, output(written));
  strictEqual(
    output(written).includes(
      "FileGreetingLog: the methods not written yet say so",
    ),
    true,
  );
});

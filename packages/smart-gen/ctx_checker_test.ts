import { deepStrictEqual, strictEqual } from "node:assert";
import { Project } from "ts-morph";
import plugin from "./lint_plugin.ts";
import { checkCtxFile } from "./src/ctx_checker.ts";
import { classifyPath } from "./src/classify.ts";
import { judgeFirstParam } from "./src/ctx_rule.ts";

interface Case {
  name: string;
  path: string;
  source: string;
  /** Expected `line:col` of every violation. */
  expected: string[];
}

const CASES: Case[] = [
  {
    name:
      "port interface: method without ctx, function-typed property, good method",
    path: "/app/src/ports/repo.ts",
    source: `import type { KrepisContext } from "@krepis/core";
export interface Repo {
  save(ctx: KrepisContext, todo: string): Promise<void>;
  find(id: string): Promise<string>;
  remove: (x: number) => void;
  name: string;
}`,
    expected: ["4:3", "5:3"],
  },
  {
    name:
      "command: exported function, arrow const, class methods (private ones skipped)",
    path: "/app/src/application/commands/create.ts",
    source: `export function createTodo(title: string) { return title; }
export const undo = (ctx: KrepisContext) => ctx;
export const redo = async () => {};
function helper(x: number) { return x; }
export class Runner {
  constructor(private readonly n: number) {}
  run(ctx: KrepisContext) { return ctx; }
  go(a: number) { return a; }
  private hidden(a: number) { return a; }
  #secret(a: number) { return a; }
  get count() { return this.n; }
}`,
    expected: ["1:17", "3:14", "8:3"],
  },
  {
    name: "handlers given to defineCommand/defineQuery, in any file",
    path: "/app/src/app.ts",
    source: `import { defineCommand, defineQuery } from "@krepis/core";
export const a = defineCommand({ name: "a", handler: (ctx, input) => input });
export const b = defineQuery({ name: "b", handler(input) { return input; } });
export const c = defineCommand({ name: "c", run: (input: string) => input });
export const d = defineQuery("d", (context: string) => context);`,
    expected: ["3:43", "4:45", "5:35"],
  },
  {
    name:
      "adapter: type-annotated object literal is contextual; wrong name and type flagged",
    path: "/app/src/adapters/mem.ts",
    source: `import type { Repo } from "../ports/repo.ts";
export const mem: Repo = {
  save: (_ctx, _todo) => Promise.resolve(),
  find(ctx) { return Promise.resolve(String(ctx)); },
  remove: (x) => void x,
};
export function open(context: KrepisContext) { return context; }
export function close(...args: unknown[]) { return args; }
export default function (ctx: string) { return ctx; }`,
    expected: ["5:3", "7:17", "8:17", "9:16"],
  },
  {
    name: "export lists, type aliases and this-parameters",
    path: "/app/src/adapters/list.ts",
    source: `function plain(x: number) { return x; }
function withThis(this: unknown, ctx: KrepisContext) { return ctx; }
export { plain as renamed, withThis };
export type Handler = (input: string) => void;
export type Port = { read(ctx: KrepisContext): void; write(x: string): void };`,
    expected: ["1:10", "4:13", "5:54"],
  },
  {
    name: "domain and unclassified files are not subject to ctx-first",
    path: "/app/src/domain/todo.ts",
    source: `export function newTodo(title: string) { return { title }; }`,
    expected: [],
  },
  {
    name: "test files are skipped",
    path: "/app/src/ports/repo_test.ts",
    source: `export function helper(x: number) { return x; }`,
    expected: [],
  },
];

function morphPositions(c: Case): string[] {
  const project = new Project({ useInMemoryFileSystem: true });
  const file = project.createSourceFile(c.path, c.source);
  if (/_test\.ts$/.test(c.path)) return [];
  return checkCtxFile("/app", file).map((v) => `${v.line}:${v.column}`);
}

function lintPositions(c: Case): string[] {
  const lines = c.source.split("\n");
  const toLineCol = (offset: number) => {
    let rest = offset;
    for (let i = 0; i < lines.length; i++) {
      if (rest <= lines[i].length) return `${i + 1}:${rest + 1}`;
      rest -= lines[i].length + 1;
    }
    throw new Error("offset out of range");
  };
  return Deno.lint.runPlugin(plugin, c.path, c.source)
    .map((d) => d.range[0])
    .sort((a, b) => a - b)
    .map(toLineCol);
}

for (const c of CASES) {
  Deno.test(`ts-morph checker: ${c.name}`, () => {
    deepStrictEqual(morphPositions(c), c.expected);
  });
  Deno.test(`lint plugin agrees: ${c.name}`, () => {
    deepStrictEqual(lintPositions(c), c.expected);
  });
}

Deno.test("lint plugin reports message and hint", () => {
  const [d] = Deno.lint.runPlugin(plugin, CASES[0].path, CASES[0].source);
  strictEqual(d.id, "krepis/ctx-first");
  strictEqual(
    d.message,
    "`Repo.find` takes `id: string` first; it must take `ctx: KrepisContext` first",
  );
  strictEqual(d.hint?.includes("`Repo.find(ctx: KrepisContext, ...)`"), true);
});

Deno.test("judgeFirstParam verdicts", () => {
  strictEqual(
    judgeFirstParam("f", { name: "ctx", typeText: "KrepisContext" }, false),
    undefined,
  );
  strictEqual(
    judgeFirstParam(
      "f",
      { name: "ctx", typeText: "core.KrepisContext<D>" },
      false,
    ),
    undefined,
  );
  strictEqual(
    judgeFirstParam("f", { typeText: "KrepisContext" }, false),
    undefined,
  );
  strictEqual(judgeFirstParam("f", { name: "_ctx" }, true), undefined);
  strictEqual(
    judgeFirstParam("f", { name: "ctx" }, false)?.message.includes(
      "without the type",
    ),
    true,
  );
  strictEqual(
    judgeFirstParam("f", { name: "c", typeText: "KrepisContext" }, false)?.hint,
    "rename `c` to `ctx`",
  );
  strictEqual(
    judgeFirstParam("f", undefined, true)?.message.includes(
      "takes no parameters",
    ),
    true,
  );
  strictEqual(
    judgeFirstParam("f", { name: "ctx", rest: true }, true)?.message.includes(
      "rest parameter",
    ),
    true,
  );
});

Deno.test("classifyPath follows the directory conventions", () => {
  deepStrictEqual(
    [
      "src/application/commands/a.ts",
      "/x/src/application/queries/b.ts",
      "C:\\app\\src\\application\\services\\c.ts",
      "src/ports/p.ts",
      "src/adapters/http/a.ts",
      "src/domain/d.ts",
      "src/infra/db.ts",
      "main.ts",
      "lib/report.ts",
      "examples/todo/application/ports.ts",
      "examples/todo/application/commands.ts",
      "examples/todo/adapters/system.ts",
    ].map(classifyPath),
    [
      "command",
      "query",
      "application",
      "port",
      "adapter",
      "domain",
      "infrastructure",
      undefined,
      undefined,
      "port",
      "command",
      "adapter",
    ],
  );
});

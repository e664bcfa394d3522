/**
 * Source text of the files `krepis gen` creates. Each follows the app
 * conventions: `ctx` first everywhere, ports declare which methods write,
 * handlers return a `Result`.
 *
 * @module
 */

import type { Names } from "./names.ts";

/** The port a handler or adapter uses: its interface, its constant and its module. */
export interface PortRef {
  /** Interface name, e.g. `TodoRepository`. */
  type: string;
  /** The `definePort` constant, e.g. `TodoRepositoryPort`. */
  constant: string;
  /** Module specifier relative to the generated file. */
  specifier: string;
  /** The name the handler receives it under, e.g. `todoRepository`. */
  depName: string;
}

/**
 * A command or query module.
 *
 * @example
 * ```ts
 * import { handlerModule } from "./templates.ts";
 * import { names } from "./names.ts";
 * handlerModule("command", names("CreateTodo"), undefined).includes("defineCommand"); // true
 * handlerModule("command", names("ArchiveNote"), undefined, ["id"]).includes("id: z.string()"); // true
 * ```
 */
export function handlerModule(
  kind: "command" | "query",
  n: Names,
  port: PortRef | undefined,
  pathParams: string[] = [],
): string {
  const define = kind === "command" ? "defineCommand" : "defineQuery";
  const suffix = kind === "command" ? "Command" : "Query";
  const imports = [
    `import { ${define}, ok } from "@krepis/core";`,
    `import { z } from "zod";`,
  ];
  if (port) {
    imports.push(`import { ${port.constant} } from "${port.specifier}";`);
  }
  const doc = kind === "command"
    ? `The ${n.camel} command: validates its input, changes state through its ports.`
    : `The ${n.camel} query: validates its input, reads through its ports.`;
  return `${imports.join("\n")}

/** ${doc} */
export const ${n.camel}${suffix} = ${define}({
  name: "${n.camel}",
  input: z.object({${pathParams.map((p) => ` ${p}: z.string(),`).join("")} }),
  deps: { ${port ? `${port.depName}: ${port.constant}` : ""} },
  handle(_ctx, input, _deps) {
    return ok({ ${kind === "command" ? "done: true, " : ""}input });
  },
});
`;
}

/**
 * A port module: an interface whose methods take `ctx` first, and its
 * `definePort` constant listing the writing methods.
 *
 * @example
 * ```ts
 * import { portModule } from "./templates.ts";
 * import { names } from "./names.ts";
 * portModule(names("TodoRepository")).includes("TodoRepositoryPort"); // true
 * ```
 */
export function portModule(n: Names): string {
  return `import { definePort, type KrepisContext } from "@krepis/core";

/** The ${n.pascal} port. Every method takes the context first. */
export interface ${n.pascal} {
  /** Reads the value stored under \`key\`. */
  get(ctx: KrepisContext, key: string): Promise<string | undefined>;
  /** Stores \`value\` under \`key\`. */
  put(ctx: KrepisContext, key: string, value: string): Promise<void>;
}

/** The ${n.pascal} port; queries get a view without the methods listed in \`writes\`. */
export const ${n.pascal}Port = definePort<${n.pascal}>("${n.camel}", {
  writes: ["put"],
});
`;
}

/** One method of a port interface, as the adapter needs it. */
export interface MethodSignature {
  /** Method name. */
  name: string;
  /** Parameter list source text, e.g. `_ctx: KrepisContext, key: string`. */
  params: string;
  /** Return type source text (may be empty). */
  returns: string;
  /** The parameters after `ctx`: name and declaration (`key: string`). */
  args?: { name: string; text: string }[];
}

/**
 * An adapter class implementing `port`, with one stub per port method.
 *
 * @example
 * ```ts
 * import { adapterModule } from "./templates.ts";
 * import { names } from "./names.ts";
 * const port = { type: "Repo", constant: "RepoPort", specifier: "../ports/repo.ts", depName: "repo" };
 * adapterModule(names("FileRepo"), port, []).includes("implements Repo"); // true
 * ```
 */
export function adapterModule(
  n: Names,
  port: PortRef,
  methods: MethodSignature[],
  extraImports: string[] = [],
): string {
  const bodies = methods.map((m) => {
    const returns = m.returns ? `: ${m.returns}` : "";
    const message = `${n.pascal}.${m.name} is not implemented yet`;
    const body = /^Promise\s*</.test(m.returns)
      ? `return Promise.reject(new Error("${message}"));`
      : `throw new Error("${message}");`;
    return `  ${m.name}(${m.params})${returns} {\n    ${body}\n  }`;
  });
  const imports = [
    ...extraImports,
    `import type { ${port.type} } from "${port.specifier}";`,
  ];
  return `${imports.join("\n")}

/** Implements the ${port.type} port. */
export class ${n.pascal} implements ${port.type} {
${bodies.join("\n\n")}
}
`;
}

/** What an in-memory adapter does for a method, judged by its name and arity. */
export type MemoryRole =
  | "get"
  | "put"
  | "add"
  | "delete"
  | "list"
  | "count"
  | "has";

const ROLES: [MemoryRole, RegExp, (arity: number) => boolean][] = [
  ["list", /^(list|all|getAll|findAll|values)/, (a) => a <= 1],
  ["count", /^(count|size|total)/, (a) => a === 0],
  ["has", /^(has|exists|contains)/, (a) => a === 1],
  ["get", /^(get|find|load|read|fetch|lookup)/, (a) => a === 1],
  ["put", /^(put|set|save|store|upsert|update|write)/, (a) => a === 2],
  [
    "add",
    /^(add|record|append|create|insert|push|put|save|store)/,
    (a) => a === 1,
  ],
  ["delete", /^(delete|remove|drop|clear)/, (a) => a === 1],
];

/**
 * The role of a port method in an in-memory adapter, or `undefined` when its
 * name and parameters say nothing a map could do.
 *
 * @example
 * ```ts
 * import { memoryRole } from "./templates.ts";
 * memoryRole("get", 1); // "get"
 * memoryRole("recordVisit", 1); // "add"
 * memoryRole("sendMail", 2); // undefined
 * ```
 */
export function memoryRole(
  name: string,
  arity: number,
): MemoryRole | undefined {
  return ROLES.find(([, re, fits]) => re.test(name) && fits(arity))?.[0];
}

/**
 * A working in-memory adapter (for names starting with `Memory` or
 * `InMemory`): values live in a `Map`, keyed by the key argument or the
 * value's `id`. Methods whose role {@linkcode memoryRole} cannot tell stay
 * stubs that reject, each named in the class comment.
 *
 * @example
 * ```ts
 * import { memoryAdapterModule } from "./templates.ts";
 * import { names } from "./names.ts";
 * const port = { type: "Repo", constant: "RepoPort", specifier: "../ports/repo.ts", depName: "repo" };
 * const methods = [{ name: "get", params: "_ctx: KrepisContext, key: string", returns: "Promise<string | undefined>", args: [{ name: "key", text: "key: string" }] }];
 * memoryAdapterModule(names("MemoryRepo"), port, methods).includes("#items.get"); // true
 * ```
 */
export function memoryAdapterModule(
  n: Names,
  port: PortRef,
  methods: MethodSignature[],
  extraImports: string[] = [],
): string {
  const stubs: string[] = [];
  const bodies = methods.map((m) => {
    const args = m.args ?? [];
    const role = memoryRole(m.name, args.length);
    const returns = m.returns ? `: ${m.returns}` : "";
    const async = /^Promise\s*</.test(m.returns);
    const wrap = (expr: string) =>
      async
        ? `return Promise.resolve(${expr} as never);`
        : `return ${expr} as never;`;
    const a = args.map((x) => x.name);
    let body: string;
    switch (role) {
      case "get":
        body = wrap(`this.#items.get(keyOf(${a[0]}))`);
        break;
      case "has":
        body = wrap(`this.#items.has(keyOf(${a[0]}))`);
        break;
      case "put":
        body = `this.#items.set(keyOf(${a[0]}), ${a[1]});\n    ${
          wrap("undefined")
        }`;
        break;
      case "add":
        body = `this.#items.set(keyOf(${a[0]}, String(++this.#next)), ${
          a[0]
        });\n    ${wrap("undefined")}`;
        break;
      case "delete":
        body = wrap(`this.#items.delete(keyOf(${a[0]}))`);
        break;
      case "list":
        body = wrap("[...this.#items.values()]");
        break;
      case "count":
        body = wrap("this.#items.size");
        break;
      default: {
        stubs.push(m.name);
        const message =
          `${n.pascal}.${m.name} has no in-memory implementation yet`;
        body = async
          ? `return Promise.reject(new Error("${message}"));`
          : `throw new Error("${message}");`;
      }
    }
    const params = [
      m.params.split(",")[0],
      ...args.map((x) => role ? x.text : `_${x.text}`),
    ].filter((p) => p.trim() !== "").join(", ");
    return `  ${m.name}(${params})${returns} {\n    ${body}\n  }`;
  });
  const imports = [
    ...extraImports,
    `import type { ${port.type} } from "${port.specifier}";`,
  ];
  const todo = stubs.length
    ? ` ${stubs.join(", ")} ${
      stubs.length === 1 ? "is a stub" : "are stubs"
    } to fill in.`
    : "";
  return `${imports.join("\n")}

/** The map key for a value: its \`id\` when it has one, else the value itself. */
function keyOf(value: unknown, fallback?: string): string {
  if (typeof value === "object" && value !== null && "id" in value) {
    return String((value as { id: unknown }).id);
  }
  return fallback ?? String(value);
}

/** Implements the ${port.type} port in memory (tests, local development).${todo} */
export class ${n.pascal} implements ${port.type} {
  #items = new Map<string, unknown>();
  #next = 0;

${bodies.join("\n\n")}
}
`;
}

/**
 * A test beside a generated command or query: the handler runs in an app
 * that has it registered, with the given input, and succeeds.
 *
 * @example
 * ```ts
 * import { handlerTestModule } from "./templates.ts";
 * import { names } from "./names.ts";
 * handlerTestModule("command", names("ArchiveNote"), undefined, ["id"]).includes("archiveNoteCommand"); // true
 * ```
 */
export function handlerTestModule(
  kind: "command" | "query",
  n: Names,
  port: PortRef | undefined,
  pathParams: string[] = [],
): string {
  const handler = `${n.camel}${kind === "command" ? "Command" : "Query"}`;
  const imports = [
    `import { strictEqual } from "node:assert";`,
    `import { createApp${port ? ", provide" : ""} } from "@krepis/core";`,
    `import { ${handler} } from "./${n.snake}.ts";`,
  ];
  if (port) {
    imports.push(
      `import { ${port.constant} } from "${port.specifier}";`,
    );
  }
  const input = `{ ${pathParams.map((p) => `${p}: "1"`).join(", ")} }`;
  const adapters = port
    ? `\n    // The handler does not call its port yet; bind a real adapter once it does.\n    adapters: [provide(${port.constant}, {} as never)],`
    : "";
  return `${imports.join("\n")}

Deno.test("${handler} accepts valid input", async () => {
  const app = createApp({${adapters}
    ${kind === "command" ? "commands" : "queries"}: [${handler}],
  });
  const result = await app.execute(app.context(), ${handler}, ${input});
  strictEqual(result.ok, true);
});
`;
}

/**
 * A test beside a generated adapter: an in-memory one gets a round trip
 * through the methods {@linkcode memoryRole} recognises; any other one is a
 * stub, whose test checks that every method still says it is not implemented
 * (so the test fails, asking for a real one, once a method is written).
 *
 * @example
 * ```ts
 * import { adapterTestModule } from "./templates.ts";
 * import { names } from "./names.ts";
 * adapterTestModule(names("MemoryRepo"), []).includes("new MemoryRepo()"); // true
 * ```
 */
export function adapterTestModule(
  n: Names,
  methods: MethodSignature[],
  memory = false,
): string {
  const find = (role: MemoryRole) =>
    memory
      ? methods.find((m) => memoryRole(m.name, m.args?.length ?? 0) === role)
      : undefined;
  const put = find("put") ?? find("add");
  const read = find("get") ?? find("list") ?? find("count");
  const lines: string[] = [];
  if (put && read) {
    const written = put === find("put") ? ["key", "value"] : ["value"];
    lines.push(
      `  const value = { id: "k1" };`,
      `  await adapter.${put.name}(ctx, ${
        written.length === 2 ? '"k1", value' : "value"
      } as never);`,
    );
    const got = `await adapter.${read.name}(ctx${
      read === find("get") ? ', "k1" as never' : ""
    })`;
    lines.push(
      read === find("get")
        ? `  strictEqual(${got}, value);`
        : read === find("list")
        ? `  strictEqual((${got} as unknown[]).length, 1);`
        : `  strictEqual(${got}, 1);`,
    );
  }
  if (methods.length === 0) {
    // A port without methods: all there is to check is that the adapter constructs.
    return `import { ${n.pascal} } from "./${n.snake}.ts";

Deno.test("${n.pascal} constructs", () => {
  new ${n.pascal}();
});
`;
  }
  if (!(put && read)) {
    // Stubs only: the test pins that each method still says so, and fails (asking for a
    // real test) as soon as one is written.
    const stubs = methods.map((m) =>
      `  await rejects(
    async () => await Reflect.apply(adapter.${m.name}, adapter, [ctx]),
    /${n.pascal}\\.${m.name} is not implemented yet/,
  );`
    );
    return `import { rejects } from "node:assert";
import { createApp } from "@krepis/core";
import { ${n.pascal} } from "./${n.snake}.ts";

// Replace this test with one of the real behaviour as you write each method.
Deno.test("${n.pascal}: the methods not written yet say so", async () => {
  const ctx = createApp({}).context();
  const adapter = new ${n.pascal}();
${stubs.join("\n")}
});
`;
  }
  return `import { strictEqual } from "node:assert";
import { createApp } from "@krepis/core";
import { ${n.pascal} } from "./${n.snake}.ts";

Deno.test("${n.pascal} keeps what it is given", async () => {
  const ctx = createApp({}).context();
  const adapter = new ${n.pascal}();
${lines.join("\n")}
});
`;
}

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
 * ```
 */
export function handlerModule(
  kind: "command" | "query",
  n: Names,
  port: PortRef | undefined,
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
  input: z.object({}),
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

/** One method of a port interface, as the adapter stub needs it. */
export interface MethodSignature {
  /** Method name. */
  name: string;
  /** Parameter list source text, e.g. `_ctx: KrepisContext, key: string`. */
  params: string;
  /** Return type source text (may be empty). */
  returns: string;
}

/**
 * An adapter class implementing `port`, with one stub per port method.
 *
 * @example
 * ```ts
 * import { adapterModule } from "./templates.ts";
 * import { names } from "./names.ts";
 * const port = { type: "Repo", constant: "RepoPort", specifier: "../ports/repo.ts", depName: "repo" };
 * adapterModule(names("MemoryRepo"), port, []).includes("implements Repo"); // true
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

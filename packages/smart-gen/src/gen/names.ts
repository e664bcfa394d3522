/**
 * Names derived from the `<Name>` given to `krepis gen`: `CreateTodo` gives
 * the file `create_todo.ts`, the handler name `createTodo` and the constant
 * `createTodoCommand`.
 *
 * @module
 */

import { UsageError } from "../args.ts";

/** The spellings of one generated thing's name. */
export interface Names {
  /** `CreateTodo` */
  pascal: string;
  /** `createTodo` */
  camel: string;
  /** `create_todo` */
  snake: string;
}

/**
 * Split and re-case a name given as `CreateTodo`, `createTodo`,
 * `create-todo` or `create_todo`.
 *
 * @example
 * ```ts
 * import { names } from "./names.ts";
 * names("create-todo").pascal; // "CreateTodo"
 * names("HTTPClient").snake; // "http_client"
 * ```
 */
export function names(input: string): Names {
  if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(input)) {
    throw new UsageError(
      `invalid name "${input}": use letters and digits, e.g. CreateTodo or create-todo`,
    );
  }
  const words = input
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .split(/[\s_-]+/)
    .filter(Boolean)
    .map((w) => w.toLowerCase());
  const pascal = words.map((w) => w[0].toUpperCase() + w.slice(1)).join("");
  return {
    pascal,
    camel: pascal[0].toLowerCase() + pascal.slice(1),
    snake: words.join("_"),
  };
}

/**
 * The todo domain: plain data and pure functions. No I/O, no clock, no ids of its own — the
 * application layer passes them in — so every rule here is tested without any adapter.
 *
 * @module
 */

import { AppError, err, ok, type Result } from "@krepis/core";

/** A todo item. */
export interface Todo {
  /** Identifier assigned by the application. */
  readonly id: string;
  /** What to do; 1–200 characters after trimming. */
  readonly title: string;
  /** Whether it is done. */
  readonly done: boolean;
  /** Creation time (epoch ms). */
  readonly createdAt: number;
  /** Completion time (epoch ms), when done. */
  readonly completedAt?: number;
}

/** Longest accepted title. */
export const MAX_TITLE = 200;

/**
 * Normalises and checks a title.
 *
 * @example
 * ```ts
 * import { cleanTitle } from "./todo.ts";
 * const r = cleanTitle("  buy milk ");
 * console.assert(r.ok && r.value === "buy milk");
 * ```
 */
export function cleanTitle(title: string): Result<string> {
  const t = title.trim().replace(/\s+/g, " ");
  if (t.length === 0) {
    return err(new AppError("UNPROCESSABLE", "a todo needs a title"));
  }
  if (t.length > MAX_TITLE) {
    return err(
      new AppError(
        "UNPROCESSABLE",
        `a title has at most ${MAX_TITLE} characters`,
      ),
    );
  }
  return ok(t);
}

/**
 * Creates a new, open todo.
 *
 * @example
 * ```ts
 * import { createTodo } from "./todo.ts";
 * const r = createTodo("t1", "write docs", 0);
 * console.assert(r.ok && !r.value.done);
 * ```
 */
export function createTodo(
  id: string,
  title: string,
  now: number,
): Result<Todo> {
  const t = cleanTitle(title);
  return t.ok ? ok({ id, title: t.value, done: false, createdAt: now }) : t;
}

/**
 * Renames a todo; a completed todo cannot be renamed.
 *
 * @example
 * ```ts
 * import { createTodo, renameTodo } from "./todo.ts";
 * const t = createTodo("t1", "draft", 0);
 * const r = t.ok ? renameTodo(t.value, "final") : t;
 * console.assert(r.ok && r.value.title === "final");
 * ```
 */
export function renameTodo(todo: Todo, title: string): Result<Todo> {
  if (todo.done) {
    return err(new AppError("CONFLICT", "a completed todo cannot be renamed"));
  }
  const t = cleanTitle(title);
  return t.ok ? ok({ ...todo, title: t.value }) : t;
}

/**
 * Marks a todo as done; completing it twice is a conflict.
 *
 * @example
 * ```ts
 * import { completeTodo, createTodo } from "./todo.ts";
 * const t = createTodo("t1", "ship", 0);
 * const r = t.ok ? completeTodo(t.value, 5) : t;
 * console.assert(r.ok && r.value.completedAt === 5);
 * ```
 */
export function completeTodo(todo: Todo, now: number): Result<Todo> {
  if (todo.done) {
    return err(new AppError("CONFLICT", "todo is already completed"));
  }
  return ok({ ...todo, done: true, completedAt: now });
}

/** Filter for {@linkcode selectTodos}. */
export interface TodoFilter {
  /** Only done (`true`) or only open (`false`) todos; all when absent. */
  done?: boolean;
  /** At most this many, oldest first. */
  limit?: number;
}

/**
 * Filters and orders todos (oldest first, then by id for a stable order).
 *
 * @example
 * ```ts
 * import { selectTodos } from "./todo.ts";
 * const todos = [
 *   { id: "b", title: "b", done: true, createdAt: 2 },
 *   { id: "a", title: "a", done: false, createdAt: 1 },
 * ];
 * console.assert(selectTodos(todos, { done: false })[0].id === "a");
 * ```
 */
export function selectTodos(
  todos: Iterable<Todo>,
  filter: TodoFilter = {},
): Todo[] {
  const selected = [...todos]
    .filter((t) => filter.done === undefined || t.done === filter.done)
    .sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  return filter.limit === undefined
    ? selected
    : selected.slice(0, filter.limit);
}

/**
 * The ports of the todo application: what it needs from the outside world. Every method takes
 * the operation's context first, so adapters can log, trace and honour cancellation.
 *
 * @module
 */

import { definePort, type KrepisContext } from "@krepis/core";
import type { Todo, TodoFilter } from "../domain/todo.ts";

/** Stores todos. `save` and `remove` write; queries may only call `get` and `list`. */
export interface TodoRepository {
  /** The todo with `id`, or `undefined`. */
  get(ctx: KrepisContext, id: string): Promise<Todo | undefined>;
  /** Todos matching `filter`, oldest first. */
  list(ctx: KrepisContext, filter: TodoFilter): Promise<Todo[]>;
  /** Inserts or replaces a todo. */
  save(ctx: KrepisContext, todo: Todo): Promise<void>;
  /** Deletes a todo; returns whether it existed. */
  remove(ctx: KrepisContext, id: string): Promise<boolean>;
}

/**
 * The todo repository port. Its write methods are named in the type too, so a query that
 * tried to call `save` or `remove` would not compile (and would throw at run time).
 */
export const TodoRepositoryPort = definePort<TodoRepository, "save" | "remove">(
  "todos",
  { writes: ["save", "remove"] },
);

/** Reads the time. */
export interface Clock {
  /** Current time in epoch milliseconds. */
  now(ctx: KrepisContext): number;
}

/** The clock port. */
export const ClockPort = definePort<Clock>("clock", { writes: [] });

/** Makes new identifiers. */
export interface IdGenerator {
  /** A new unique id. */
  next(ctx: KrepisContext): string;
}

/** The id generator port. */
export const IdGeneratorPort = definePort<IdGenerator>("ids", { writes: [] });

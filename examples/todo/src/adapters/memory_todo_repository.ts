/**
 * An in-memory `TodoRepository`. The storage work swaps in a KV-backed adapter behind the
 * same port; nothing above the port changes.
 *
 * @module
 */

import type { KrepisContext } from "@krepis/core";
import type { TodoRepository } from "../ports/todo_ports.ts";
import { selectTodos, type Todo, type TodoFilter } from "../domain/todo.ts";

// The port is asynchronous (a store may do I/O); an in-memory write has nothing to wait
// for, so its settled answers are made once rather than per call.
const DONE = Promise.resolve();
const REMOVED = Promise.resolve(true);
const ABSENT = Promise.resolve(false);

/** Keeps todos in a `Map`; one instance per app (register it as a singleton). */
export class InMemoryTodoRepository implements TodoRepository {
  #todos = new Map<string, Todo>();

  /** The todo with `id`, or `undefined`. */
  get(_ctx: KrepisContext, id: string): Promise<Todo | undefined> {
    return Promise.resolve(this.#todos.get(id));
  }

  /** Todos matching `filter`, oldest first. */
  list(_ctx: KrepisContext, filter: TodoFilter): Promise<Todo[]> {
    return Promise.resolve(selectTodos(this.#todos.values(), filter));
  }

  /** Inserts or replaces a todo (refused once the operation is cancelled). */
  save(ctx: KrepisContext, todo: Todo): Promise<void> {
    ctx.signal.throwIfAborted();
    this.#todos.set(todo.id, todo);
    return DONE;
  }

  /** Deletes a todo; returns whether it existed. */
  remove(ctx: KrepisContext, id: string): Promise<boolean> {
    ctx.signal.throwIfAborted();
    return this.#todos.delete(id) ? REMOVED : ABSENT;
  }
}

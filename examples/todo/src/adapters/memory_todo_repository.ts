/**
 * An in-memory `TodoRepository`. The storage work swaps in a KV-backed adapter behind the
 * same port; nothing above the port changes.
 *
 * @module
 */

import type { KrepisContext } from "@krepis/core";
import type { TodoRepository } from "../ports/todo_ports.ts";
import { selectTodos, type Todo, type TodoFilter } from "../domain/todo.ts";

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
    return Promise.resolve();
  }

  /** Deletes a todo; returns whether it existed. */
  remove(ctx: KrepisContext, id: string): Promise<boolean> {
    ctx.signal.throwIfAborted();
    return Promise.resolve(this.#todos.delete(id));
  }
}

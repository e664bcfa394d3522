/**
 * A `TodoRepository` on the embedded Krepis KV store: todos survive restarts with no
 * database server. `main.ts` uses it by default; tests keep the in-memory adapter.
 *
 * Layout: `["todos", id]` → the todo. Listing reads the `["todos"]` prefix and orders with
 * the domain's `selectTodos`, which is plenty for a todo list; a larger data set would add
 * an index key such as `["todos_by_created", createdAt, id]`.
 *
 * @module
 */

import type { KrepisContext } from "@krepis/core";
import type { Kv } from "@krepis/core/storage";
import type { TodoRepository } from "../ports/todo_ports.ts";
import { selectTodos, type Todo, type TodoFilter } from "../domain/todo.ts";

const PREFIX = "todos";

/** Stores todos in a KV store; one instance per app (register it as a singleton). */
export class KvTodoRepository implements TodoRepository {
  #kv: Kv;

  /** Uses `kv` (opened with `openKv`); the caller closes it. */
  constructor(kv: Kv) {
    this.#kv = kv;
  }

  /** The todo with `id`, or `undefined`. */
  async get(_ctx: KrepisContext, id: string): Promise<Todo | undefined> {
    return (await this.#kv.get<Todo>([PREFIX, id])).value ?? undefined;
  }

  /** Todos matching `filter`, oldest first. */
  async list(_ctx: KrepisContext, filter: TodoFilter): Promise<Todo[]> {
    const todos: Todo[] = [];
    for await (const entry of this.#kv.list<Todo>({ prefix: [PREFIX] })) {
      todos.push(entry.value);
    }
    return selectTodos(todos, filter);
  }

  /** Inserts or replaces a todo (refused once the operation is cancelled). */
  async save(ctx: KrepisContext, todo: Todo): Promise<void> {
    ctx.signal.throwIfAborted();
    await this.#kv.set([PREFIX, todo.id], todo);
  }

  /** Deletes a todo; returns whether it existed. The check and the delete are atomic. */
  async remove(ctx: KrepisContext, id: string): Promise<boolean> {
    for (;;) {
      ctx.signal.throwIfAborted();
      const current = await this.#kv.get([PREFIX, id]);
      if (current.versionstamp === null) return false;
      const result = await this.#kv.atomic().check(current).delete([PREFIX, id])
        .commit();
      if (result.ok) return true;
    }
  }
}

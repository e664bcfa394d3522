/**
 * Queries of the todo application. They receive read-only views of their ports: a write
 * here would raise a CQS violation.
 *
 * @module
 */

import { AppError, defineQuery, err, ok } from "@krepis/core";
import { z } from "zod";
import { TodoRepositoryPort } from "../../ports/todo_ports.ts";
import { ListTodosInput, TodoId, TodoSchema } from "../schemas.ts";

/** Fetches one todo. */
export const getTodoQuery = defineQuery({
  name: "getTodo",
  description: "Fetch one todo",
  input: TodoId,
  output: TodoSchema,
  deps: { todos: TodoRepositoryPort },
  async handle(ctx, input, { todos }) {
    const todo = await todos.get(ctx, input.id);
    return todo
      ? ok(todo)
      : err(new AppError("NOT_FOUND", `no todo with id "${input.id}"`));
  },
});

/** Lists todos, optionally only done or open ones. */
export const listTodosQuery = defineQuery({
  name: "listTodos",
  description: "List todos, oldest first",
  input: ListTodosInput,
  output: z.array(TodoSchema),
  deps: { todos: TodoRepositoryPort },
  async handle(ctx, input, { todos }) {
    return ok(await todos.list(ctx, input));
  },
});

/**
 * Input and output schemas of the todo operations (zod; any Standard Schema library works).
 *
 * @module
 */

import { z } from "zod";
import { MAX_TITLE } from "../domain/todo.ts";

/** A todo as returned by the API. */
export const TodoSchema = z.object({
  id: z.string(),
  title: z.string(),
  done: z.boolean(),
  createdAt: z.number().int(),
  completedAt: z.number().int().optional(),
});

/** A todo id taken from the path. */
export const TodoId = z.object({ id: z.string().min(1).max(64) });

/** Input of `createTodo`. */
export const CreateTodoInput = z.object({
  title: z.string().max(MAX_TITLE * 2),
});

/** Input of `renameTodo`. */
export const RenameTodoInput = TodoId.extend({
  title: z.string().max(MAX_TITLE * 2),
});

/** Input of `listTodos`: query-string values arrive as strings. */
export const ListTodosInput = z.object({
  done: z.enum(["true", "false"]).transform((v) => v === "true").optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

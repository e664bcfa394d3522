/**
 * The same two todo endpoints written by hand with Hono, reusing the example's domain
 * functions, schemas and in-memory repository — no context, tracing, timeout or CQS
 * enforcement. Served on `Deno.serve` by `todo_hono.ts`; called in-process by
 * `bench/js_path.ts`.
 *
 * @module
 */

import { AppError, createContext, type LogSink } from "@krepis/core";
import { type Context, Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { z } from "zod";
import { InMemoryTodoRepository } from "../../../../examples/todo/src/adapters/memory_todo_repository.ts";
import {
  CreateTodoInput,
  TodoId,
} from "../../../../examples/todo/src/application/schemas.ts";
import { createTodo } from "../../../../examples/todo/src/domain/todo.ts";

// The repository's port takes a context; one shared context stands in for "none".
const silent: LogSink = { level: "silent", write() {} };
const ctx = createContext({ log: silent });
const repo = new InMemoryTodoRepository();
const seed = createTodo(crypto.randomUUID(), "seed", Date.now());
if (!seed.ok) throw seed.error;
await repo.save(ctx, seed.value);
/** The id of the todo the repository starts with. */
export const seededId: string = seed.value.id;

// Answers as the Krepis app does: the same status codes and the same error bodies
// (`{ error: AppError.toJSON() }`, validation issues as `{ path, message }`).
const fail = (c: Context, error: AppError) =>
  c.json({ error: error.toJSON() }, error.status as ContentfulStatusCode);
const invalid = (
  c: Context,
  name: string,
  issues: readonly z.core.$ZodIssue[],
) =>
  fail(
    c,
    new AppError("INVALID_INPUT", `invalid input for "${name}"`, {
      details: {
        issues: issues.map((i) => ({
          path: i.path.map(String).join("."),
          message: i.message,
        })),
      },
    }),
  );

/** The Hono app: `GET /todos/:id` and `POST /todos`. */
export const app: Hono = new Hono();
app.get("/todos/:id", async (c) => {
  const input = TodoId.safeParse({ id: c.req.param("id") });
  if (!input.success) return invalid(c, "getTodo", input.error.issues);
  const todo = await repo.get(ctx, input.data.id);
  return todo ? c.json(todo) : fail(
    c,
    new AppError("NOT_FOUND", `no todo with id "${input.data.id}"`),
  );
});
app.post("/todos", async (c) => {
  const input = CreateTodoInput.safeParse(await c.req.json());
  if (!input.success) return invalid(c, "createTodo", input.error.issues);
  const todo = createTodo(crypto.randomUUID(), input.data.title, Date.now());
  if (!todo.ok) return fail(c, todo.error);
  await repo.save(ctx, todo.value);
  return c.json(todo.value, 201);
});

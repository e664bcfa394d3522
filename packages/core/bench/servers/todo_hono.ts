/**
 * Benchmark server: the same two todo endpoints written by hand with Hono on `Deno.serve`,
 * reusing the example's domain functions, schemas and in-memory repository — no context,
 * tracing, timeout or CQS enforcement. Prints `PORT <n> ID <id>`.
 *
 * @module
 */

import { createContext, type LogSink } from "@krepis/core";
import { Hono } from "hono";
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

const app = new Hono();
app.get("/todos/:id", async (c) => {
  const input = TodoId.safeParse({ id: c.req.param("id") });
  if (!input.success) return c.json({ error: input.error.issues }, 400);
  const todo = await repo.get(ctx, input.data.id);
  return todo ? c.json(todo) : c.json({ error: "not found" }, 404);
});
app.post("/todos", async (c) => {
  const input = CreateTodoInput.safeParse(await c.req.json());
  if (!input.success) return c.json({ error: input.error.issues }, 400);
  const todo = createTodo(crypto.randomUUID(), input.data.title, Date.now());
  if (!todo.ok) return c.json({ error: todo.error.message }, 422);
  await repo.save(ctx, todo.value);
  return c.json(todo.value, 201);
});

Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(`PORT ${port} ID ${seed.value.id}`),
}, app.fetch);

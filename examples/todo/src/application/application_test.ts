import assert from "node:assert/strict";
import { provide } from "@krepis/core";
import { memorySink } from "@krepis/core/testing";
import { createTodoApp } from "../app.ts";
import {
  completeTodoCommand,
  createTodoCommand,
  deleteTodoCommand,
  renameTodoCommand,
} from "./commands/todo_commands.ts";
import { ClockPort, IdGeneratorPort } from "../ports/todo_ports.ts";
import { getTodoQuery, listTodosQuery } from "./queries/todo_queries.ts";

function testApp() {
  let now = 1_000;
  let id = 0;
  const app = createTodoApp({
    log: memorySink(),
    overrides: [
      provide(ClockPort, { now: () => now }),
      provide(IdGeneratorPort, { next: () => `todo-${++id}` }),
    ],
  });
  return { app, tick: (ms: number) => (now += ms) };
}

Deno.test("the todo lifecycle runs through commands and queries", async () => {
  const { app, tick } = testApp();
  const ctx = app.context();
  const created = await app.execute(ctx, createTodoCommand, {
    title: " write tests ",
  });
  assert.deepEqual(created, {
    ok: true,
    value: {
      id: "todo-1",
      title: "write tests",
      done: false,
      createdAt: 1_000,
    },
  });
  tick(5);
  await app.execute(ctx, createTodoCommand, { title: "ship" });
  const renamed = await app.execute(ctx, renameTodoCommand, {
    id: "todo-2",
    title: "ship it",
  });
  assert.ok(renamed.ok && renamed.value.title === "ship it");
  tick(10);
  const done = await app.execute(ctx, completeTodoCommand, { id: "todo-1" });
  assert.ok(done.ok && done.value.completedAt === 1_015);

  const open = await app.execute(ctx, listTodosQuery, { done: "false" });
  assert.ok(open.ok);
  assert.deepEqual(open.value.map((t) => t.id), ["todo-2"]);
  const all = await app.execute(ctx, listTodosQuery, {});
  assert.ok(all.ok && all.value.length === 2);

  assert.ok((await app.execute(ctx, deleteTodoCommand, { id: "todo-2" })).ok);
  const gone = await app.execute(ctx, getTodoQuery, { id: "todo-2" });
  assert.ok(!gone.ok && gone.error.code === "NOT_FOUND");
});

Deno.test("domain rules and missing todos surface as typed errors", async () => {
  const { app } = testApp();
  const ctx = app.context();
  const blank = await app.execute(ctx, createTodoCommand, { title: "   " });
  assert.ok(!blank.ok && blank.error.code === "UNPROCESSABLE");
  const missing = await app.execute(ctx, completeTodoCommand, { id: "nope" });
  assert.ok(!missing.ok && missing.error.status === 404);
  const once = await app.execute(ctx, createTodoCommand, { title: "once" });
  assert.ok(once.ok);
  assert.ok(
    (await app.execute(ctx, completeTodoCommand, { id: once.value.id })).ok,
  );
  const twice = await app.execute(ctx, completeTodoCommand, {
    id: once.value.id,
  });
  assert.ok(!twice.ok && twice.error.code === "CONFLICT");
  const badLimit = await app.execute(ctx, listTodosQuery, { limit: "0" });
  assert.ok(!badLimit.ok && badLimit.error.code === "INVALID_INPUT");
});

Deno.test("a cancelled operation writes nothing", async () => {
  const { app } = testApp();
  const aborted = AbortSignal.abort();
  const r = await app.execute(
    app.context({ signal: aborted }),
    createTodoCommand,
    { title: "x" },
  );
  assert.ok(!r.ok && r.error.code === "CANCELLED");
  const all = await app.execute(app.context(), listTodosQuery, {});
  assert.ok(all.ok && all.value.length === 0);
});

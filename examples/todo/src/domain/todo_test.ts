import assert from "node:assert/strict";
import {
  cleanTitle,
  completeTodo,
  createTodo,
  MAX_TITLE,
  renameTodo,
  selectTodos,
  type Todo,
} from "./todo.ts";

const open: Todo = { id: "a", title: "write", done: false, createdAt: 10 };

Deno.test("titles are trimmed, collapsed and bounded", () => {
  assert.deepEqual(cleanTitle("  buy   oat milk \n"), {
    ok: true,
    value: "buy oat milk",
  });
  const empty = cleanTitle("   ");
  assert.ok(!empty.ok && empty.error.code === "UNPROCESSABLE");
  assert.ok(cleanTitle("x".repeat(MAX_TITLE)).ok);
  assert.ok(!cleanTitle("x".repeat(MAX_TITLE + 1)).ok);
});

Deno.test("createTodo builds an open todo or refuses a bad title", () => {
  assert.deepEqual(createTodo("t1", " plan ", 5), {
    ok: true,
    value: { id: "t1", title: "plan", done: false, createdAt: 5 },
  });
  assert.ok(!createTodo("t1", "", 5).ok);
});

Deno.test("completing twice and renaming a done todo are conflicts", () => {
  const done = completeTodo(open, 20);
  assert.deepEqual(done, {
    ok: true,
    value: { ...open, done: true, completedAt: 20 },
  });
  assert.ok(done.ok);
  const again = completeTodo(done.value, 30);
  assert.ok(!again.ok && again.error.code === "CONFLICT");
  const rename = renameTodo(done.value, "new");
  assert.ok(!rename.ok && rename.error.status === 409);
  assert.deepEqual(renameTodo(open, " edit "), {
    ok: true,
    value: { ...open, title: "edit" },
  });
  assert.equal(open.title, "write", "inputs are never mutated");
});

Deno.test("selectTodos filters, orders oldest first and limits", () => {
  const todos: Todo[] = [
    { id: "c", title: "c", done: true, createdAt: 3 },
    { id: "b", title: "b", done: false, createdAt: 1 },
    { id: "a", title: "a", done: false, createdAt: 1 },
  ];
  assert.deepEqual(selectTodos(todos).map((t) => t.id), ["a", "b", "c"]);
  assert.deepEqual(selectTodos(todos, { done: true }).map((t) => t.id), ["c"]);
  assert.deepEqual(
    selectTodos(todos, { done: false, limit: 1 }).map((t) => t.id),
    ["a"],
  );
});

/**
 * An unmodified Hono app served through `serve(app.fetch)`: routes, params, JSON,
 * middleware, errors and not-found.
 */

import assert from "node:assert/strict";
import { Hono } from "npm:hono@^4";
import { HTTPException } from "npm:hono@^4/http-exception";
import { base, listen } from "./_test_util.ts";

function app(): Hono {
  const app = new Hono();
  const todos = new Map<number, { id: number; title: string }>();
  app.use("*", async (c, next) => {
    const started = Date.now();
    await next();
    c.header("x-took", String(Date.now() - started));
  });
  app.use("/admin/*", async (c, next) => {
    if (c.req.header("authorization") !== "Bearer ok") {
      return c.json({ error: "unauthorized" }, 401);
    }
    await next();
  });
  app.get("/", (c) => c.text("Hono on Krepis"));
  app.get(
    "/users/:id/posts/:post",
    (c) =>
      c.json({
        user: c.req.param("id"),
        post: c.req.param("post"),
        q: c.req.query("q"),
      }),
  );
  app.post("/todos", async (c) => {
    const body = await c.req.json<{ title?: string }>();
    if (!body.title) {
      throw new HTTPException(422, { message: "title is required" });
    }
    const todo = { id: todos.size + 1, title: body.title };
    todos.set(todo.id, todo);
    return c.json(todo, 201);
  });
  app.get("/todos/:id{[0-9]+}", (c) => {
    const todo = todos.get(Number(c.req.param("id")));
    return todo ? c.json(todo) : c.notFound();
  });
  app.get("/admin/stats", (c) => c.json({ todos: todos.size }));
  app.get("/boom", () => {
    throw new Error("internal detail");
  });
  app.onError((err, c) => {
    if (err instanceof HTTPException) {
      return c.json({ error: err.message }, err.status);
    }
    return c.json({ error: "something went wrong" }, 500);
  });
  app.notFound((c) => c.json({ error: "no route" }, 404));
  return app;
}

Deno.test("a Hono app runs unchanged through serve(app.fetch)", async () => {
  await using server = await listen(app().fetch);
  const url = base(server);

  const root = await fetch(url);
  assert.equal(await root.text(), "Hono on Krepis");
  assert.ok(root.headers.has("x-took"), "middleware ran");

  const params = await fetch(`${url}/users/7/posts/abc?q=search`);
  assert.deepEqual(await params.json(), {
    user: "7",
    post: "abc",
    q: "search",
  });

  const created = await fetch(`${url}/todos`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ title: "write tests" }),
  });
  assert.equal(created.status, 201);
  assert.deepEqual(await created.json(), { id: 1, title: "write tests" });

  const fetched = await fetch(`${url}/todos/1`);
  assert.deepEqual(await fetched.json(), { id: 1, title: "write tests" });

  const invalid = await fetch(`${url}/todos`, { method: "POST", body: "{}" });
  assert.equal(invalid.status, 422);
  assert.deepEqual(await invalid.json(), { error: "title is required" });

  const denied = await fetch(`${url}/admin/stats`);
  assert.equal(denied.status, 401);
  await denied.body?.cancel();
  const allowed = await fetch(`${url}/admin/stats`, {
    headers: { authorization: "Bearer ok" },
  });
  assert.deepEqual(await allowed.json(), { todos: 1 });

  const boom = await fetch(`${url}/boom`);
  assert.equal(boom.status, 500);
  assert.deepEqual(await boom.json(), { error: "something went wrong" });

  const missing = await fetch(`${url}/todos/x`);
  assert.equal(missing.status, 404);
  assert.deepEqual(await missing.json(), { error: "no route" });
});

import assert from "node:assert/strict";
import { createContext, provide } from "@krepis/core";
import { openKv } from "@krepis/core/storage";
import { memorySink } from "@krepis/core/testing";
import { createTodoApp } from "../app.ts";
import { IdGeneratorPort, TodoRepositoryPort } from "../ports/todo_ports.ts";
import { KvTodoRepository } from "./kv_todo_repository.ts";

const ctx = createContext({ log: memorySink() });
const todo = (id: string, createdAt: number, done = false) => ({
  id,
  title: `todo ${id}`,
  done,
  createdAt,
});

Deno.test("the KV repository stores, lists, filters and removes todos", async () => {
  const dir = await Deno.makeTempDir({ prefix: "krepis-todo-kv-" });
  try {
    using kv = await openKv(dir);
    const repo = new KvTodoRepository(kv);
    await repo.save(ctx, todo("b", 2));
    await repo.save(ctx, todo("a", 1, true));
    await repo.save(ctx, todo("c", 3));
    assert.deepEqual(await repo.get(ctx, "a"), todo("a", 1, true));
    assert.equal(await repo.get(ctx, "zz"), undefined);
    const ids = async (filter = {}) =>
      (await repo.list(ctx, filter)).map((t) => t.id);
    assert.deepEqual(await ids(), ["a", "b", "c"]);
    assert.deepEqual(await ids({ done: false, limit: 1 }), ["b"]);
    assert.equal(await repo.remove(ctx, "b"), true);
    assert.equal(await repo.remove(ctx, "b"), false);
    assert.deepEqual(await ids(), ["a", "c"]);
    const aborted = new AbortController();
    aborted.abort();
    await assert.rejects(
      repo.save(createContext({ signal: aborted.signal }), todo("d", 4)),
    );
    assert.equal(await repo.get(ctx, "d"), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("todos created over HTTP survive an app restart on the same store", async () => {
  const dir = await Deno.makeTempDir({ prefix: "krepis-todo-kv-" });
  let id = 0;
  const run = async (fn: (base: string) => Promise<void>) => {
    using kv = await openKv(dir);
    const app = createTodoApp({
      log: memorySink(),
      overrides: [
        provide(TodoRepositoryPort, new KvTodoRepository(kv)),
        provide(IdGeneratorPort, { next: () => `t${++id}` }),
      ],
    });
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      app.fetch,
    );
    try {
      await fn(`http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`);
    } finally {
      await server.shutdown();
    }
  };
  try {
    await run(async (base) => {
      for (const title of ["buy milk", "walk dog"]) {
        const res = await fetch(`${base}/todos`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ title }),
        });
        assert.equal(res.status, 201);
        await res.body?.cancel();
      }
    });
    await run(async (base) => {
      const res = await fetch(`${base}/todos`);
      const todos = await res.json();
      assert.deepEqual(todos.map((t: { title: string }) => t.title), [
        "buy milk",
        "walk dog",
      ]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

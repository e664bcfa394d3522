import assert from "node:assert/strict";
import { provide } from "@krepis/core";
import { memorySink } from "@krepis/core/testing";
import { createTodoApp } from "./src/app.ts";
import { IdGeneratorPort } from "./src/ports/todo_ports.ts";

/** Serves a fresh todo app on the Krepis kernel, on an ephemeral 127.0.0.1 port. */
async function start() {
  const sink = memorySink();
  let id = 0;
  const app = createTodoApp({
    log: sink,
    overrides: [provide(IdGeneratorPort, { next: () => `t${++id}` })],
  });
  const server = await app.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  return { base, server, sink };
}

async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    json: text ? JSON.parse(text) : undefined,
  };
}

Deno.test("todo API end to end over real HTTP", async () => {
  const { base, server, sink } = await start();
  try {
    const created = await call(base, "POST", "/todos", { title: "buy milk" });
    assert.equal(created.status, 201);
    assert.equal(created.json.id, "t1");
    assert.equal(created.json.done, false);
    await call(base, "POST", "/todos", { title: "walk dog" });

    const renamed = await call(base, "PATCH", "/todos/t2", {
      title: "walk the dog",
    });
    assert.equal(renamed.status, 200);
    assert.equal(renamed.json.title, "walk the dog");

    const done = await call(base, "POST", "/todos/t1/complete");
    assert.equal(done.status, 200);
    assert.equal(done.json.done, true);
    const twice = await call(base, "POST", "/todos/t1/complete");
    assert.equal(twice.status, 409);
    assert.equal(twice.json.error.code, "CONFLICT");

    const open = await call(base, "GET", "/todos?done=false");
    assert.deepEqual(open.json.map((t: { id: string }) => t.id), ["t2"]);
    const limited = await call(base, "GET", "/todos?limit=1");
    assert.equal(limited.json.length, 1);

    assert.equal(
      (await call(base, "GET", "/todos/t2")).json.title,
      "walk the dog",
    );
    assert.equal((await call(base, "DELETE", "/todos/t2")).status, 204);
    assert.equal((await call(base, "GET", "/todos/t2")).status, 404);
    assert.equal((await call(base, "DELETE", "/todos/t2")).status, 404);

    const invalid = await call(base, "POST", "/todos", { title: 42 });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.json.error.details.issues[0].path, "title");
    const blank = await call(base, "POST", "/todos", { title: "  " });
    assert.equal(blank.status, 422);
    assert.equal((await call(base, "PUT", "/todos/t1")).status, 405);
    assert.equal((await call(base, "GET", "/nothing")).status, 404);

    const created2 = sink.records().find((r) => r.msg === "todo created");
    assert.ok(created2, "the command logged through its context");
    assert.match(String(created2.traceId), /^[0-9a-f]{32}$/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("the todo API publishes its OpenAPI document", async () => {
  const { base, server } = await start();
  try {
    const { status, json: doc } = await call(base, "GET", "/openapi.json");
    assert.equal(status, 200);
    assert.equal(doc.openapi, "3.1.0");
    assert.deepEqual(Object.keys(doc.paths).sort(), [
      "/todos",
      "/todos/{id}",
      "/todos/{id}/complete",
    ]);
    assert.deepEqual(Object.keys(doc.paths["/todos/{id}"]).sort(), [
      "delete",
      "get",
      "patch",
    ]);
    const create = doc.paths["/todos"].post;
    assert.equal(create.operationId, "createTodo");
    assert.deepEqual(
      create.requestBody.content["application/json"].schema.required,
      ["title"],
    );
    assert.ok(
      create.responses["201"].content["application/json"].schema.properties.id,
    );
    const list = doc.paths["/todos"].get;
    assert.deepEqual(list.parameters.map((p: { name: string }) => p.name), [
      "done",
      "limit",
    ]);
  } finally {
    await server.shutdown();
  }
});

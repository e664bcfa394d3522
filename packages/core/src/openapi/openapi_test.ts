import assert from "node:assert/strict";
import { toStandardJsonSchema } from "@valibot/to-json-schema";
import { type } from "arktype";
import * as v from "valibot";
import { z } from "zod";
import { defineCommand, defineQuery } from "../cqs/handler.ts";
import { ok } from "../result/result.ts";
import { route } from "../router/route.ts";
import { buildOpenApi } from "./document.ts";
import { jsonSchemaOf } from "./json_schema.ts";

const Todo = z.object({ id: z.string(), title: z.string(), done: z.boolean() });
const getTodo = defineQuery({
  name: "getTodo",
  description: "Fetch one todo",
  input: z.object({ id: z.string().uuid() }),
  output: Todo,
  handle: () => ok({ id: "1", title: "t", done: false }),
});
const listTodos = defineQuery({
  name: "listTodos",
  input: z.object({
    done: z.enum(["true", "false"]).optional(),
    limit: z.coerce.number(),
  }),
  handle: () => ok([]),
});
const renameTodo = defineCommand({
  name: "renameTodo",
  input: toStandardJsonSchema(
    v.object({ id: v.string(), title: v.pipe(v.string(), v.minLength(1)) }),
  ),
  handle: () => ok(undefined),
});

Deno.test("jsonSchemaOf converts zod and valibot schemas, and tolerates others", () => {
  const z1 = jsonSchemaOf(z.object({ a: z.string() }), "input");
  assert.deepEqual(z1, {
    type: "object",
    properties: { a: { type: "string" } },
    required: ["a"],
  });
  const v1 = jsonSchemaOf(
    toStandardJsonSchema(v.object({ a: v.number() })),
    "input",
  );
  assert.equal(
    (v1?.properties as Record<string, { type: string }>).a.type,
    "number",
  );
  assert.equal(v1?.$schema, undefined, "the dialect marker is dropped");
  const a1 = jsonSchemaOf(type({ id: "string" }), "input");
  assert.deepEqual(
    a1?.required,
    ["id"],
    "arktype implements Standard JSON Schema natively",
  );
  assert.equal(
    jsonSchemaOf(v.object({}), "input"),
    undefined,
    "plain valibot has no converter",
  );
  assert.equal(jsonSchemaOf(undefined, "input"), undefined);
  // A type JSON Schema cannot express makes the converter throw; the route still documents.
  assert.equal(jsonSchemaOf(z.date(), "input"), undefined);
});

Deno.test("buildOpenApi describes paths, params, bodies and responses (3.1)", () => {
  const doc = buildOpenApi([
    route("GET", "/todos", listTodos),
    route("GET", "/todos/:id", getTodo),
    route("PATCH", "/todos/:id", renameTodo, { status: 204 }),
  ], { title: "Todos", version: "1.2.3" });
  assert.equal(doc.openapi, "3.1.0");
  assert.deepEqual(doc.info, { title: "Todos", version: "1.2.3" });
  // deno-lint-ignore no-explicit-any
  const paths = doc.paths as any;
  const get = paths["/todos/{id}"].get;
  assert.equal(get.operationId, "getTodo");
  assert.equal(get.summary, "Fetch one todo");
  assert.deepEqual(get.parameters, [{
    name: "id",
    in: "path",
    required: true,
    schema: get.parameters[0].schema,
  }]);
  assert.equal(get.parameters[0].schema.format, "uuid");
  assert.deepEqual(
    get.responses["200"].content["application/json"].schema.required,
    ["id", "title", "done"],
  );
  assert.ok(get.responses.default.content["application/json"].schema.$ref);

  const list = paths["/todos"].get;
  assert.deepEqual(
    list.parameters.map((p: { name: string; in: string; required: boolean }) =>
      `${p.in}:${p.name}:${p.required}`
    ),
    ["query:done:false", "query:limit:true"],
  );

  const patch = paths["/todos/{id}"].patch;
  const body = patch.requestBody.content["application/json"].schema;
  assert.deepEqual(
    Object.keys(body.properties),
    ["title"],
    "path params leave the body",
  );
  assert.deepEqual(body.required, ["title"]);
  assert.equal(patch.requestBody.required, true);
  assert.deepEqual(patch.responses["204"], { description: "No content" });
  assert.equal(patch["x-krepis-kind"], "command");
  assert.ok((doc.components as { schemas: object }).schemas);
});

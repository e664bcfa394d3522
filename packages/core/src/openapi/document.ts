/**
 * Builds an OpenAPI 3.1 document from routes and their handlers' schemas.
 *
 * @module
 */

import type { Route } from "../router/route.ts";
import { type JsonSchema, jsonSchemaOf } from "./json_schema.ts";

/**
 * Document metadata.
 *
 * @example
 * ```ts
 * import type { OpenApiInfo } from "@krepis/core";
 * import { buildOpenApi } from "./document.ts";
 * const info: OpenApiInfo = { title: "Todos", version: "1.0.0", description: "A todo API" };
 * console.assert(buildOpenApi([], info).openapi === "3.1.0");
 * ```
 */
export interface OpenApiInfo {
  /** API title. */
  title: string;
  /** API version. */
  version: string;
  /** Longer description. */
  description?: string;
}

const ERROR_SCHEMA: JsonSchema = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      properties: {
        code: { type: "string" },
        message: { type: "string" },
        details: {},
      },
    },
  },
};

const ERROR_RESPONSE = {
  description: "Error",
  content: {
    "application/json": { schema: { $ref: "#/components/schemas/Error" } },
  },
};

const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);

function withoutKeys(schema: JsonSchema, keys: string[]): JsonSchema {
  const props = schema.properties as Record<string, JsonSchema> | undefined;
  if (!props || keys.length === 0) return schema;
  const properties = { ...props };
  for (const k of keys) delete properties[k];
  const required = (schema.required as string[] | undefined)?.filter((r) =>
    !keys.includes(r)
  );
  return { ...schema, properties, ...(required ? { required } : {}) };
}

function operationFor(route: Route): Record<string, unknown> {
  const handler = route.handler;
  const paramNames = [...route.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) =>
    m[1]
  );
  const input = jsonSchemaOf(handler.input, "input");
  const props = (input?.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((input?.required ?? []) as string[]);
  const parameters: Record<string, unknown>[] = paramNames.map((name) => ({
    name,
    in: "path",
    required: true,
    schema: props[name] ?? { type: "string" },
  }));
  const op: Record<string, unknown> = {
    operationId: handler.name,
    tags: [handler.kind === "command" ? "commands" : "queries"],
    "x-krepis-kind": handler.kind,
  };
  if (handler.description) op.summary = handler.description;
  if (input && BODY_METHODS.has(route.method)) {
    const body = route.input ? input : withoutKeys(input, paramNames);
    op.requestBody = {
      required: ((body.required as string[] | undefined)?.length ?? 0) > 0,
      content: { "application/json": { schema: body } },
    };
  } else if (input && !route.input) {
    for (const [name, schema] of Object.entries(props)) {
      if (paramNames.includes(name)) continue;
      parameters.push({
        name,
        in: "query",
        required: required.has(name),
        schema,
      });
    }
  }
  if (parameters.length) op.parameters = parameters;
  const status = String(route.status ?? 200);
  const output = jsonSchemaOf(handler.output, "output");
  op.responses = {
    [status]: status === "204" ? { description: "No content" } : {
      description: "Success",
      content: { "application/json": { schema: output ?? {} } },
    },
    ...(handler.input ? { "400": ERROR_RESPONSE } : {}),
    default: ERROR_RESPONSE,
  };
  return op;
}

/**
 * Generates the OpenAPI 3.1 document for `routes`.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { defineQuery, ok, route } from "@krepis/core";
 * import { buildOpenApi } from "./document.ts";
 * const getTodo = defineQuery({
 *   name: "getTodo",
 *   input: z.object({ id: z.string() }),
 *   handle: (_ctx, input) => ok(input),
 * });
 * const doc = buildOpenApi([route("GET", "/todos/:id", getTodo)], {
 *   title: "Todos",
 *   version: "1.0.0",
 * });
 * console.assert("/todos/{id}" in (doc.paths as object));
 * ```
 */
export function buildOpenApi(
  routes: readonly Route[],
  info: OpenApiInfo,
): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.path.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
    (paths[path] ??= {})[route.method.toLowerCase()] = operationFor(route);
  }
  return {
    openapi: "3.1.0",
    info,
    paths,
    components: { schemas: { Error: ERROR_SCHEMA } },
  };
}

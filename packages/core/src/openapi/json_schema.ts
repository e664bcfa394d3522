/**
 * JSON Schema from a Standard Schema, through the Standard JSON Schema interface
 * (`~standard.jsonSchema`) that zod 4 and arktype implement natively and valibot provides via
 * `toStandardJsonSchema` from `@valibot/to-json-schema`. No conversion is written here.
 *
 * @module
 */

import type { StandardJSONSchemaV1 } from "@standard-schema/spec";

/**
 * A JSON Schema document (draft 2020-12, the dialect of OpenAPI 3.1).
 *
 * @example
 * ```ts
 * import type { JsonSchema } from "./json_schema.ts";
 * const schema: JsonSchema = { type: "object", properties: { id: { type: "string" } } };
 * console.assert(schema.type === "object");
 * ```
 */
export type JsonSchema = Record<string, unknown>;

/**
 * Converts a schema's input or output type to JSON Schema, or returns `undefined` when the
 * schema library does not implement Standard JSON Schema or cannot express the type.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { jsonSchemaOf } from "./json_schema.ts";
 * const js = jsonSchemaOf(z.object({ title: z.string() }), "input");
 * console.assert(js?.type === "object");
 * ```
 */
export function jsonSchemaOf(
  schema: unknown,
  io: "input" | "output",
): JsonSchema | undefined {
  const converter = (schema as Partial<StandardJSONSchemaV1> | undefined)
    ?.["~standard"]?.jsonSchema;
  if (!converter) return undefined;
  try {
    const { $schema: _dialect, ...rest } = converter[io]({
      target: "draft-2020-12",
    });
    return rest;
  } catch {
    return undefined;
  }
}

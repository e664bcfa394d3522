/**
 * The schema interface handlers accept: Standard Schema v1, the interface shared by zod,
 * valibot, arktype and others. It is declared here, structurally identical to
 * `StandardSchemaV1` from `@standard-schema/spec` (as the spec invites libraries to do), so
 * the public API documents it; `cqs_test.ts` checks both directions of assignability.
 *
 * @module
 */

/**
 * One validation issue reported by a schema.
 *
 * @example
 * ```ts
 * import type { SchemaIssue } from "@krepis/core";
 * const issue: SchemaIssue = { message: "required", path: ["title"] };
 * console.assert(issue.path?.[0] === "title");
 * ```
 */
export interface SchemaIssue {
  /** The error message. */
  readonly message: string;
  /** Where in the value the issue is. */
  readonly path?:
    | ReadonlyArray<PropertyKey | { readonly key: PropertyKey }>
    | undefined;
}

/**
 * What a schema's `validate` returns.
 *
 * @example
 * ```ts
 * import type { SchemaResult } from "@krepis/core";
 * const good: SchemaResult<number> = { value: 1 };
 * const bad: SchemaResult<number> = { issues: [{ message: "not a number" }] };
 * console.assert(!good.issues && bad.issues.length === 1);
 * ```
 */
export type SchemaResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<SchemaIssue> };

/**
 * The `~standard` properties of a schema.
 *
 * @example
 * ```ts
 * import type { SchemaProps } from "@krepis/core";
 * import { z } from "zod";
 * const props: SchemaProps<string> = z.string()["~standard"];
 * console.assert(props.version === 1);
 * ```
 */
export interface SchemaProps<Input = unknown, Output = Input> {
  /** Version of the Standard Schema spec (1). */
  readonly version: 1;
  /** Name of the schema library. */
  readonly vendor: string;
  /** Validates an unknown value. */
  readonly validate: (
    value: unknown,
    options?: { readonly libraryOptions?: Record<string, unknown> } | undefined,
  ) => SchemaResult<Output> | Promise<SchemaResult<Output>>;
  /** Inferred types (type-level only). */
  readonly types?:
    | { readonly input: Input; readonly output: Output }
    | undefined;
}

/**
 * Any Standard Schema v1 validator.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import type { InputSchema } from "@krepis/core";
 * const schema: InputSchema<{ title: string }> = z.object({ title: z.string() });
 * console.assert(schema["~standard"].vendor === "zod");
 * ```
 */
export interface InputSchema<Input = unknown, Output = Input> {
  /** The Standard Schema properties. */
  readonly "~standard": SchemaProps<Input, Output>;
}

/**
 * The validated (output) type of a schema.
 *
 * @example
 * ```ts
 * import type { SchemaOutput } from "@krepis/core";
 * import { z } from "zod";
 * const Port = z.coerce.number();
 * const port: SchemaOutput<typeof Port> = 8080; // a number, though the input may be a string
 * console.assert(port === 8080);
 * ```
 */
export type SchemaOutput<S extends InputSchema> = NonNullable<
  S["~standard"]["types"]
>["output"];

/**
 * The accepted (input) type of a schema.
 *
 * @example
 * ```ts
 * import type { SchemaInput } from "@krepis/core";
 * import { z } from "zod";
 * const Body = z.object({ tags: z.array(z.string()).default([]) });
 * const raw: SchemaInput<typeof Body> = {}; // tags may be omitted on input
 * console.assert(raw.tags === undefined);
 * ```
 */
export type SchemaInput<S extends InputSchema> = NonNullable<
  S["~standard"]["types"]
>["input"];

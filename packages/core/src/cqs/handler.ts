/**
 * Commands and queries: named handlers with an input schema (any Standard Schema validator:
 * zod, valibot, arktype, ...), declared port dependencies and a handler returning a `Result`.
 * Commands may change state; queries receive read-only views of their ports.
 *
 * @module
 */

import type { StandardSchemaV1 } from "@standard-schema/spec";
import type { KrepisContext } from "../context/context.ts";
import type { Port } from "../di/port.ts";
import type { Result } from "../result/result.ts";

/**
 * Whether a handler changes state (`command`) or only reads (`query`).
 *
 * @example
 * ```ts
 * import { defineQuery, type HandlerKind, ok } from "@krepis/core";
 * const kind: HandlerKind = defineQuery({ name: "q", handle: () => ok(1) }).kind;
 * console.assert(kind === "query");
 * ```
 */
export type HandlerKind = "command" | "query";

/**
 * The ports a handler depends on, by the name it receives them under.
 *
 * @example
 * ```ts
 * import { definePort, type DepsSpec, type KrepisContext } from "@krepis/core";
 * const Clock = definePort<{ now(ctx: KrepisContext): number }>("clock", { writes: [] });
 * const deps: DepsSpec = { clock: Clock };
 * console.assert(deps.clock === Clock);
 * ```
 */
export type DepsSpec = Record<string, Port<object, string>>;

/**
 * The adapter instances a handler receives for its {@linkcode DepsSpec}.
 *
 * @example
 * ```ts
 * import { createContext, definePort, type KrepisContext, type ResolvedDeps } from "@krepis/core";
 * const Clock = definePort<{ now(ctx: KrepisContext): number }>("clock", { writes: [] });
 * const resolved: ResolvedDeps<{ clock: typeof Clock }> = { clock: { now: () => 0 } };
 * console.assert(resolved.clock.now(createContext()) === 0);
 * ```
 */
export type ResolvedDeps<D extends DepsSpec> = {
  [K in keyof D]: D[K] extends Port<infer T, string> ? T : never;
};

/**
 * What a query receives for its {@linkcode DepsSpec}: each port's interface without the
 * write methods named in the port's type (`definePort<T, "save">`); ports that name them
 * only at run time are passed whole and guarded by read-only views.
 *
 * @example
 * ```ts
 * import { definePort, type KrepisContext, type QueryDeps } from "@krepis/core";
 * interface Store { get(ctx: KrepisContext): number; set(ctx: KrepisContext, n: number): void }
 * const StorePort = definePort<Store, "set">("store", { writes: ["set"] });
 * const deps: QueryDeps<{ store: typeof StorePort }> = { store: { get: () => 1 } };
 * // @ts-expect-error: a query's view of the port has no write method
 * deps.store.set;
 * ```
 */
export type QueryDeps<D extends DepsSpec> = {
  [K in keyof D]: D[K] extends Port<infer T, infer W>
    ? string extends W ? T : Omit<T, W>
    : never;
};

/**
 * The handler input type for an optional schema: its output type, or `undefined`.
 *
 * @example
 * ```ts
 * import type { InputOf } from "@krepis/core";
 * import { z } from "zod";
 * const Schema = z.object({ id: z.string() });
 * const input: InputOf<typeof Schema> = { id: "1" };
 * const none: InputOf<undefined> = undefined;
 * console.assert(input.id === "1" && none === undefined);
 * ```
 */
export type InputOf<S> = S extends StandardSchemaV1
  ? StandardSchemaV1.InferOutput<S>
  : undefined;

/**
 * What `defineCommand` / `defineQuery` take.
 *
 * @example
 * ```ts
 * import { defineCommand, type HandlerSpec, ok } from "@krepis/core";
 * import { z } from "zod";
 * const Input = z.object({ n: z.number() });
 * const spec: HandlerSpec<typeof Input, number, Record<never, never>> = {
 *   name: "double",
 *   input: Input,
 *   handle: (_ctx, input) => ok(input.n * 2),
 * };
 * console.assert(defineCommand(spec).kind === "command");
 * ```
 */
export interface HandlerSpec<
  S extends StandardSchemaV1 | undefined,
  O,
  D extends DepsSpec,
  R = ResolvedDeps<D>,
> {
  /** Unique name; used in logs, errors, routes and as the OpenAPI operationId. */
  name: string;
  /** One-line description (OpenAPI summary). */
  description?: string;
  /** Validates and transforms the raw input; without it the handler receives `undefined`. */
  input?: S;
  /** Describes the success value for OpenAPI (not validated at run time). */
  output?: StandardSchemaV1<unknown, O>;
  /** Ports to inject, by name. */
  deps?: D;
  /** Names of pipeline behaviors this handler opts out of (e.g. `["auth"]`). */
  skip?: readonly string[];
  /** Overrides the timeout behavior's limit for this handler, in milliseconds. */
  timeoutMs?: number;
  /** The logic: gets the context, the validated input and the resolved ports. */
  handle(
    ctx: KrepisContext,
    input: InputOf<S>,
    deps: R,
  ): Result<O> | Promise<Result<O>>;
}

/**
 * A defined command or query.
 *
 * @example
 * ```ts
 * import { defineQuery, type Handler, ok } from "@krepis/core";
 * const ping: Handler<undefined, string> = defineQuery({ name: "ping", handle: () => ok("pong") });
 * console.assert(ping.name === "ping");
 * ```
 */
export interface Handler<
  S extends StandardSchemaV1 | undefined = StandardSchemaV1 | undefined,
  O = unknown,
  D extends DepsSpec = DepsSpec,
  R = ResolvedDeps<D>,
> extends Readonly<HandlerSpec<S, O, D, R>> {
  /** `command` or `query`. */
  readonly kind: HandlerKind;
  /** The declared dependencies (empty when none). */
  readonly deps: D;
  /** The opted-out behaviors (empty when none). */
  readonly skip: readonly string[];
}

/**
 * Any handler, whatever its types.
 *
 * @example
 * ```ts
 * import { type AnyHandler, defineCommand, defineQuery, ok } from "@krepis/core";
 * const all: AnyHandler[] = [
 *   defineQuery({ name: "a", handle: () => ok(1) }),
 *   defineCommand({ name: "b", handle: () => ok("x") }),
 * ];
 * console.assert(all.length === 2);
 * ```
 */
// deno-lint-ignore no-explicit-any
export type AnyHandler = Handler<any, any, any, any>;

/**
 * The success type of a handler.
 *
 * @example
 * ```ts
 * import { defineQuery, ok, type OutputOf } from "@krepis/core";
 * const count = defineQuery({ name: "count", handle: () => ok({ n: 3 }) });
 * const out: OutputOf<typeof count> = { n: 3 };
 * console.assert(out.n === 3);
 * ```
 */
export type OutputOf<H> = H extends
  Handler<infer _S, infer O, infer _D, infer _R> ? O
  : never;

/**
 * The raw input a caller passes for a handler (the schema's input type).
 *
 * @example
 * ```ts
 * import { defineQuery, ok, type RawInputOf } from "@krepis/core";
 * import { z } from "zod";
 * const page = defineQuery({
 *   name: "page",
 *   input: z.object({ limit: z.coerce.number() }),
 *   handle: (_ctx, input) => ok(input.limit),
 * });
 * const raw: RawInputOf<typeof page> = { limit: "10" }; // strings are fine before coercion
 * console.assert(raw.limit === "10");
 * ```
 */
export type RawInputOf<H> = H extends
  Handler<infer S, infer _O, infer _D, infer _R>
  ? S extends StandardSchemaV1 ? StandardSchemaV1.InferInput<S> : undefined
  : never;

function define<
  S extends StandardSchemaV1 | undefined,
  O,
  D extends DepsSpec,
  R,
>(
  kind: HandlerKind,
  spec: HandlerSpec<S, O, D, R>,
): Handler<S, O, D, R> {
  if (!spec.name) throw new TypeError(`define${kind}: a ${kind} needs a name`);
  return Object.freeze({
    ...spec,
    kind,
    deps: spec.deps ?? ({} as D),
    skip: spec.skip ?? [],
  });
}

/**
 * Defines a command: an operation that may change state.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { defineCommand, definePort, type KrepisContext, ok } from "@krepis/core";
 * interface Greetings { add(ctx: KrepisContext, name: string): Promise<void> }
 * const GreetingsPort = definePort<Greetings, "add">("greetings", { writes: ["add"] });
 * const greet = defineCommand({
 *   name: "greet",
 *   input: z.object({ name: z.string().min(1) }),
 *   deps: { greetings: GreetingsPort },
 *   async handle(ctx, input, { greetings }) {
 *     await greetings.add(ctx, input.name);
 *     return ok({ message: `hello ${input.name}` });
 *   },
 * });
 * ```
 */
export function defineCommand<
  O,
  S extends StandardSchemaV1 | undefined = undefined,
  D extends DepsSpec = Record<never, never>,
>(spec: HandlerSpec<S, O, D>): Handler<S, O, D> {
  return define("command", spec);
}

/**
 * Defines a query: an operation that only reads. Its ports are read-only views at run time,
 * and ports that name their write methods in their type lose them in the query's types.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { definePort, defineQuery, type KrepisContext, ok } from "@krepis/core";
 * interface Greetings {
 *   count(ctx: KrepisContext): Promise<number>;
 *   add(ctx: KrepisContext, name: string): Promise<void>;
 * }
 * const GreetingsPort = definePort<Greetings, "add">("greetings", { writes: ["add"] });
 * const countGreetings = defineQuery({
 *   name: "countGreetings",
 *   input: z.object({}),
 *   deps: { greetings: GreetingsPort }, // seen without `add` here
 *   async handle(ctx, _input, { greetings }) {
 *     return ok({ count: await greetings.count(ctx) });
 *   },
 * });
 * ```
 */
export function defineQuery<
  O,
  S extends StandardSchemaV1 | undefined = undefined,
  D extends DepsSpec = Record<never, never>,
>(spec: HandlerSpec<S, O, D, QueryDeps<D>>): Handler<S, O, D, QueryDeps<D>> {
  return define("query", spec);
}

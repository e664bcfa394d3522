/**
 * Ports: named, typed interfaces the application depends on. A port declares which of its
 * methods change state, so queries can be given read-only views (CQS at run time) — and,
 * when the write methods are also named in the type, queries cannot even call them (CQS at
 * compile time).
 *
 * @module
 */

/**
 * A typed port token. Ports compare by identity.
 *
 * @example
 * ```ts
 * import { definePort, type KrepisContext, type Port } from "@krepis/core";
 * interface Mailer { send(ctx: KrepisContext, to: string, body: string): Promise<void> }
 * const MailerPort: Port<Mailer> = definePort<Mailer>("mailer", { writes: ["send"] });
 * console.assert(MailerPort.name === "mailer");
 * ```
 */
export interface Port<T extends object = object, W extends string = string> {
  /** Discriminant used to recognise ports in wiring checks. */
  readonly kind: "port";
  /** Name used in error messages and logs. */
  readonly name: string;
  /** Names of the methods that write; queries may not call them. */
  readonly writes: ReadonlySet<string>;
  /** Carries the interface type; never set at run time. */
  readonly __type?: T;
  /**
   * Carries the write methods' names when they were given as a type argument (`string`
   * when they were not); never set at run time.
   */
  readonly __writes?: W;
}

/**
 * Options of {@linkcode definePort}.
 *
 * @example
 * ```ts
 * import { definePort, type KrepisContext, type PortOptions } from "@krepis/core";
 * interface Cache {
 *   get(ctx: KrepisContext, k: string): string | undefined;
 *   set(ctx: KrepisContext, k: string, v: string): void;
 * }
 * const options: PortOptions<Cache> = { writes: ["set"] };
 * console.assert(definePort<Cache>("cache", options).writes.has("set"));
 * ```
 */
export interface PortOptions<T, W extends keyof T & string = never> {
  /**
   * The methods that change state. Required, so every port makes the choice explicitly.
   * With a `W` type argument, only those names are accepted.
   */
  writes: readonly ([W] extends [never] ? keyof T & string : W)[];
}

/**
 * Declares a port. Naming the write methods in the type as well (`definePort<T, "a" | "b">`)
 * removes them from the type a query sees, so a write in a query fails to compile instead
 * of failing at run time.
 *
 * @example
 * ```ts
 * import { definePort, type KrepisContext } from "@krepis/core";
 * interface Counter {
 *   get(ctx: KrepisContext, key: string): Promise<number>;
 *   increment(ctx: KrepisContext, key: string): Promise<void>;
 * }
 * const CounterPort = definePort<Counter, "increment">("counter", { writes: ["increment"] });
 * console.assert(CounterPort.writes.has("increment"));
 * const Untyped = definePort<Counter>("counter", { writes: ["increment"] }); // run-time CQS only
 * console.assert(Untyped.writes.size === 1);
 * ```
 */
export function definePort<
  T extends object,
  W extends keyof T & string = never,
>(
  name: string,
  options: PortOptions<T, W>,
): Port<T, [W] extends [never] ? string : W> {
  if (!name) throw new TypeError("definePort: a port needs a name");
  return Object.freeze({
    kind: "port" as const,
    name,
    writes: new Set<string>(options.writes),
  });
}

/**
 * Whether `value` is a port token (wiring checks use it to report unknown dependencies).
 *
 * @example
 * ```ts
 * import { definePort } from "@krepis/core";
 * import { isPort } from "./port.ts";
 * console.assert(isPort(definePort<object>("x", { writes: [] })));
 * console.assert(!isPort({ name: "x" }));
 * ```
 */
export function isPort(value: unknown): value is Port {
  return typeof value === "object" && value !== null &&
    (value as Port).kind === "port" && (value as Port).writes instanceof Set;
}

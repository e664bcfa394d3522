/**
 * Ports: named, typed interfaces the application depends on. A port declares which of its
 * methods change state, so queries can be given read-only views (CQS at run time).
 *
 * @module
 */

/**
 * A typed port token. Ports compare by identity.
 *
 * @example
 * ```ts
 * import { definePort, type Port } from "@krepis/core";
 * interface Mailer { send(to: string, body: string): Promise<void> }
 * const MailerPort: Port<Mailer> = definePort<Mailer>("mailer", { writes: ["send"] });
 * console.assert(MailerPort.name === "mailer");
 * ```
 */
export interface Port<T extends object = object> {
  /** Discriminant used to recognise ports in wiring checks. */
  readonly kind: "port";
  /** Name used in error messages and logs. */
  readonly name: string;
  /** Names of the methods that write; queries may not call them. */
  readonly writes: ReadonlySet<string>;
  /** Carries the interface type; never set at run time. */
  readonly __type?: T;
}

/**
 * Options of {@linkcode definePort}.
 *
 * @example
 * ```ts
 * import { definePort, type PortOptions } from "@krepis/core";
 * interface Cache { get(k: string): string | undefined; set(k: string, v: string): void }
 * const options: PortOptions<Cache> = { writes: ["set"] };
 * console.assert(definePort<Cache>("cache", options).writes.has("set"));
 * ```
 */
export interface PortOptions<T> {
  /** The methods that change state. Required, so every port makes the choice explicitly. */
  writes: readonly (keyof T & string)[];
}

/**
 * Declares a port.
 *
 * @example
 * ```ts
 * import { definePort } from "@krepis/core";
 * interface Counter {
 *   get(key: string): Promise<number>;
 *   increment(key: string): Promise<void>;
 * }
 * const CounterPort = definePort<Counter>("counter", { writes: ["increment"] });
 * console.assert(CounterPort.writes.has("increment"));
 * ```
 */
export function definePort<T extends object>(
  name: string,
  options: PortOptions<T>,
): Port<T> {
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
 * import { definePort, isPort } from "@krepis/core";
 * console.assert(isPort(definePort<object>("x", { writes: [] })));
 * console.assert(!isPort({ name: "x" }));
 * ```
 */
export function isPort(value: unknown): value is Port {
  return typeof value === "object" && value !== null &&
    (value as Port).kind === "port" && (value as Port).writes instanceof Set;
}

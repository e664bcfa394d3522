/**
 * Start-up checks of an app's wiring. Every problem is collected, then reported together in
 * one {@linkcode WiringError}, so a broken app is fixed in one pass rather than one error at
 * a time.
 *
 * @module
 */

import type { AnyHandler, HandlerKind } from "../cqs/handler.ts";
import { isPort, type Port } from "../di/port.ts";
import type { AdapterBinding } from "../di/provide.ts";
import type { Behavior } from "../pipeline/behavior.ts";
import { Router } from "../router/router.ts";
import type { Route } from "../router/route.ts";

/**
 * Raised by `createApp` when the wiring is wrong; lists every problem found.
 *
 * @example
 * ```ts
 * import { createApp, definePort, defineQuery, type KrepisContext, ok, WiringError } from "@krepis/core";
 * interface Repo { all(ctx: KrepisContext): Promise<string[]> }
 * const RepoPort = definePort<Repo>("repo", { writes: [] });
 * const list = defineQuery({
 *   name: "list",
 *   deps: { repo: RepoPort },
 *   handle: async (ctx, _input, { repo }) => ok(await repo.all(ctx)),
 * });
 * try {
 *   createApp({ queries: [list] });
 * } catch (e) {
 *   console.assert(e instanceof WiringError && e.problems[0].includes('missing adapter for port "repo"'));
 * }
 * ```
 */
export class WiringError extends Error {
  /** One line per problem. */
  readonly problems: readonly string[];

  /** Creates the error from the collected problems. */
  constructor(problems: readonly string[]) {
    super(
      `invalid app wiring (${problems.length} problem${
        problems.length === 1 ? "" : "s"
      }):\n` + problems.map((p) => `  - ${p}`).join("\n"),
    );
    this.name = "WiringError";
    this.problems = problems;
  }
}

/**
 * What {@linkcode checkWiring} inspects.
 *
 * @example
 * ```ts
 * import { checkWiring, type WiringInput } from "./wiring.ts";
 * const input: WiringInput = { adapters: [], commands: [], queries: [], routes: [], behaviors: [] };
 * checkWiring(input); // an empty app is valid
 * ```
 */
export interface WiringInput {
  /** Adapter bindings. */
  adapters: readonly AdapterBinding[];
  /** Registered commands. */
  commands: readonly AnyHandler[];
  /** Registered queries. */
  queries: readonly AnyHandler[];
  /** HTTP routes. */
  routes: readonly Route[];
  /** Pipeline behaviors. */
  behaviors: readonly Behavior[];
  /** App settings to check along with the wiring. */
  settings?: WiringSettings;
}

/**
 * The numeric and naming settings of an app that {@linkcode checkWiring} validates.
 *
 * @example
 * ```ts
 * import { WiringError } from "@krepis/core";
 * import { checkWiring, type WiringSettings } from "./wiring.ts";
 * const settings: WiringSettings = { maxBodyBytes: 0 };
 * try {
 *   checkWiring({ adapters: [], commands: [], queries: [], routes: [], behaviors: [], settings });
 * } catch (e) {
 *   console.assert(e instanceof WiringError);
 * }
 * ```
 */
export interface WiringSettings {
  /** Largest accepted body in bytes: a positive integer. */
  maxBodyBytes?: number;
  /** Budget of a request without a deadline, in ms: positive. */
  requestTimeoutMs?: number;
  /** Header carrying the tenant id: a valid header name. */
  tenantHeader?: string;
  /** Where the OpenAPI document is served: an absolute path. */
  openapiPath?: string;
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function checkSettings(s: WiringSettings, problems: string[]) {
  if (
    s.maxBodyBytes !== undefined &&
    !(Number.isSafeInteger(s.maxBodyBytes) && s.maxBodyBytes > 0)
  ) {
    problems.push(
      `maxBodyBytes must be a positive integer, got ${s.maxBodyBytes}`,
    );
  }
  if (
    s.requestTimeoutMs !== undefined &&
    !(s.requestTimeoutMs > 0) // also rejects NaN
  ) {
    problems.push(
      `requestTimeoutMs must be positive, got ${s.requestTimeoutMs}`,
    );
  }
  if (s.tenantHeader !== undefined && !HEADER_NAME.test(s.tenantHeader)) {
    problems.push(
      `tenantHeader "${s.tenantHeader}" is not a valid header name`,
    );
  }
  if (s.openapiPath !== undefined && !s.openapiPath.startsWith("/")) {
    problems.push(`openapi path "${s.openapiPath}" must start with "/"`);
  }
}

function describe(value: unknown): string {
  if (value === undefined) return "undefined";
  if (value === null) return "null";
  if (typeof value === "object") {
    const name = (value as { name?: unknown }).name;
    return typeof name === "string" ? `an object named "${name}"` : "an object";
  }
  return typeof value;
}

function checkAdapters(
  adapters: readonly AdapterBinding[],
  problems: string[],
) {
  const byPort = new Map<Port, AdapterBinding>();
  for (const a of adapters) {
    if (!isPort(a?.port)) {
      problems.push(
        `an adapter is bound to ${describe(a?.port)}, which is not a port`,
      );
      continue;
    }
    if (byPort.has(a.port)) {
      problems.push(`port "${a.port.name}" has more than one adapter`);
      continue;
    }
    byPort.set(a.port, a);
    if (a.fixed && a.lifetime === "scoped") {
      problems.push(
        `adapter for port "${a.port.name}" is a fixed instance but declared scoped; pass a factory`,
      );
    }
  }
  for (const a of byPort.values()) {
    for (const dep of a.deps) {
      if (!isPort(dep)) {
        problems.push(
          `adapter for port "${a.port.name}" depends on ${
            describe(dep)
          }, which is not a port`,
        );
        continue;
      }
      const target = byPort.get(dep);
      if (!target) {
        problems.push(
          `adapter for port "${a.port.name}" depends on port "${dep.name}", which has no adapter`,
        );
      } else if (a.lifetime === "singleton" && target.lifetime === "scoped") {
        problems.push(
          `singleton adapter for port "${a.port.name}" depends on scoped port "${dep.name}"`,
        );
      }
    }
  }
  // Cycles among declared adapter dependencies (depth-first, three colours).
  const state = new Map<Port, 1 | 2>();
  const visit = (port: Port, path: string[]) => {
    const s = state.get(port);
    if (s === 2) return;
    if (s === 1) {
      problems.push(`dependency cycle: ${[...path, port.name].join(" -> ")}`);
      return;
    }
    state.set(port, 1);
    for (const dep of byPort.get(port)?.deps ?? []) {
      if (byPort.has(dep)) visit(dep, [...path, port.name]);
    }
    state.set(port, 2);
  };
  for (const port of byPort.keys()) visit(port, []);
  return byPort;
}

function checkHandlers(
  list: readonly AnyHandler[],
  expected: HandlerKind,
  adapters: Map<Port, AdapterBinding>,
  behaviorNames: Set<string>,
  names: Map<string, AnyHandler>,
  problems: string[],
) {
  for (const h of list) {
    if (!h || typeof h.handle !== "function" || !h.kind) {
      problems.push(
        `${expected}s contains ${describe(h)}, which is not a ${expected}`,
      );
      continue;
    }
    const label = `${h.kind} "${h.name}"`;
    if (h.kind !== expected) {
      problems.push(`${label} is listed under ${expected}s`);
    }
    const other = names.get(h.name);
    if (other && other !== h) {
      problems.push(`handler name "${h.name}" is used more than once`);
    }
    names.set(h.name, h);
    for (const [key, port] of Object.entries(h.deps)) {
      if (!isPort(port)) {
        problems.push(
          `${label}: unknown dependency "${key}" (${
            describe(port)
          } is not a port)`,
        );
      } else if (!adapters.has(port)) {
        problems.push(
          `${label}: missing adapter for port "${port.name}" (dependency "${key}")`,
        );
      }
    }
    for (const name of h.skip) {
      if (!behaviorNames.has(name)) {
        problems.push(`${label} skips unknown behavior "${name}"`);
      }
    }
  }
}

function checkRoutes(
  routes: readonly Route[],
  handlers: Set<AnyHandler>,
  problems: string[],
): Router<Route> {
  const router = new Router<Route>();
  for (const r of routes) {
    const where = `route ${r.method} ${r.path}`;
    if (!handlers.has(r.handler)) {
      problems.push(
        `${where} points to ${
          r.handler?.name ? `"${r.handler.name}"` : describe(r.handler)
        }, which is not a registered command or query`,
      );
    } else if (r.method === "GET" && r.handler.kind === "command") {
      problems.push(
        `${where} maps a safe method to command "${r.handler.name}"`,
      );
    }
    const problem = router.add(r.method, r.path, r);
    if (problem) problems.push(problem);
  }
  return router;
}

/**
 * Checks everything and returns the router built on the way; throws one
 * {@linkcode WiringError} listing every problem.
 *
 * @example
 * ```ts
 * import { definePort, defineQuery, type KrepisContext, ok, WiringError } from "@krepis/core";
 * import { checkWiring } from "./wiring.ts";
 * interface Repo { all(ctx: KrepisContext): Promise<string[]> }
 * const RepoPort = definePort<Repo>("repo", { writes: [] });
 * const list = defineQuery({
 *   name: "list",
 *   deps: { repo: RepoPort },
 *   handle: async (ctx, _input, { repo }) => ok(await repo.all(ctx)),
 * });
 * try {
 *   checkWiring({ adapters: [], commands: [], queries: [list], routes: [], behaviors: [] });
 * } catch (e) {
 *   console.assert(e instanceof WiringError && e.problems.length === 1);
 * }
 * ```
 */
export function checkWiring(input: WiringInput): Router<Route> {
  const problems: string[] = [];
  const behaviorNames = new Set<string>();
  for (const b of input.behaviors) {
    if (behaviorNames.has(b.name)) {
      problems.push(`behavior "${b.name}" is registered more than once`);
    }
    behaviorNames.add(b.name);
  }
  if (input.settings) checkSettings(input.settings, problems);
  const adapters = checkAdapters(input.adapters, problems);
  const names = new Map<string, AnyHandler>();
  checkHandlers(
    input.commands,
    "command",
    adapters,
    behaviorNames,
    names,
    problems,
  );
  checkHandlers(
    input.queries,
    "query",
    adapters,
    behaviorNames,
    names,
    problems,
  );
  const router = checkRoutes(
    input.routes,
    new Set([...input.commands, ...input.queries]),
    problems,
  );
  if (problems.length) throw new WiringError(problems);
  return router;
}

/**
 * A method + path router on a segment trie. Static segments win over `:param` segments; a
 * path that exists under other methods yields the allowed methods (for a 405), and a path
 * that exists nowhere yields nothing (404).
 *
 * @module
 */

const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SLASH = 0x2f;

interface Leaf<T> {
  readonly value: T;
  readonly paramNames: readonly string[];
  readonly pattern: string;
}

class Node<T> {
  statics: Map<string, Node<T>> | undefined;
  /** The same static children as a list, compared in place while it is short. */
  staticList: [segment: string, node: Node<T>][] | undefined;
  param: Node<T> | undefined;
  methods: Map<string, Leaf<T>> | undefined;
}

/**
 * A successful match.
 *
 * @example
 * ```ts
 * import { type RouteMatch, Router } from "./router.ts";
 * const r = new Router<string>();
 * r.add("GET", "/a/:id", "a");
 * const m = r.match("GET", "/a/7");
 * const match: RouteMatch<string> | undefined = m.kind === "found" ? m.match : undefined;
 * console.assert(match?.params.id === "7");
 * ```
 */
export interface RouteMatch<T> {
  /** The value registered for the route. */
  value: T;
  /** Decoded path parameters by name. */
  params: Record<string, string>;
  /** The pattern that matched, as registered. */
  pattern: string;
}

/**
 * The outcome of {@linkcode Router.match}.
 *
 * @example
 * ```ts
 * import { type MatchResult, Router } from "./router.ts";
 * const r = new Router<string>();
 * r.add("GET", "/a", "a");
 * const result: MatchResult<string> = r.match("GET", "/b");
 * console.assert(result.kind === "not-found");
 * ```
 */
export type MatchResult<T> =
  | { kind: "found"; match: RouteMatch<T> }
  | { kind: "method-not-allowed"; allowed: string[] }
  | { kind: "not-found" }
  | { kind: "bad-path" };

function splitPath(path: string): string[] {
  const trimmed = path.length > 1 && path.endsWith("/")
    ? path.slice(1, -1)
    : path.slice(1);
  return trimmed === "" ? [] : trimmed.split("/");
}

/**
 * Parses a pattern such as `/todos/:id` into segments, or returns a problem description.
 *
 * @example
 * ```ts
 * import { parsePattern } from "./router.ts";
 * console.assert(Array.isArray(parsePattern("/todos/:id")));
 * console.assert(typeof parsePattern("todos") === "string");
 * ```
 */
export function parsePattern(pattern: string): string[] | string {
  if (!pattern.startsWith("/")) return `path "${pattern}" must start with "/"`;
  const segments = splitPath(pattern);
  const names = new Set<string>();
  for (const seg of segments) {
    if (seg === "") return `path "${pattern}" has an empty segment`;
    if (seg.startsWith(":")) {
      const name = seg.slice(1);
      if (!PARAM_NAME.test(name)) {
        return `path "${pattern}" has an invalid parameter name "${seg}"`;
      }
      if (names.has(name)) {
        return `path "${pattern}" repeats parameter "${name}"`;
      }
      names.add(name);
    } else if (/[*?#]/.test(seg)) {
      return `path "${pattern}" has an unsupported segment "${seg}"`;
    }
  }
  return segments;
}

/**
 * Maps `(method, path)` to a registered value.
 *
 * @example
 * ```ts
 * import { Router } from "./router.ts";
 * const r = new Router<string>();
 * r.add("GET", "/todos/:id", "getTodo");
 * const m = r.match("GET", "/todos/42");
 * console.assert(m.kind === "found" && m.match.params.id === "42");
 * console.assert(r.match("DELETE", "/todos/42").kind === "method-not-allowed");
 * ```
 */
export class Router<T> {
  #root = new Node<T>();
  /** Nodes of routes without parameters by path: one lookup instead of a trie walk. */
  #exact = new Map<string, Node<T>>();
  /** Length of the longest path in `#exact` (plus a trailing slash): longer ones skip it. */
  #exactMax = 0;

  /** Registers a route; returns a problem description instead of throwing. */
  add(method: string, pattern: string, value: T): string | undefined {
    const segments = parsePattern(pattern);
    if (typeof segments === "string") return segments;
    let node = this.#root;
    const paramNames: string[] = [];
    for (const seg of segments) {
      if (seg.startsWith(":")) {
        paramNames.push(seg.slice(1));
        node = node.param ??= new Node<T>();
      } else {
        const statics = node.statics ??= new Map();
        let next = statics.get(seg);
        if (!next) {
          statics.set(seg, next = new Node<T>());
          (node.staticList ??= []).push([seg, next]);
        }
        node = next;
      }
    }
    if (paramNames.length === 0) {
      const path = `/${segments.join("/")}`;
      this.#exact.set(path, node);
      this.#exactMax = Math.max(this.#exactMax, path.length + 1);
    }
    const methods = node.methods ??= new Map();
    const existing = methods.get(method);
    if (existing) {
      return `duplicate route ${method} ${pattern} (already registered as ${method} ${existing.pattern})`;
    }
    methods.set(method, { value, paramNames, pattern });
    return undefined;
  }

  /** Finds the route for a request. `HEAD` falls back to `GET`. */
  match(method: string, path: string): MatchResult<T> {
    // Walked in place rather than split: this runs for every request.
    const end = path.length > 1 && path.charCodeAt(path.length - 1) === SLASH
      ? path.length - 1
      : path.length;
    // A static route wins over any parameter route, so an exact hit is the trie's answer.
    // (Hashing a request's path costs as much as a short walk: paths longer than every
    // static route are not looked up.)
    const node =
      (path.length <= this.#exactMax
        ? this.#exact.get(end === path.length ? path : path.slice(0, end))
        : undefined) ??
        (end <= 1 ? this.#root : find(this.#root, path, 1, end, 0));
    if (!node?.methods) return { kind: "not-found" };
    const leaf = node.methods.get(method) ??
      (method === "HEAD" ? node.methods.get("GET") : undefined);
    if (!leaf) {
      const allowed = [...node.methods.keys()];
      if (allowed.includes("GET") && !allowed.includes("HEAD")) {
        allowed.push("HEAD");
      }
      return { kind: "method-not-allowed", allowed };
    }
    const params: Record<string, string> = {};
    try {
      for (let i = 0; i < leaf.paramNames.length; i++) {
        const v = walked[i];
        params[leaf.paramNames[i]] = v.includes("%")
          ? decodeURIComponent(v)
          : v;
      }
    } catch {
      return { kind: "bad-path" };
    }
    return {
      kind: "found",
      match: { value: leaf.value, params, pattern: leaf.pattern },
    };
  }
}

/**
 * The node for the segments of `path` from `start` to `end` (exclusive), depth first; the
 * values of its parameters go into `walked` from index `n` on.
 */
function find<T>(
  node: Node<T>,
  path: string,
  start: number,
  end: number,
  n: number,
): Node<T> | undefined {
  if (start > end) return node.methods ? node : undefined;
  let slash = path.indexOf("/", start);
  if (slash === -1 || slash > end) slash = end;
  const stat = staticChild(node, path, start, slash);
  if (stat) {
    const hit = find(stat, path, slash + 1, end, n);
    if (hit) return hit;
  }
  if (node.param && slash > start) {
    walked[n] = path.slice(start, slash);
    const hit = find(node.param, path, slash + 1, end, n + 1);
    if (hit) return hit;
  }
  return undefined;
}

/**
 * The parameter values of the walk in progress, by depth (`find` writes the `n`th at depth
 * `n`; an exact hit reads none). One list serves every walk, as a match runs to its end
 * before the next starts and copies its values into `params`: a new list per request cost
 * about 15 ns (grown to 17 slots by its first push).
 */
const walked: string[] = [];

/** Up to this many static children are compared in place rather than looked up. */
const SCAN_LIMIT = 8;

/**
 * The static child of `node` named by `path` from `start` to `end`: compared in place
 * when there are few (no slice, no hash of a new string per request), else a map lookup.
 */
function staticChild<T>(
  node: Node<T>,
  path: string,
  start: number,
  end: number,
): Node<T> | undefined {
  const list = node.staticList;
  if (list === undefined) return undefined;
  if (list.length > SCAN_LIMIT) {
    return node.statics!.get(path.slice(start, end));
  }
  const length = end - start;
  for (let i = 0; i < list.length; i++) {
    const seg = list[i][0];
    if (seg.length === length && path.startsWith(seg, start)) return list[i][1];
  }
  return undefined;
}

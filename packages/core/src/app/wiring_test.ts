import assert from "node:assert/strict";
import { z } from "zod";
import { defineCommand, defineQuery } from "../cqs/handler.ts";
import { definePort } from "../di/port.ts";
import { provide } from "../di/provide.ts";
import { errors } from "../pipeline/errors.ts";
import { ok } from "../result/result.ts";
import { route } from "../router/route.ts";
import { createApp } from "./create_app.ts";
import { memorySink } from "../context/logger.ts";
import { WiringError } from "./wiring.ts";

interface Repo {
  all(): string[];
  add(s: string): void;
}
const RepoPort = definePort<Repo>("repo", { writes: ["add"] });
const ClockPort = definePort<{ now(): number }>("clock", { writes: [] });
const UowPort = definePort<{ id: number }>("uow", { writes: [] });
const A = definePort<{ a: 1 }>("A", { writes: [] });
const B = definePort<{ b: 1 }>("B", { writes: [] });

const list = defineQuery({
  name: "list",
  deps: { repo: RepoPort, clock: ClockPort },
  handle: (_ctx, _i, { repo }) => ok(repo.all()),
});
const add = defineCommand({
  name: "add",
  input: z.object({ s: z.string() }),
  deps: { repo: RepoPort, typo: undefined as unknown as typeof RepoPort },
  skip: ["authz"],
  handle: (_ctx, input, { repo }) => ok(repo.add(input.s)),
});
const dupName = defineQuery({ name: "list", handle: () => ok(1) });
const orphan = defineQuery({ name: "orphan", handle: () => ok(1) });

Deno.test("createApp reports every wiring problem in one error", () => {
  let error: unknown;
  try {
    createApp({
      log: memorySink(),
      adapters: [
        provide(UowPort, { id: 1 }, { lifetime: "scoped" }),
        provide(UowPort, { id: 2 }),
        provide(A, () => ({ a: 1 as const }), { deps: [B] }),
        provide(B, () => ({ b: 1 as const }), { deps: [A] }),
        provide(ClockPort, () => ({ now: () => 0 }), { deps: [UowPort] }),
      ],
      commands: [add, list],
      queries: [dupName],
      routes: [
        route("GET", "/list", list),
        route("GET", "/list/", dupName),
        route("GET", "/orphan", orphan),
        route("GET", "/add", add),
        route("POST", "no-slash", add),
      ],
      behaviors: [errors(), errors()],
    });
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof WiringError, String(error));
  const expected = [
    'behavior "errors" is registered more than once',
    'adapter for port "uow" is a fixed instance but declared scoped; pass a factory',
    'port "uow" has more than one adapter',
    'singleton adapter for port "clock" depends on scoped port "uow"',
    "dependency cycle: A -> B -> A",
    'command "add": missing adapter for port "repo" (dependency "repo")',
    'command "add": unknown dependency "typo" (undefined is not a port)',
    'command "add" skips unknown behavior "authz"',
    'query "list" is listed under commands',
    'query "list": missing adapter for port "repo" (dependency "repo")',
    'handler name "list" is used more than once',
    "duplicate route GET /list/ (already registered as GET /list)",
    'route GET /orphan points to "orphan", which is not a registered command or query',
    'route GET /add maps a safe method to command "add"',
    'path "no-slash" must start with "/"',
  ];
  for (const line of expected) {
    assert.ok(
      error.problems.includes(line),
      `missing problem: ${line}\n got:\n${error.problems.join("\n")}`,
    );
  }
  assert.equal(error.problems.length, expected.length, error.message);
  assert.ok(
    error.message.startsWith("invalid app wiring (15 problems):\n  - "),
  );
});

Deno.test("bad settings are reported with the wiring problems", () => {
  assert.throws(
    () =>
      createApp({
        log: memorySink(),
        maxBodyBytes: -1,
        requestTimeoutMs: NaN,
        tenantHeader: "x tenant",
        openapi: { title: "t", version: "1", path: "openapi.json" },
        queries: [list],
      }),
    (e) =>
      e instanceof WiringError && e.problems.length === 6 &&
      e.problems.includes("maxBodyBytes must be a positive integer, got -1") &&
      e.problems.includes("requestTimeoutMs must be positive, got NaN") &&
      e.problems.includes(
        'tenantHeader "x tenant" is not a valid header name',
      ) &&
      e.problems.includes('openapi path "openapi.json" must start with "/"'),
  );
});

Deno.test("a correct wiring creates the app", () => {
  const app = createApp({
    log: memorySink(),
    adapters: [
      provide(RepoPort, { all: () => [], add: () => {} }),
      provide(ClockPort, { now: () => 0 }),
    ],
    queries: [list],
    routes: [route("GET", "/list", list)],
  });
  assert.equal(typeof app.fetch, "function");
});

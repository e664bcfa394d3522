/**
 * Composition root of the todo app: binds ports to adapters and registers operations and
 * routes. Tests pass their own adapters (a fixed clock, predictable ids) through `overrides`.
 *
 * @module
 */

import {
  type AdapterBinding,
  type App,
  createApp,
  type LogSink,
  provide,
} from "@krepis/core";
import { InMemoryTodoRepository } from "./adapters/memory_todo_repository.ts";
import { systemClock, uuidIds } from "./adapters/system.ts";
import {
  completeTodoCommand,
  createTodoCommand,
  deleteTodoCommand,
  renameTodoCommand,
} from "./application/commands/todo_commands.ts";
import {
  ClockPort,
  IdGeneratorPort,
  TodoRepositoryPort,
} from "./ports/todo_ports.ts";
import {
  getTodoQuery,
  listTodosQuery,
} from "./application/queries/todo_queries.ts";
import { todoRoutes } from "./http/routes.ts";

/** Options of {@linkcode createTodoApp}. */
export interface TodoAppOptions {
  /** Adapter bindings replacing the defaults for the same ports. */
  overrides?: AdapterBinding[];
  /** Where logs go (JSON lines on stdout by default). */
  log?: LogSink;
  /** Whether responses carry `traceparent`/`x-request-id` (default true). */
  traceHeaders?: boolean;
}

/** Builds the todo app. */
export function createTodoApp(options: TodoAppOptions = {}): App {
  const overrides = options.overrides ?? [];
  const defaults = [
    provide(TodoRepositoryPort, () => new InMemoryTodoRepository()),
    provide(ClockPort, systemClock),
    provide(IdGeneratorPort, uuidIds),
  ].filter((d) => !overrides.some((o) => o.port === d.port));
  return createApp({
    adapters: [...defaults, ...overrides],
    commands: [
      createTodoCommand,
      renameTodoCommand,
      completeTodoCommand,
      deleteTodoCommand,
    ],
    queries: [getTodoQuery, listTodosQuery],
    routes: todoRoutes,
    log: options.log,
    traceHeaders: options.traceHeaders,
    openapi: { title: "Krepis todo example", version: "1.0.0" },
  });
}

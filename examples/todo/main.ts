/**
 * Runs the todo API on the Krepis kernel. `PORT` picks the port (default 8000), `HOSTNAME`
 * the interface (default 127.0.0.1). Todos are kept in the embedded KV store at
 * `TODO_KV` (default `.krepis/todo-kv`), or in PostgreSQL when it is a `postgres://` URL;
 * `TODO_KV=memory` keeps them in memory instead.
 * Ctrl-C stops accepting, lets requests finish, then closes the app's adapters and the store.
 *
 * @module
 */

import { provide } from "@krepis/core";
import { openKv } from "@krepis/core/storage";
import { KvTodoRepository } from "./src/adapters/kv_todo_repository.ts";
import { createTodoApp } from "./src/app.ts";
import { TodoRepositoryPort } from "./src/ports/todo_ports.ts";

const store = Deno.env.get("TODO_KV") ?? ".krepis/todo-kv";
const kv = store === "memory" ? undefined : await openKv(store);
const app = createTodoApp({
  overrides: kv ? [provide(TodoRepositoryPort, new KvTodoRepository(kv))] : [],
});
const stop = new AbortController();
// SIGTERM too: `krepis dev` stops the app with it, and a graceful stop flushes the store.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => stop.abort());
}
const server = await app.serve({
  hostname: Deno.env.get("HOSTNAME") ?? "127.0.0.1",
  port: Number(Deno.env.get("PORT") ?? 8000),
  signal: stop.signal,
});
await server.finished;
await app.close();
kv?.close();
Deno.exit(0);

/**
 * Runs the todo API. `PORT` picks the port (default 8000), `HOSTNAME` the interface.
 *
 * @module
 */

import { createTodoApp } from "./src/app.ts";

const app = createTodoApp();
Deno.serve({
  hostname: Deno.env.get("HOSTNAME") ?? "127.0.0.1",
  port: Number(Deno.env.get("PORT") ?? 8000),
}, app.fetch);

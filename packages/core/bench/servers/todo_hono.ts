/**
 * Benchmark server: the todo endpoints in Hono (`todo_hono_app.ts`) on `Deno.serve`.
 * Prints `PORT <n> ID <id>`.
 *
 * @module
 */

import { app, seededId } from "./todo_hono_app.ts";

Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(`PORT ${port} ID ${seededId}`),
}, app.fetch);

/**
 * Benchmark server: the todo example app, served by the Krepis kernel (`kernel`) or by
 * `Deno.serve` through `app.fetch` (`deno`); a second argument `no-trace-headers` builds it
 * with `traceHeaders: false`. Seeds one todo and prints `PORT <n> ID <id>`.
 * Per-operation log lines are off (sink at `warn`), as a production app would sample them.
 *
 * @module
 */

import type { LogSink } from "@krepis/core";
import { createTodoApp } from "../../../../examples/todo/src/app.ts";
import { createTodoCommand } from "../../../../examples/todo/src/application/commands/todo_commands.ts";

const log: LogSink = { level: "warn", write: (line) => console.error(line) };
const app = createTodoApp({
  log,
  traceHeaders: Deno.args[1] !== "no-trace-headers",
});
const seeded = await app.execute(app.context({ log }), createTodoCommand, {
  title: "seed",
});
if (!seeded.ok) throw seeded.error;
const announce = (port: number) =>
  console.log(`PORT ${port} ID ${seeded.value.id}`);

if (Deno.args[0] === "kernel") {
  await app.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => announce(port),
  });
} else {
  Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => announce(port),
  }, app.fetch);
}

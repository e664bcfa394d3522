/**
 * Benchmark server: the todo app on the kernel (as `todo_app.ts kernel`) whose answers
 * carry `traceparent` and `x-request-id` with values fixed at start-up instead of each
 * request's own: the same bytes on the wire as the default app, but the header list is
 * one frozen list (encoded once by `records.ts`, cached by the kernel's field cache).
 * Against `todo_app.ts kernel` and `todo_app.ts kernel no-trace-headers` it prices what
 * per-request trace values cost (README, "What the framework costs per request").
 * Prints `PORT <n> ID <id>`.
 *
 * @module
 */

import type { LogSink } from "@krepis/core";
import { createTodoApp } from "../../../../examples/todo/src/app.ts";
import { createTodoCommand } from "../../../../examples/todo/src/application/commands/todo_commands.ts";
import { kernelHandlerOf } from "../../src/app/create_app.ts";
import { newSpanId, newTraceId } from "../../src/context/trace.ts";
import { KernelAnswer, LaterAnswer } from "../../src/http/response.ts";
import { serveAnswers } from "../../src/http/serve.ts";
import { loadKernel } from "../../src/native/loader.ts";

const log: LogSink = { level: "warn", write: (line) => console.error(line) };
const app = createTodoApp({ log, traceHeaders: false });
const seeded = await app.execute(app.context({ log }), createTodoCommand, {
  title: "seed",
});
if (!seeded.ok) throw seeded.error;
const handler = kernelHandlerOf(app)!;
// The default app's headers, in its order, with values of the same lengths.
const FIXED: readonly string[] = Object.freeze([
  "content-type",
  "application/json; charset=utf-8",
  "traceparent",
  `00-${newTraceId()}-${newSpanId()}-01`,
  "x-request-id",
  newSpanId(),
]);
/** For an answer without a content type (a 204). */
const FIXED_BARE: readonly string[] = Object.freeze(FIXED.slice(2));
const NONE: readonly string[] = Object.freeze([]);
const fixed = (answer: unknown): KernelAnswer => {
  const a = answer as KernelAnswer;
  const list = a.headers.length === 0 ? FIXED_BARE : FIXED;
  return new KernelAnswer(a.status, list, a.body, NONE);
};

await loadKernel();
serveAnswers({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(`PORT ${port} ID ${seeded.value.id}`),
}, (req, info) => {
  const answer = handler(req, info);
  if (answer instanceof LaterAnswer) {
    return new LaterAnswer((resolve, reject) =>
      answer.start((a) => resolve(fixed(a)), reject)
    );
  }
  if (answer instanceof Promise) return answer.then(fixed);
  return fixed(answer);
});

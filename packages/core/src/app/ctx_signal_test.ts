import assert from "node:assert/strict";
import { memorySink } from "../context/logger.ts";
import { defineCommand } from "../cqs/handler.ts";
import { ok } from "../result/result.ts";
import { route } from "../router/route.ts";
import { createApp } from "./create_app.ts";

/**
 * Reading `ctx.signal` in a command served on the kernel makes one `AbortController` (the
 * timeout behavior's): the request's own is made only when someone reads it, and the
 * timeout behavior follows the request's abort without it. (That the abort still arrives
 * is `http_e2e_test.ts`' "a client disconnect cancels a long-running command".)
 */
Deno.test("kernel: reading ctx.signal in a command makes one AbortController", async () => {
  const Original = globalThis.AbortController;
  let made = 0;
  class Counting extends Original {
    constructor() {
      super();
      made++;
    }
  }
  const counts: number[] = [];
  const check = defineCommand({
    name: "check",
    handle(ctx) {
      const before = made;
      ctx.signal.throwIfAborted();
      ctx.signal.throwIfAborted(); // the second read makes nothing
      counts.push(made - before);
      return ok("ok");
    },
  });
  const app = createApp({
    log: memorySink(),
    commands: [check],
    routes: [route("POST", "/check", check)],
  });
  const server = await app.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
  });
  globalThis.AbortController = Counting;
  try {
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`http://127.0.0.1:${server.addr.port}/check`, {
        method: "POST",
        body: "{}",
        headers: { "content-type": "application/json" },
      });
      assert.equal(res.status, 200, await res.text());
    }
  } finally {
    globalThis.AbortController = Original;
    await server.shutdown();
  }
  assert.deepEqual(counts, [1, 1, 1, 1, 1]);
});

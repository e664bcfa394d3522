import assert from "node:assert/strict";
import { createContext } from "../context/context.ts";
import { memorySink } from "../context/logger.ts";
import { AppError } from "../result/app_error.ts";
import { testCerts } from "./_certs.ts";
import { connectKnul } from "./client.ts";
import { serveKnul } from "./server.ts";
import { KnulError, KnulStatus } from "./status.ts";

const log = memorySink();

Deno.test("knul: unary calls round-trip, errors carry their status", async () => {
  const certs = await testCerts();
  await using server = await serveKnul({
    cert: certs.cert,
    key: certs.key,
    log,
  }, {
    "math.add": (_ctx, { a, b }) => a + b,
    "todos.get": (_ctx, { id }) => {
      throw new AppError("NOT_FOUND", `no todo ${id}`, { details: { id } });
    },
    "boom": () => {
      throw new Error("kaput");
    },
    "slow": async (ctx) => {
      await new Promise((r) => setTimeout(r, 50));
      return ctx.tenantId;
    },
  });
  await using client = await connectKnul({
    hostname: "127.0.0.1",
    port: server.addr.port,
    caCerts: [certs.ca],
    serverName: "localhost",
  });
  const ctx = createContext({ log, tenantId: "acme" });
  assert.equal(await client.call(ctx, "math.add", { a: 1, b: 2 }), 3);
  assert.equal(await client.call(ctx, "slow", null), "acme");
  await client.call(ctx, "todos.get", { id: 7 }).then(
    () => assert.fail("should fail"),
    (e: KnulError) => {
      assert.ok(e instanceof KnulError);
      assert.equal(e.code, KnulStatus.NOT_FOUND);
      assert.equal(e.errorCode, "NOT_FOUND");
      assert.deepEqual(e.details, { id: 7 });
    },
  );
  await client.call(ctx, "boom", null).then(
    () => assert.fail("should fail"),
    (e: KnulError) => assert.equal(e.status, "INTERNAL"),
  );
  await client.call(ctx, "nope", null).then(
    () => assert.fail("should fail"),
    (e: KnulError) => assert.equal(e.status, "UNIMPLEMENTED"),
  );
  const stats = server.stats();
  assert.equal(stats.rejectedUnimplemented, 1);
  assert.equal(stats.dispatched, 4);
});

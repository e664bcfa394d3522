import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { KnulStatsSchema, KnulTenantLimitsSchema } from "@krepis/bindings";
import { createContext } from "../context/context.ts";
import { memorySink } from "../context/logger.ts";
import { until } from "../_poll.ts";
import { AppError } from "../result/app_error.ts";
import { testCerts } from "../_certs.ts";
import { serveWithClient, testClient } from "./_testing.ts";
import { serveKnul } from "./server.ts";
import { KnulCall } from "./call_info.ts";
import { KnulError, KnulStatus } from "./status.ts";

const log = memorySink();

Deno.test("knul: unary calls round-trip, errors carry their status", async () => {
  await using s = await serveWithClient({ log }, {
    "math.add": (_ctx, { a, b }) => a + b,
    "todos.get": (_ctx, { id }) => {
      throw new AppError("NOT_FOUND", `no todo ${id}`, { details: { id } });
    },
    "boom": () => {
      throw new Error("kaput");
    },
    "big": (_ctx, n: number) => "z".repeat(n),
    "slow": async (ctx) => {
      await new Promise((r) => setTimeout(r, 50));
      return ctx.tenantId;
    },
  });
  const { server, client } = s;
  const ctx = createContext({ log, tenantId: "acme" });
  assert.equal(await client.call(ctx, "math.add", { a: 1, b: 2 }), 3);
  assert.equal(await client.call(ctx, "slow", null), "acme");
  // Past the outbox (256 KiB inline limit) a response streams out of TypeScript memory.
  assert.equal(
    (await client.call<string>(ctx, "big", 3 << 20)).length,
    3 << 20,
  );
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
  assert.equal(stats.dispatchedTotal, 5);
  assert.equal(stats.callsTotal, 6);
  assert.equal(stats.connectionsTotal, 1);
  // Every counter of the kernel's message arrives, as a number, under its proto name.
  assert.deepEqual(
    Object.keys(stats).sort(),
    KnulStatsSchema.fields.map((f) => f.localName).sort(),
  );
  for (const [field, value] of Object.entries(stats)) {
    assert.equal(typeof value, "number", field);
  }
});

Deno.test("knul: server-streaming, client-streaming and bidirectional calls", async () => {
  let releaseSecond!: () => void;
  const second = new Promise<void>((r) => releaseSecond = r);
  await using s = await serveWithClient({ log }, {
    "count.up": async function* (_ctx, { to }: { to: number }) {
      for (let i = 1; i <= to; i++) yield i;
    },
    "ticks": async function* () {
      yield "first";
      await second;
      yield "second";
    },
    "count.fail": async function* () {
      yield 1;
      throw new AppError("CONFLICT", "stopped half-way");
    },
    "sum": {
      clientStreaming: true,
      handler: async (_ctx, inputs: AsyncIterable<number>) => {
        let total = 0;
        for await (const n of inputs) total += n;
        return total;
      },
    },
    "double": {
      clientStreaming: true,
      handler: async function* (_ctx, inputs: AsyncIterable<number>) {
        for await (const n of inputs) yield n * 2;
      },
    },
  });
  const { server, client } = s;
  const ctx = createContext({ log });
  const upTo5 = await Array.fromAsync(
    client.stream(ctx, "count.up", { to: 5 }),
  );
  assert.deepEqual(upTo5, [1, 2, 3, 4, 5]);
  // Messages arrive as they are sent: the server sends its second one only after the
  // client has received the first.
  const ticks = client.stream<string>(ctx, "ticks", null);
  assert.deepEqual(await ticks.next(), { value: "first", done: false });
  releaseSecond();
  assert.deepEqual(await Array.fromAsync(ticks), ["second"]);
  // Leaving a stream early cancels the call.
  for await (const n of client.stream(ctx, "count.up", { to: 1_000_000 })) {
    if (n === 3) break;
  }
  await until(
    "the abandoned stream to be cancelled",
    () => server.stats().cancelledTotal === 1,
  );
  await Array.fromAsync(client.stream(ctx, "count.fail", null)).then(
    () => assert.fail("the stream ends with an error status"),
    (e: KnulError) => assert.equal(e.status, "FAILED_PRECONDITION"),
  );
  const many = Array.from({ length: 1000 }, (_, i) => i);
  assert.deepEqual(await client.send(ctx, "sum", many), [499500]);
  assert.deepEqual(await client.send(ctx, "double", [1, 2, 3]), [2, 4, 6]);
  // Bidirectional, in lock step: each input is sent only after the previous answer came.
  let answered = Promise.withResolvers<void>();
  const inputs = async function* () {
    for (const n of [1, 2, 3]) {
      yield n;
      await answered.promise;
      answered = Promise.withResolvers<void>();
    }
  };
  const doubled: number[] = [];
  for await (const n of client.bidi<number>(ctx, "double", inputs())) {
    doubled.push(n);
    answered.resolve();
  }
  assert.deepEqual(doubled, [2, 4, 6]);
  // A large streamed input crosses several kernel reads.
  const big = Array.from({ length: 50 }, () => "y".repeat(10_000));
  assert.deepEqual(await client.send(ctx, "sum", big.map((s) => s.length)), [
    500_000,
  ]);
  await until("no call in flight", () => server.stats().inFlight === 0);
  assert.equal(client.running(), 0);
  // Only the abandoned stream was cancelled: a client leaving once it has its status (its
  // dropped stream stops the server's side) leaves an answered call.
  const stats = server.stats();
  assert.deepEqual([stats.answeredTotal, stats.cancelledTotal], [7, 1]);
});

Deno.test("knul: mutual TLS puts the client certificate's identity on ctx", async () => {
  const certs = await testCerts();
  await using server = await serveKnul({
    cert: certs.cert,
    key: certs.key,
    clientCa: certs.ca,
    log,
  }, { whoami: (ctx) => ctx.get(KnulCall)?.peer });
  await using withCert = await testClient(server.addr.port, {
    cert: certs.clientCert,
    key: certs.clientKey,
  });
  const ctx = createContext({ log });
  const peer = await withCert.call<string>(ctx, "whoami", null);
  const der = certs.clientCert.replace(/-----[^-]+-----|\s/g, "");
  const digest = await crypto.subtle.digest(
    "SHA-256",
    Uint8Array.from(atob(der), (c) => c.charCodeAt(0)),
  );
  const hex = [...new Uint8Array(digest)].map((b) =>
    b.toString(16).padStart(2, "0")
  ).join("");
  assert.equal(peer, `sha256:${hex}`);
  await using without = await testClient(server.addr.port);
  await without.call(ctx, "whoami", null).then(
    () => assert.fail("a client without a certificate is refused"),
    (e: KnulError) => assert.equal(e.status, "UNAVAILABLE"),
  );
});

Deno.test("knul: Protobuf-encoded calls carry bytes both ways", async () => {
  await using s = await serveWithClient({ log }, {
    // Any Protobuf message will do: this one doubles the rate it is given.
    "limits.double": (_ctx, input: Uint8Array) => {
      const m = fromBinary(KnulTenantLimitsSchema, input);
      return toBinary(KnulTenantLimitsSchema, {
        ...m,
        ratePerSec: m.ratePerSec * 2,
      });
    },
  });
  const { client } = s;
  const input = toBinary(
    KnulTenantLimitsSchema,
    create(KnulTenantLimitsSchema, { ratePerSec: 21, burst: 3 }),
  );
  const out = await client.call<Uint8Array>(
    createContext({ log }),
    "limits.double",
    input,
    {
      encoding: "proto",
    },
  );
  const m = fromBinary(KnulTenantLimitsSchema, out);
  assert.equal(m.ratePerSec, 42);
  assert.equal(m.burst, 3);
});

Deno.test("knul: cancelling the caller's signal resets the stream and aborts the handler", async () => {
  let started = false;
  let aborted = false;
  await using s = await serveWithClient({ log }, {
    work: (ctx) =>
      new Promise((resolve) => {
        started = true;
        ctx.signal.addEventListener("abort", () => {
          aborted = true;
          resolve(null);
        });
      }),
  });
  const { server, client } = s;
  const controller = new AbortController();
  const call = client.call(
    createContext({ log, signal: controller.signal }),
    "work",
    null,
  );
  await until("the handler started", () => started);
  controller.abort();
  await call.then(
    () => assert.fail("a cancelled call does not succeed"),
    (e: KnulError) => assert.equal(e.status, "CANCELLED"),
  );
  await until("the handler's ctx.signal aborted", () => aborted);
  await until("no call in flight", () => server.stats().inFlight === 0);
  assert.equal(server.stats().cancelledTotal, 1);
  assert.equal(client.running(), 0);
});

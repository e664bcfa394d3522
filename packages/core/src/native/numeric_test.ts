import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { HttpStatsSchema, KernelStatsSchema } from "@krepis/bindings";
import { numeric } from "./numeric.ts";

Deno.test("numeric turns every uint64 field of a decoded message into a number", () => {
  const wire = toBinary(
    KernelStatsSchema,
    create(KernelStatsSchema, {
      liveHandles: 7n,
      errorsReported: 0n,
      panicsCaught: 1n,
      sharedBytes: 65_536n,
      uptimeMs: BigInt(Number.MAX_SAFE_INTEGER),
    }),
  );
  assert.deepEqual(numeric(fromBinary(KernelStatsSchema, wire)), {
    liveHandles: 7,
    errorsReported: 0,
    panicsCaught: 1,
    sharedBytes: 65_536,
    uptimeMs: Number.MAX_SAFE_INTEGER,
  });
  // Every field of the HTTP counters comes through, none left as bigint.
  const stats = numeric(fromBinary(
    HttpStatsSchema,
    toBinary(HttpStatsSchema, create(HttpStatsSchema, { requestsTotal: 3n })),
  ));
  assert.equal(stats.requestsTotal, 3);
  assert.ok(Object.values(stats).every((v) => typeof v === "number"));
  assert.equal(Object.keys(stats).length, HttpStatsSchema.fields.length);
});

Deno.test("numeric refuses a value a number cannot hold exactly", () => {
  const huge = create(KernelStatsSchema, { sharedBytes: 2n ** 53n });
  assert.throws(() => numeric(huge), {
    name: "RangeError",
    message: "sharedBytes = 9007199254740992 does not fit a number exactly",
  });
});

import assert from "node:assert/strict";
import {
  create,
  type DescMessage,
  fromBinary,
  type MessageInitShape,
  toBinary,
} from "@bufbuild/protobuf";
import {
  BridgeLayoutSchema,
  HttpStatsSchema,
  ServeOptionsSchema,
  ServerAddressSchema,
} from "@krepis/bindings";
import { Codec } from "./control.ts";

const strip = (m: object) =>
  JSON.parse(
    JSON.stringify(m, (k, v) =>
      k.startsWith("$") ? undefined : typeof v === "bigint" ? `${v}n` : v),
  );

/** Our bytes equal protobuf-es's, and we decode its bytes to what it decodes. */
function agree<Desc extends DescMessage>(
  schema: Desc,
  init: MessageInitShape<Desc>,
): void {
  const codec = new Codec(schema);
  const reference = toBinary(schema, create(schema, init));
  assert.deepEqual(codec.encode(init), reference, schema.typeName);
  assert.deepEqual(
    strip(codec.decode(reference)),
    strip(fromBinary(schema, reference)),
    schema.typeName,
  );
}

Deno.test("the control codec agrees with protobuf-es both ways on serve's messages", () => {
  const options = {
    hostname: "127.0.0.1",
    port: 65535,
    certPem: "é—PEM",
    maxHeaderSize: 2 ** 31,
    maxBodySize: 2n ** 53n,
    requestTimeoutMs: 2n ** 64n - 1n,
    threads: 0,
    noCompression: true,
    staticMounts: [
      { prefix: "/a", root: "./pub", index: ["index.html", "i.htm"] },
      { prefix: "/", root: "/srv", index: [] },
    ],
  };
  const layout = {
    inboxes: [2n ** 47n + 8n, 140737488355328n],
    inboxSize: 1n << 20n,
    outbox: 99n,
    outboxSize: 4096n,
    key: 2n ** 64n - 2n,
    handle: 1n,
  };
  agree(ServeOptionsSchema, options);
  agree(ServeOptionsSchema, {});
  agree(BridgeLayoutSchema, layout);
  agree(ServerAddressSchema, { hostname: "::1", port: 8443, scheme: "https" });
  agree(HttpStatsSchema, { requestsTotal: 12345678901n, connectionsOpen: 3n });
});

Deno.test("the control codec skips unknown fields and refuses truncated input", () => {
  const codec = new Codec(ServerAddressSchema);
  // field 9 (varint 5), field 10 (fixed64), field 11 (delimited "zz"), field 12 (fixed32)
  const unknown = [
    0x48,
    5,
    0x51,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    0x5a,
    2,
    122,
    122,
    0x65,
    1,
    2,
    3,
    4,
  ];
  const known = codec.encode({ hostname: "h", port: 1 });
  const bytes = new Uint8Array(unknown.length + known.length);
  bytes.set(unknown);
  bytes.set(known, unknown.length);
  const decoded = codec.decode(bytes);
  assert.equal(decoded.hostname, "h");
  assert.equal(decoded.port, 1);
  assert.throws(
    () => codec.decode(known.subarray(0, known.length - 1)),
    RangeError,
  );
  assert.throws(() => codec.decode(new Uint8Array([0x10, 0x80])), RangeError);
});

/**
 * Interop: a KNUL client written only from `docs/knul.md`, on stock `Deno.connectQuic`,
 * with hand-encoded Protobuf — no Krepis client code — calls a Krepis KNUL server.
 */
import assert from "node:assert/strict";
import { memorySink } from "../context/logger.ts";
import { AppError } from "../result/app_error.ts";
import { testCerts } from "../_certs.ts";
import { serveKnul } from "./server.ts";

// --- Protobuf by hand (docs/knul.md §3, §4) ---------------------------------------------
const te = new TextEncoder();
const td = new TextDecoder();

function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}
const str = (field: number, s: string) => {
  const b = te.encode(s);
  return [(field << 3) | 2, ...varint(b.length), ...b];
};
const num = (
  field: number,
  n: number | bigint,
) => [(field << 3) | 0, ...varint(n)];

function header(
  fields: {
    method: string;
    tenant?: string;
    timeoutMs?: number;
    deadlineUnixMs?: number;
  },
): Uint8Array {
  return new Uint8Array([
    ...str(1, fields.method),
    ...(fields.tenant ? str(3, fields.tenant) : []),
    ...(fields.timeoutMs ? num(5, fields.timeoutMs) : []),
    ...(fields.deadlineUnixMs ? num(6, fields.deadlineUnixMs) : []),
  ]);
}

interface Status {
  code: number;
  message: string;
  errorCode: string;
}

function decodeStatus(b: Uint8Array): Status {
  const s: Status = { code: 0, message: "", errorCode: "" };
  let i = 0;
  const readVarint = () => {
    let v = 0, shift = 0, byte;
    do {
      byte = b[i++];
      v += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    return v;
  };
  while (i < b.length) {
    const key = readVarint();
    const field = key >> 3, wire = key & 7;
    if (wire === 0) {
      const v = readVarint();
      if (field === 1) s.code = v;
    } else if (wire === 2) {
      const len = readVarint();
      const bytes = b.subarray(i, i += len);
      if (field === 2) s.message = td.decode(bytes);
      if (field === 4) s.errorCode = td.decode(bytes);
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return s;
}

// --- Frames (docs/knul.md §2) -------------------------------------------------------------
function frame(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  out[0] = type;
  new DataView(out.buffer).setUint32(1, payload.length);
  out.set(payload, 5);
  return out;
}

async function exchange(
  conn: Deno.QuicConn,
  request: Uint8Array,
): Promise<{ messages: string[]; status: Status | undefined }> {
  const stream = await conn.createBidirectionalStream();
  const writer = stream.writable.getWriter();
  await writer.write(request);
  await writer.close();
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream.readable) chunks.push(chunk);
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) all.set(c, (at += c.length) - c.length);
  const messages: string[] = [];
  let status: Status | undefined;
  const view = new DataView(all.buffer);
  for (let p = 0; p < all.length;) {
    const len = view.getUint32(p + 1);
    const payload = all.subarray(p + 5, p + 5 + len);
    if (all[p] === 0x02) messages.push(td.decode(payload));
    if (all[p] === 0x03) status = decodeStatus(payload);
    p += 5 + len;
  }
  return { messages, status };
}

const call = (h: Uint8Array, json: string) =>
  new Uint8Array([...frame(0x01, h), ...frame(0x02, te.encode(json))]);

Deno.test("knul interop: a Deno.connectQuic client written from docs/knul.md", async () => {
  const certs = await testCerts();
  let runs = 0;
  await using server = await serveKnul({
    cert: certs.cert,
    key: certs.key,
    log: memorySink(),
    maxHeaderBytes: 1024,
  }, {
    "math.add": (_ctx, { a, b }) => {
      runs++;
      return a + b;
    },
    "todos.get": (_ctx, { id }) => {
      runs++;
      throw new AppError("NOT_FOUND", `no todo ${id}`);
    },
    "whoami": (ctx) => {
      runs++;
      return { tenant: ctx.tenantId, left: ctx.remainingMs() };
    },
  });
  const conn = await Deno.connectQuic({
    hostname: "127.0.0.1",
    port: server.addr.port,
    alpnProtocols: ["knul/1"],
    caCerts: [certs.ca],
    serverName: "localhost",
  });
  try {
    // The byte-by-byte example of §11.
    const example = new Uint8Array([
      0x01,
      0,
      0,
      0,
      0x13,
      0x0a,
      0x08,
      ...te.encode("math.add"),
      0x1a,
      0x04,
      ...te.encode("acme"),
      0x28,
      0xf4,
      0x03,
      0x02,
      0,
      0,
      0,
      0x0d,
      ...te.encode('{"a":1,"b":2}'),
    ]);
    let r = await exchange(conn, example);
    assert.deepEqual(r.messages, ["3"]);
    assert.deepEqual(r.status, { code: 0, message: "", errorCode: "" });

    r = await exchange(
      conn,
      call(header({ method: "whoami", tenant: "t1", timeoutMs: 5000 }), "null"),
    );
    const who = JSON.parse(r.messages[0]);
    assert.equal(who.tenant, "t1");
    assert.ok(who.left > 0 && who.left <= 5000, `${who.left}`);

    r = await exchange(conn, call(header({ method: "todos.get" }), '{"id":9}'));
    assert.deepEqual(r.messages, []);
    assert.equal(r.status?.code, 5); // NOT_FOUND
    assert.equal(r.status?.errorCode, "NOT_FOUND");
    assert.equal(r.status?.message, "no todo 9");

    const before = runs;
    r = await exchange(conn, call(header({ method: "nope" }), "{}"));
    assert.equal(r.status?.code, 12); // UNIMPLEMENTED
    r = await exchange(
      conn,
      call(
        header({ method: "math.add", deadlineUnixMs: Date.now() - 1000 }),
        "{}",
      ),
    );
    assert.equal(r.status?.code, 4); // DEADLINE_EXCEEDED
    r = await exchange(conn, call(header({ method: "math.add" }), "{not json"));
    assert.equal(r.status?.code, 3); // INVALID_ARGUMENT (reached TS, which refused it)
    r = await exchange(conn, new Uint8Array([0x09, 0, 0, 0, 1, 0]));
    assert.equal(r.status?.code, 3); // unknown frame type
    r = await exchange(conn, new Uint8Array([0x01, 0, 0, 0x10, 0]));
    assert.equal(r.status?.code, 8); // header over the 1 KiB limit: RESOURCE_EXHAUSTED
    r = await exchange(
      conn,
      frame(0x01, header({ method: "math.add" })).subarray(0, 8),
    );
    assert.equal(r.status?.code, 3); // truncated HEADER
    r = await exchange(
      conn,
      new Uint8Array([
        ...frame(0x01, header({ method: "math.add" })),
        0x02,
        0,
        0,
      ]),
    );
    assert.equal(r.status?.code, 3); // truncated MESSAGE prefix
    assert.equal(runs, before, "no refused call reached a handler");

    // And the server still serves on the same connection.
    r = await exchange(
      conn,
      call(header({ method: "math.add" }), '{"a":20,"b":22}'),
    );
    assert.deepEqual(r.messages, ["42"]);
    const stats = server.stats();
    assert.equal(stats.rejectedUnimplemented, 1);
    assert.equal(stats.rejectedDeadline, 1);
    assert.equal(stats.rejectedOversize, 1);
    assert.equal(stats.rejectedProtocol, 3);
  } finally {
    conn.close({ closeCode: 0, reason: "" });
  }
});

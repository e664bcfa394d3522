/**
 * The trace headers the kernel writes for an app (`KernelAnswer.traceHeaders`) against the
 * ones `app.fetch` builds on `Deno.serve`, over real sockets: raw HTTP/1.1 (the kernel's
 * lane and its general path) and HTTP/2 with prior knowledge (curl). Each answer's headers
 * are read in wire order; `traceparent` and `x-request-id` must be exactly what the
 * request's context says (`00-<trace id>-<server span>-01`, `ctx.requestId`), and the two
 * servers must send the same fields in the same order.
 */

import assert from "node:assert/strict";
import { memorySink } from "../context/logger.ts";
import { defineCommand, defineQuery } from "../cqs/handler.ts";
import { run } from "../http/_test_util.ts";
import { exchangeBytes } from "../http/_wire.ts";
import { ok } from "../result/result.ts";
import { route } from "../router/route.ts";
import { type App, createApp } from "./create_app.ts";

/** What a handler saw: its context is a child span of the request's (server) span. */
interface Seen {
  requestId: string;
  traceId: string;
  serverSpan: string;
}

const seen = (ctx: {
  requestId: string;
  traceId: string;
  parentSpanId: string | undefined;
}): Seen => ({
  requestId: ctx.requestId,
  traceId: ctx.traceId,
  serverSpan: ctx.parentSpanId!,
});

function app(): App {
  const ids = defineQuery({ name: "ids", handle: (ctx) => ok(seen(ctx)) });
  const later = defineQuery({
    name: "later",
    handle: async (ctx) => {
      await null;
      return ok(seen(ctx));
    },
  });
  const put = defineCommand({
    name: "put",
    handle: (ctx) => ok(seen(ctx)),
  });
  const drop = defineCommand({ name: "drop", handle: () => ok(undefined) });
  return createApp({
    log: memorySink(),
    queries: [ids, later],
    commands: [put, drop],
    routes: [
      route("GET", "/ids", ids),
      route("GET", "/later", later),
      route("POST", "/put", put, { status: 201 }),
      route("DELETE", "/drop", drop),
    ],
  });
}

interface Wire {
  status: number;
  /** `name: value` in wire order, names in lower case. */
  fields: [string, string][];
  body: string;
}

/** Request fields: a record, or pairs (a name may repeat). */
type Fields = Record<string, string> | [string, string][];
const pairs = (fields: Fields) =>
  Array.isArray(fields) ? fields : Object.entries(fields);

/** One request over a new HTTP/1.1 connection, read to its close. */
async function http1(
  port: number,
  method: string,
  path: string,
  headers: Fields,
  body = "",
): Promise<Wire> {
  const lines = [`${method} ${path} HTTP/1.1`, "host: 127.0.0.1"];
  for (const [name, value] of pairs(headers)) {
    lines.push(`${name}: ${value}`);
  }
  if (body !== "") lines.push(`content-length: ${body.length}`);
  lines.push("connection: close", "", body);
  const bytes = await exchangeBytes(
    port,
    new TextEncoder().encode(lines.join("\r\n")),
  );
  return parse(new TextDecoder().decode(bytes));
}

/** One request over HTTP/2 with prior knowledge (curl prints the fields in wire order). */
async function http2(
  port: number,
  method: string,
  path: string,
  headers: Fields,
  body = "",
): Promise<Wire> {
  const args = ["-sS", "-i", "--http2-prior-knowledge", "-X", method];
  if (method === "HEAD") args.splice(args.indexOf("-X"), 2, "-I");
  for (const [name, value] of pairs(headers)) {
    // `name;` is curl's way to send a field with an empty value.
    args.push("-H", value === "" ? `${name};` : `${name}: ${value}`);
  }
  if (body !== "") args.push("--data-binary", body);
  args.push(`http://127.0.0.1:${port}${path}`);
  return parse(await run("curl", args));
}

function parse(text: string): Wire {
  const end = text.indexOf("\r\n\r\n");
  assert.ok(end > 0, `no response head in ${JSON.stringify(text)}`);
  const [status, ...lines] = text.slice(0, end).split("\r\n");
  return {
    status: Number(status.split(" ")[1]),
    fields: lines.map((line) => {
      const colon = line.indexOf(":");
      return [
        line.slice(0, colon).toLowerCase(),
        line.slice(colon + 1).trim(),
      ];
    }),
    body: text.slice(end + 4),
  };
}

/** Fields each server adds on its own (the two frame and date responses differently). */
const SERVERS_OWN = ["date", "content-length", "vary", "connection"];

/**
 * The fields of `wire` in order, its trace fields checked against what the handler saw
 * (when it answered with its ids) and then replaced by placeholders.
 */
function shape(wire: Wire, incomingTrace: string | undefined) {
  const fields: string[] = [];
  const seen = wire.body.startsWith("{") && wire.body.includes("serverSpan")
    ? JSON.parse(wire.body) as Seen
    : undefined;
  for (const [name, value] of wire.fields) {
    if (name === "traceparent") {
      assert.match(value, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      if (seen) {
        assert.equal(value, `00-${seen.traceId}-${seen.serverSpan}-01`);
      }
      if (incomingTrace) assert.equal(value.slice(3, 35), incomingTrace);
      fields.push("traceparent: <ctx>");
    } else if (name === "x-request-id") {
      if (seen) assert.equal(value, seen.requestId);
      else assert.ok(value.length > 0);
      fields.push("x-request-id: <ctx>");
    } else if (!SERVERS_OWN.includes(name)) fields.push(`${name}: ${value}`);
  }
  return { status: wire.status, fields, body: seen ? "<ids>" : wire.body };
}

/** The test app on the kernel (`app.serve`) and through `app.fetch` on `Deno.serve`. */
async function bothHosts() {
  const subject = app();
  const kernel = await subject.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
  });
  const deno = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => subject.fetch(req),
  );
  return { kernel, deno };
}

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";

for (const protocol of ["HTTP/1.1", "HTTP/2"]) {
  Deno.test(`${protocol}: the kernel writes the trace headers app.fetch builds, in the same place`, async () => {
    const exchange = protocol === "HTTP/1.1" ? http1 : http2;
    const { kernel, deno } = await bothHosts();
    try {
      const ports = [kernel.addr.port, (deno.addr as Deno.NetAddr).port];
      const json = { "content-type": "application/json" };
      for (
        const incoming of [
          undefined,
          `00-${TRACE}-00f067aa0ba902b7-01`,
          // Upper case and not sampled: continued in lower case, answered sampled (-01).
          `00-${TRACE.toUpperCase()}-00F067AA0BA902B7-00`,
        ]
      ) {
        const trace: Record<string, string> = incoming
          ? { traceparent: incoming }
          : {};
        const requests: [string, string, Record<string, string>, string?][] = [
          ["GET", "/ids", trace],
          ["GET", "/later", trace],
          ["HEAD", "/ids", trace],
          ["POST", "/put", { ...trace, ...json }, '{"a":1}'],
          ["DELETE", "/drop", trace],
          ["GET", "/nothing", trace],
          ["PUT", "/ids", trace], // 405: `allow` after the trace fields
        ];
        const answers = [];
        for (const port of ports) {
          const shapes = [];
          for (const [method, path, headers, body] of requests) {
            const wire = await exchange(port, method, path, headers, body);
            shapes.push(shape(wire, incoming && TRACE));
          }
          answers.push(shapes);
        }
        assert.deepEqual(answers[0], answers[1], `incoming ${incoming}`);
        assert.deepEqual(answers[0].map((a) => a.status), [
          200,
          200,
          200,
          201,
          204,
          404,
          405,
        ]);
        assert.deepEqual(answers[0][0].fields, [
          "content-type: application/json; charset=utf-8",
          "traceparent: <ctx>",
          "x-request-id: <ctx>",
        ]);
        assert.deepEqual(answers[0][6].fields.slice(1), [
          "traceparent: <ctx>",
          "x-request-id: <ctx>",
          "allow: GET, HEAD",
        ]);
      }
    } finally {
      await kernel.shutdown();
      await deno.shutdown();
    }
  });
}

/** Well-formed request ids: 1 to 128 visible ASCII characters. */
const KEPT = [
  "client/42",
  "~".repeat(128),
  "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}",
];
/** Request ids replaced by a fresh one: each is a valid field value, but not an id to echo. */
const REPLACED: [string, [string, string][]][] = [
  ["empty", [["x-request-id", ""]]],
  ["a space", [["x-request-id", "a b"]]],
  ["a tab", [["x-request-id", "a\tb"]]],
  ["129 characters", [["x-request-id", "x".repeat(129)]]],
  ["not ASCII", [["x-request-id", "caf\u00e9"]]],
  ["two fields", [["x-request-id", "a"], ["x-request-id", "b"]]],
];

for (const protocol of ["HTTP/1.1", "HTTP/2"]) {
  Deno.test(`${protocol}: a well-formed incoming x-request-id is echoed and a hostile one replaced, as by app.fetch`, async () => {
    const exchange = protocol === "HTTP/1.1" ? http1 : http2;
    const { kernel, deno } = await bothHosts();
    // What each server made of an id: the handler's ctx.requestId and the answer's field.
    const ids = async (port: number, headers: [string, string][]) => {
      const got = [];
      // The lane (a bodiless GET), a body that came with its head, and a 404.
      for (
        const [method, path, body] of [
          ["GET", "/ids", ""],
          ["POST", "/put", '{"a":1}'],
          ["GET", "/nothing", ""],
        ]
      ) {
        const fields: [string, string][] = body === ""
          ? headers
          : [...headers, ["content-type", "application/json"]];
        const wire = await exchange(port, method, path, fields, body);
        const sent = wire.fields.filter(([name]) => name === "x-request-id");
        assert.equal(sent.length, 1, `${method} ${path}`);
        const seen = wire.body.includes("serverSpan")
          ? (JSON.parse(wire.body) as Seen).requestId
          : sent[0][1];
        assert.equal(sent[0][1], seen, "the field is what the handler saw");
        got.push(seen);
      }
      return got;
    };
    try {
      for (const id of KEPT) {
        for (const port of [kernel.addr.port, deno.addr.port]) {
          assert.deepEqual(
            await ids(port, [["x-request-id", id]]),
            [id, id, id],
            `${port === deno.addr.port ? "app.fetch" : "kernel"}: ${id}`,
          );
        }
      }
      for (const [what, headers] of REPLACED) {
        for (const port of [kernel.addr.port, deno.addr.port]) {
          const server = port === deno.addr.port ? "app.fetch" : "kernel";
          const got = await ids(port, headers);
          assert.equal(new Set(got).size, 3, `${server}, ${what}: fresh ids`);
          for (const fresh of got) {
            assert.match(fresh, /^[\x21-\x7e]{1,128}$/, `${server}, ${what}`);
            const incoming = headers.map(([, value]) => value);
            assert.ok(
              ![...incoming, incoming.join(", ")].includes(fresh),
              `${server}, ${what}: ${fresh}`,
            );
          }
        }
      }
    } finally {
      await kernel.shutdown();
      await deno.shutdown();
    }
  });
}

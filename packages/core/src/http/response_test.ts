/**
 * Every shape of `Response` a handler commonly returns — the ones `serve()` reads through
 * its fast path and the ones it reads in general — goes on the wire byte for byte as
 * `Deno.serve` sends it (raw HTTP/1.1 over TCP, both servers in the same test).
 */

import assert from "node:assert/strict";
import { exchange, pair, type WireResponse } from "./_wire.ts";
import { type AnswerHandler, KernelAnswer, LaterAnswer } from "./response.ts";
import { serveAnswers } from "./serve.ts";
import { Pending } from "../pipeline/pending.ts";

const served: Response[] = [];
/** One Response per server, returned by every request to `/shared`. */
const shared = new Map<string, Response>();

const routes: Record<string, () => Response | Promise<Response>> = {
  "/text": () => {
    const response = new Response("hello");
    served.push(response);
    return response;
  },
  "/text-201": () => new Response("hello", { status: 201 }),
  "/text-type": () =>
    new Response("<b>x</b>", { headers: { "content-type": "text/html" } }),
  "/text-Type": () =>
    new Response("{}", { headers: { "Content-Type": "application/json" } }),
  "/unicode": () => new Response("héllo ☃ 😀"),
  "/long": () => new Response("x".repeat(1000) + "é"),
  "/json": () => Response.json({ a: 1, s: "é" }),
  "/json-init": () =>
    Response.json({ a: 1 }, { status: 404, headers: { "x-a": "1" } }),
  "/bytes": () => new Response(new Uint8Array([104, 105])),
  "/bytes-type": () =>
    new Response(new Uint8Array([1, 2, 3]), {
      headers: { "content-type": "application/octet-stream" },
    }),
  "/null": () => new Response(null),
  "/204": () => new Response(null, { status: 204 }),
  "/latin": () => new Response("ok", { headers: { "x-latin": "caf\u00e9" } }),
  "/cookies": () => {
    const headers = new Headers();
    headers.append("set-cookie", "a=1");
    headers.append("set-cookie", "b=2");
    headers.append("x-dup", "a");
    headers.append("x-dup", "b");
    return new Response("c", { headers });
  },
  "/mutated": () => {
    const response = new Response("m");
    response.headers.set("x-b", "2");
    return response;
  },
  "/status-text": () => new Response("s", { status: 200, statusText: "Fine" }),
  "/blob": () => new Response(new Blob(["blob"], { type: "text/x-blob" })),
  "/headers-object": () =>
    new Response("h", { headers: new Headers([["x-h", "1"]]) }),
  "/redirect": () => Response.redirect("http://example.com/", 302),
  "/shared": () => new Response("never"), // replaced per server below
  "/used": async () => {
    const response = new Response("u");
    await response.text();
    return response;
  },
};

function comparable(res: WireResponse) {
  const headers = [...res.headers].filter(([name]) => name !== "date").sort();
  return {
    status: res.status,
    headers,
    body: String.fromCharCode(...res.body),
  };
}

Deno.test("common Response shapes go on the wire exactly as Deno.serve sends them", async () => {
  const failures: unknown[] = [];
  const onError = (error: unknown) => {
    failures.push(error);
    return new Response("onError", { status: 500 });
  };
  await using servers = await pair(
    (req, info) => {
      const url = new URL(req.url);
      if (url.pathname !== "/shared") return routes[url.pathname]();
      // A general-path response (status 201 and a header): served once, then refused.
      // Each server gets its own (only the kernel's passes a `ctx`; the requests' URLs
      // are alike): one served by either reads as used, and the other would refuse it.
      const server = info.ctx === undefined ? "deno" : "krepis";
      if (!shared.has(server)) {
        shared.set(
          server,
          new Response("s", { status: 201, headers: { "x-s": "1" } }),
        );
      }
      return shared.get(server)!;
    },
    { onError },
    { onError },
  );
  const seen: Record<string, ReturnType<typeof comparable>> = {};
  const paths = Object.keys(routes);
  for (let i = 0; i < paths.length; i++) {
    const path = paths[i];
    const request =
      `GET ${path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n`;
    const krepis = comparable(await exchange(servers.krepis, request));
    const deno = comparable(await exchange(servers.deno, request));
    assert.deepEqual(krepis, deno, path);
    seen[path] = krepis;
  }
  // What they agree on is what Deno documents.
  assert.deepEqual(seen["/text"].headers, [
    ["connection", "close"],
    ["content-length", "5"],
    ["content-type", "text/plain;charset=UTF-8"],
  ]);
  assert.deepEqual(seen["/bytes"].headers, [
    ["connection", "close"],
    ["content-length", "2"],
  ]);
  assert.equal(
    seen["/latin"].headers.find(([name]) => name === "x-latin")?.[1],
    "caf\xe9",
  );
  assert.equal(
    seen["/cookies"].headers.find(([name]) => name === "set-cookie")?.[1],
    "a=1, b=2",
  );
  assert.equal(
    seen["/unicode"].body,
    "h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x98\x80",
  );
  assert.equal(seen["/used"].status, 500);
  assert.equal(seen["/shared"].status, 201);
  const again = "GET /shared HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n";
  const krepisAgain = comparable(await exchange(servers.krepis, again));
  assert.deepEqual(
    krepisAgain,
    comparable(await exchange(servers.deno, again)),
  );
  assert.equal(krepisAgain.status, 500);
  assert.equal(failures.length, 4);
  for (let i = 0; i < failures.length; i++) {
    assert.ok(failures[i] instanceof TypeError);
  }

  // A served body reads as used afterwards, under both.
  assert.equal(served.length, 2);
  assert.ok(served[0].bodyUsed && served[1].bodyUsed);
  // Through the general path too (Deno.serve marks the body it takes used).
  assert.ok(shared.get("krepis")!.bodyUsed && shared.get("deno")!.bodyUsed);
});

Deno.test("a KernelAnswer goes on the wire as Deno.serve sends the Response it stands for", async () => {
  const json = '{"a":"\u00e9"}';
  const cases: [string, KernelAnswer, () => Response][] = [
    [
      "/json-201",
      new KernelAnswer(
        201,
        Object.freeze(["content-type", "application/json; charset=utf-8"]),
        json,
        ["x-request-id", "r1"],
      ),
      () =>
        new Response(json, {
          status: 201,
          headers: {
            "content-type": "application/json; charset=utf-8",
            "x-request-id": "r1",
          },
        }),
    ],
    [
      "/204",
      new KernelAnswer(204, ["x-a", "1"], null),
      () => new Response(null, { status: 204, headers: { "x-a": "1" } }),
    ],
    ["/empty-200", new KernelAnswer(200, [], null), () => new Response(null)],
    [
      "/large",
      new KernelAnswer(200, [], "x".repeat(100_000)),
      () => new Response("x".repeat(100_000), { headers: {} }),
    ],
  ];
  const krepis = serveAnswers(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => cases.find(([path]) => req.url.endsWith(path))![1],
  );
  const deno = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => cases.find(([path]) => req.url.endsWith(path))![2](),
  );
  try {
    for (const [path] of cases) {
      const request =
        `GET ${path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n`;
      const wire = comparable(await exchange(krepis.addr.port, request));
      // `new Response(string)` adds the default text type, which a KernelAnswer leaves out.
      const expected = comparable(await exchange(deno.addr.port, request));
      expected.headers = expected.headers.filter(([name, value]) =>
        !(name === "content-type" && value.startsWith("text/plain"))
      );
      assert.deepEqual(wire, expected, path);
    }
  } finally {
    await Promise.all([krepis.shutdown(), deno.shutdown()]);
  }
});

/**
 * Serves `answer(path)` on the kernel's server, with an `onError` that records what it is
 * given and answers 500 "onError"; runs `use` with a GET that gives "<status> <body>", and
 * returns what `onError` got.
 */
async function onKernelServer(
  answer: (path: string) => ReturnType<AnswerHandler>,
  use: (get: (path: string) => Promise<string>) => Promise<void>,
): Promise<unknown[]> {
  const errors: unknown[] = [];
  const krepis = serveAnswers({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
    onError(error) {
      errors.push(error);
      return new Response("onError", { status: 500 });
    },
  }, (req) => answer(new URL(req.url).pathname));
  try {
    await use(async (path) => {
      const res = await fetch(`http://127.0.0.1:${krepis.addr.port}${path}`);
      return `${res.status} ${await res.text()}`;
    });
  } finally {
    await krepis.shutdown();
  }
  return errors;
}

Deno.test("a LaterAnswer counts its first settlement, as a promise would; one that throws goes to onError", async () => {
  const later: Record<string, LaterAnswer> = {
    "/twice": new LaterAnswer((resolve, reject) => {
      resolve(new KernelAnswer(201, [], "first"));
      resolve(new KernelAnswer(202, [], "second"));
      reject(new Error("late"));
    }),
    "/later": new LaterAnswer((resolve) =>
      setTimeout(() => resolve(new Response("from a timer")), 10)
    ),
    "/throws": new LaterAnswer(() => {
      throw new Error("boom");
    }),
    "/rejects": new LaterAnswer((_, reject) => reject(new Error("no"))),
  };
  const errors = await onKernelServer((path) => later[path], async (get) => {
    assert.equal(await get("/twice"), "201 first");
    assert.equal(await get("/later"), "200 from a timer");
    assert.equal(await get("/throws"), "500 onError");
    assert.equal(await get("/rejects"), "500 onError");
  });
  assert.deepEqual(errors.map((e) => (e as Error).message), ["boom", "no"]);
});

Deno.test("a Pending answer is followed by the server: its outcome is the response, a rejection or a source that throws goes to onError", async () => {
  const answers: Record<string, () => Pending> = {
    "/later": () =>
      new Pending(new Promise((r) => setTimeout(() => r("from a timer"), 10)))
        .map((text) => new KernelAnswer(201, [], text as string)),
    "/response": () =>
      new Pending(Promise.resolve("x")).map(() => new Response("a Response")),
    "/rejects": () => new Pending(Promise.reject(new Error("no"))),
    "/layer-throws": () =>
      new Pending(Promise.resolve(1)).map(() => {
        throw new Error("boom");
      }),
    "/source-throws": () =>
      new Pending({
        then() {
          throw new Error("then threw");
        },
      }),
  };
  const errors = await onKernelServer(
    (path) => answers[path](),
    async (get) => {
      assert.equal(await get("/later"), "201 from a timer");
      assert.equal(await get("/response"), "200 a Response");
      assert.equal(await get("/rejects"), "500 onError");
      assert.equal(await get("/layer-throws"), "500 onError");
      assert.equal(await get("/source-throws"), "500 onError");
    },
  );
  assert.deepEqual(errors.map((e) => (e as Error).message), [
    "no",
    "boom",
    "then threw",
  ]);
});

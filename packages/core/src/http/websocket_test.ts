/**
 * `upgradeWebSocket` (issue 9 item 20) against `Deno.upgradeWebSocket` in the same tests,
 * with Deno's real `WebSocket` client and a raw frame client (pings, fragments, oversized
 * frames), and a Hono WebSocket route.
 */

import assert from "node:assert/strict";
import { Hono } from "hono";
import { defineWebSocketHelper } from "hono/ws";
import { serve, upgradeWebSocket } from "@krepis/core/http";
import { rawWebSocket } from "./_ws_raw.ts";
import { connectAndWrite } from "./_test_util.ts";
import { until } from "../_poll.ts";

type Upgrade = (
  req: Request,
  options?: { protocol?: string; idleTimeout?: number },
) => { socket: WebSocket; response: Response };

/** What the server side saw, for comparison. */
interface Seen {
  events: string[];
  closed: Promise<void>;
}

/** Serves an echo socket with `upgrade` (Deno's or ours) and records its events. */
async function echoServer(
  kind: "deno" | "krepis",
  options: { idleTimeout?: number } = {},
): Promise<{ port: number; seen: Seen[]; stop: () => Promise<void> }> {
  const seen: Seen[] = [];
  const upgrade: Upgrade = kind === "deno"
    ? Deno.upgradeWebSocket
    : upgradeWebSocket;
  const handler = (req: Request) => {
    const { socket, response } = upgrade(req, options);
    const events: string[] = [
      `state ${socket.readyState} ${socket.binaryType} ${
        socket instanceof WebSocket
      }`,
      `url "${socket.url}" status ${response.status}`,
    ];
    let done!: () => void;
    seen.push({ events, closed: new Promise((r) => done = r) });
    socket.onopen = () => events.push(`open ${socket.readyState}`);
    socket.onmessage = (e) => {
      const data = e.data;
      events.push(
        typeof data === "string"
          ? `text ${data.length}`
          : `binary ${data.byteLength}`,
      );
      if (data === "close please") socket.close(4000, "as asked");
      else if (data === "just close") socket.close();
      else if (data === "view please") {
        socket.send(new Uint8Array([0, 1, 2, 3, 4]).subarray(1, 4));
      } else if (data === "number please") {
        socket.send(42 as unknown as string);
      } else socket.send(data);
    };
    socket.onerror = (e) =>
      events.push(`error ${e instanceof ErrorEvent ? e.message : ""}`);
    socket.onclose = (e) => {
      events.push(`close ${e.code} ${e.reason} ${e.wasClean}`);
      done();
    };
    return response;
  };
  if (kind === "deno") {
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      handler,
    );
    return { port: server.addr.port, seen, stop: () => server.shutdown() };
  }
  const server = await serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    handler,
  );
  return { port: server.addr.port, seen, stop: () => server.shutdown() };
}

async function both<T>(
  run: (port: number) => Promise<T>,
  options: { idleTimeout?: number } = {},
) {
  const deno = await echoServer("deno", options);
  const krepis = await echoServer("krepis", options);
  try {
    const results = [await run(deno.port), await run(krepis.port)];
    await Promise.all([...deno.seen, ...krepis.seen].map((s) => s.closed));
    return { results, deno: deno.seen, krepis: krepis.seen };
  } finally {
    await Promise.all([deno.stop(), krepis.stop()]);
  }
}

function client(port: number): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/chat`);
  ws.binaryType = "arraybuffer";
  return new Promise((resolve, reject) => {
    ws.onopen = () => resolve(ws);
    ws.onerror = (e) => reject(e);
  });
}

function nextMessage(ws: WebSocket): Promise<unknown> {
  return new Promise((r) =>
    ws.addEventListener("message", (e) => r(e.data), { once: true })
  );
}

function closed(ws: WebSocket): Promise<string> {
  return new Promise((r) =>
    ws.addEventListener(
      "close",
      (e) => r(`${e.code} ${e.reason} ${e.wasClean}`),
      {
        once: true,
      },
    )
  );
}

Deno.test("echo with Deno's WebSocket client; close codes both ways match Deno", async () => {
  const { results, deno, krepis } = await both(async (port) => {
    const ws = await client(port);
    const log: string[] = [];
    ws.send("hello");
    log.push(`${await nextMessage(ws)}`);
    ws.send(new Uint8Array([1, 2, 3]));
    log.push(`${new Uint8Array(await nextMessage(ws) as ArrayBuffer)}`);
    ws.send("view please");
    log.push(`${new Uint8Array(await nextMessage(ws) as ArrayBuffer)}`);
    ws.send("number please");
    log.push(`${typeof await nextMessage(ws)}`);
    const big = "x".repeat(1 << 20);
    ws.send(big);
    log.push(`${(await nextMessage(ws) as string).length}`);
    // Larger than the 64 KiB poll buffer: taken into a buffer of its own.
    const bytes = new Uint8Array(200_000).map((_, i) => (i * 7) & 255);
    ws.send(bytes);
    const back = new Uint8Array(await nextMessage(ws) as ArrayBuffer);
    log.push(`${back.length} ${back.every((b, i) => b === bytes[i])}`);
    const done = closed(ws);
    ws.close(4001, "bye");
    log.push(await done);
    return log;
  });
  assert.deepEqual(results[1], results[0]);
  assert.deepEqual(results[1], [
    "hello",
    "1,2,3",
    "1,2,3",
    "string",
    String(1 << 20),
    "200000 true",
    "4001 bye true",
  ]);
  assert.deepEqual(krepis.map((s) => s.events), deno.map((s) => s.events));
});

for (
  const [name, ask, seen] of [
    [
      "a close from the server reaches the client as Deno's does",
      "close please",
      "4000 as asked true",
    ],
    [
      "close() without a code: the client sees 1005, as with Deno",
      "just close",
      "1005  true",
    ],
  ]
) {
  Deno.test(name, async () => {
    const { results, deno, krepis } = await both(async (port) => {
      const ws = await client(port);
      const done = closed(ws);
      ws.send(ask);
      return await done;
    });
    assert.equal(results[0], seen);
    assert.equal(results[1], results[0]);
    assert.deepEqual(krepis.map((s) => s.events), deno.map((s) => s.events));
  });
}

Deno.test("pings get pongs, fragments are joined, oversized frames end the socket", async () => {
  const { results, deno, krepis } = await both(async (port) => {
    const log: string[] = [];
    const raw = await rawWebSocket(port);
    await raw.send(9, "are you there");
    const pong = await raw.next();
    log.push(`${pong?.opcode} ${new TextDecoder().decode(pong?.payload)}`);
    await raw.send(1, "frag", false);
    await raw.send(0, "men", false);
    await raw.send(0, "ted", true);
    const joined = await raw.next();
    log.push(`${joined?.opcode} ${new TextDecoder().decode(joined?.payload)}`);
    // A frame header announcing 65 MiB, past the 64 MiB limit: the server closes.
    const head = new Uint8Array([
      0x82,
      0x80 | 127,
      0,
      0,
      0,
      0,
      0x04,
      0x10,
      0,
      0,
      1,
      2,
      3,
      4,
    ]);
    await raw.write(head);
    const close = await raw.next();
    if (close !== null) {
      log.push(`close frame ${(close.payload[0] << 8) | close.payload[1]}`);
    }
    // Either way the connection ends there.
    log.push(`then ${await raw.next()}`);
    raw.close();
    return log;
  });
  assert.deepEqual(results[0].slice(0, 2), [
    "10 are you there",
    "1 fragmented",
  ]);
  assert.deepEqual(results[1].slice(0, 2), results[0].slice(0, 2));
  // Deno drops the connection without a close frame; the kernel first sends 1009
  // ("message too big", RFC 6455 §7.4.1).
  assert.deepEqual(results[0].slice(2), ["then null"]);
  assert.deepEqual(results[1].slice(2), ["close frame 1009", "then null"]);
  // The server-side sockets saw the same messages, then an error and an unclean close
  // (Deno reports code 0, the kernel 1009).
  assert.deepEqual(krepis[0].events.slice(0, 4), deno[0].events.slice(0, 4));
  assert.match(deno[0].events[4], /^error /);
  assert.equal(krepis[0].events[4], "error message too big");
  assert.equal(deno[0].events[5], "close 0  false");
  assert.equal(krepis[0].events[5], "close 1009 message too big false");
});

Deno.test("upgradeWebSocket refuses what Deno.upgradeWebSocket refuses", async () => {
  const errors: string[][] = [[], []];
  const make = (i: number, upgrade: Upgrade) => (req: Request) => {
    try {
      upgrade(req);
    } catch (e) {
      errors[i].push(`${(e as Error).name}: ${(e as Error).message}`);
    }
    return new Response("no");
  };
  const deno = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    make(0, Deno.upgradeWebSocket),
  );
  await using krepis = await serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    make(1, upgradeWebSocket),
  );
  for (const port of [deno.addr.port, krepis.addr.port]) {
    for (
      const headers of [
        "",
        "Upgrade: websocket\r\n",
        "Upgrade: websocket\r\nConnection: Upgrade\r\n",
      ]
    ) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(
        new TextEncoder().encode(
          `GET / HTTP/1.1\r\nHost: a\r\n${headers}Connection: close\r\n\r\n`,
        ),
      );
      await conn.read(new Uint8Array(4096));
      conn.close();
    }
  }
  await deno.shutdown();
  assert.equal(errors[1].length, 3);
  assert.deepEqual(errors[1], errors[0]);
});

Deno.test("a Hono app's WebSocket route works through upgradeWebSocket", async () => {
  const upgrade = defineWebSocketHelper((c, events) => {
    const { socket, response } = upgradeWebSocket(c.req.raw);
    const ws = {
      send: (data: string | ArrayBuffer) => socket.send(data),
      close: (code?: number, reason?: string) => socket.close(code, reason),
      raw: socket,
      readyState: 1 as const,
      url: null,
      protocol: null,
      binaryType: "arraybuffer" as const,
    };
    socket.onopen = (e) => events.onOpen?.(e, ws as never);
    socket.onmessage = (e) => events.onMessage?.(e, ws as never);
    socket.onclose = (e) => events.onClose?.(e, ws as never);
    return response;
  });
  const app = new Hono();
  let closedOnServer!: () => void;
  const serverClosed = new Promise<void>((r) => closedOnServer = r);
  app.get(
    "/ws/:room",
    upgrade((c) => ({
      onMessage(event, ws) {
        ws.send(`${c.req.param("room")}: ${event.data}`);
      },
      onClose() {
        closedOnServer();
      },
    })),
  );
  app.get("/", (c) => c.text("plain"));
  await using server = await serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
  }, app.fetch);
  const base = `127.0.0.1:${server.addr.port}`;
  assert.equal(await (await fetch(`http://${base}/`)).text(), "plain");
  const ws = new WebSocket(`ws://${base}/ws/lobby`);
  await new Promise((r) => ws.onopen = r);
  ws.send("hi");
  assert.equal(await nextMessage(ws), "lobby: hi");
  const done = closed(ws);
  ws.close(1000, "done");
  assert.equal(await done, "1000 done true");
  await serverClosed;
});

Deno.test("shutdown closes open sockets as Deno.serve does: 1001 to the client, 1005 on the server, before shutdown resolves", async () => {
  const results = [];
  for (const kind of ["deno", "krepis"] as const) {
    const server = await echoServer(kind);
    const ws = await client(server.port);
    const clientClosed = closed(ws);
    const raw = await rawWebSocket(server.port);
    const log: string[] = [];
    await server.stop();
    // Both server-side sockets had their close event by the time shutdown resolved.
    log.push(`after shutdown: ${server.seen.map((s) => s.events.at(-1))}`);
    log.push(`client: ${await clientClosed}`);
    const frame = await raw.next();
    log.push(
      `raw: opcode ${frame?.opcode} code ${
        frame && ((frame.payload[0] << 8) | frame.payload[1])
      } "${frame && new TextDecoder().decode(frame.payload.subarray(2))}"`,
    );
    log.push(`then ${await raw.next()}`);
    raw.close();
    results.push(log);
  }
  assert.deepEqual(results[0], [
    "after shutdown: close 1005  true,close 1005  true",
    "client: 1001 Server shutting down true",
    'raw: opcode 8 code 1001 "Server shutting down"',
    "then null",
  ]);
  assert.deepEqual(results[1], results[0]);
});

Deno.test("idleTimeout: a silent client is pinged at half, closed with 1001 at the full time, as with Deno", async () => {
  const { results, deno, krepis } = await both(async (port) => {
    const raw = await rawWebSocket(port);
    const log: string[] = [];
    // The raw client answers nothing: a ping, then the close, then the end.
    for (let i = 0; i < 3; i++) {
      const frame = await raw.next();
      if (frame === null) {
        log.push("end");
        break;
      }
      log.push(`${frame.opcode} ${new TextDecoder().decode(frame.payload)}`);
    }
    raw.close();
    return log;
  }, { idleTimeout: 0.5 });
  assert.deepEqual(results[0], [
    "9 ",
    "8 \u0003\u00e9No response from ping frame.".replace(
      "\u00e9",
      "\ufffd",
    ),
    "end",
  ]);
  assert.deepEqual(results[1], results[0]);
  // Deno dispatches a second close event (1005) afterwards; the first ones agree.
  const upToClose = (events: string[]) =>
    events.slice(0, events.findIndex((e) => e.startsWith("close")) + 1);
  assert.deepEqual(upToClose(krepis[0].events), upToClose(deno[0].events));
  assert.deepEqual(upToClose(krepis[0].events).slice(2), [
    "open 1",
    "error No response from ping frame.",
    "close 1001 No response from ping frame. false",
  ]);
});

Deno.test("idleTimeout: pongs keep a socket open, as with Deno", async () => {
  const { results, deno, krepis } = await both(async (port) => {
    const raw = await rawWebSocket(port);
    const log: string[] = [];
    // Two pings answered, the second past the full idle time since the socket opened.
    // (Each pong has half the idle time to arrive: generous for a loaded machine.)
    for (let i = 0; i < 2; i++) {
      const frame = await raw.next();
      log.push(`${frame?.opcode}`);
      await raw.send(10, frame?.payload ?? "");
    }
    await raw.send(1, "still here");
    const echo = await raw.next();
    log.push(`${echo?.opcode} ${new TextDecoder().decode(echo?.payload)}`);
    await raw.send(8, new Uint8Array([0x03, 0xe8]));
    const close = await raw.next();
    log.push(`${close?.opcode}`);
    raw.close();
    return log;
  }, { idleTimeout: 1.6 });
  assert.deepEqual(results[0], ["9", "9", "1 still here", "8"]);
  assert.deepEqual(results[1], results[0]);
  assert.deepEqual(krepis[0].events, deno[0].events);
});

Deno.test("protocol negotiation and its errors are Deno's", async () => {
  const make = (upgrade: Upgrade) => (req: Request) => {
    const protocol = new URL(req.url).searchParams.get("p") ?? undefined;
    try {
      const { socket, response } = upgrade(req, { protocol });
      socket.onopen = () =>
        socket.send(
          `server protocol "${socket.protocol}" status ${response.status} headers ${
            JSON.stringify([...response.headers])
          }`,
        );
      return response;
    } catch (e) {
      return new Response(`${(e as Error).name}: ${(e as Error).message}`, {
        status: 400,
      });
    }
  };
  const deno = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    make(Deno.upgradeWebSocket),
  );
  await using krepis = await serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    make(upgradeWebSocket),
  );
  const results: string[][] = [];
  for (const port of [deno.addr.port, krepis.addr.port]) {
    const log: string[] = [];
    const ws = new WebSocket(`ws://127.0.0.1:${port}/?p=superchat`, [
      "chat",
      "superchat",
    ]);
    const first = nextMessage(ws);
    await new Promise((r) => ws.onopen = r);
    log.push(
      `client protocol ${ws.protocol}`,
      // Deno's client sends a random key: the accept header differs every time.
      `${await first}`.replace(/headers .*/, "headers <random key>"),
    );
    const done = closed(ws);
    ws.close();
    await done;
    // Offered (with the fixed key of the raw client, so the response headers can be
    // compared whole); not offered, offered without ", " between names, nothing offered.
    for (
      const [p, header] of [
        ["superchat", "Sec-WebSocket-Protocol: chat, superchat\r\n"],
        ["other", "Sec-WebSocket-Protocol: chat, superchat\r\n"],
        ["superchat", "Sec-WebSocket-Protocol: chat,superchat\r\n"],
        ["chat", ""],
      ]
    ) {
      const outcome = await rawWebSocket(port, `/?p=${p}`, header).then(
        async (raw) => {
          const first = await raw.next();
          raw.close();
          return new TextDecoder().decode(first?.payload);
        },
        (e) => (e as Error).message.split("\r\n\r\n")[1],
      );
      log.push(outcome);
    }
    results.push(log);
  }
  await deno.shutdown();
  assert.deepEqual(results[0], [
    "client protocol superchat",
    'server protocol "" status 101 headers <random key>',
    'server protocol "" status 101 headers [["connection","Upgrade"],' +
    '["sec-websocket-accept","s3pPLMBiTxaQ9kYGzzhZRbK+xOo="],' +
    '["sec-websocket-protocol","superchat"],["upgrade","websocket"]]',
    "TypeError: Protocol 'other' not in the request's protocol list (non negotiable)",
    "TypeError: Protocol 'superchat' not in the request's protocol list (non negotiable)",
    "TypeError: Protocol 'chat' not in the request's protocol list (non negotiable)",
  ]);
  assert.deepEqual(results[1], results[0]);
});

Deno.test("upgrading twice, after the response, or a request serve() did not receive: Deno's errors and results", async () => {
  const log: string[][] = [[], []];
  const late: Request[] = [];
  const make = (i: number, upgrade: Upgrade) => (req: Request) => {
    const describe = (e: unknown) =>
      `${(e as Error).name} ${(e as Error).message} Http:${
        e instanceof Deno.errors.Http
      }`;
    if (new URL(req.url).pathname === "/late") {
      late[i] = req;
      return new Response("not now");
    }
    const first = upgrade(req);
    try {
      upgrade(req);
      log[i].push("second upgrade passed");
    } catch (e) {
      log[i].push(describe(e));
    }
    first.socket.onopen = () => first.socket.close(1000, "done");
    return first.response;
  };
  const deno = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    make(0, Deno.upgradeWebSocket),
  );
  await using krepis = await serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    make(1, upgradeWebSocket),
  );
  const ports = [deno.addr.port, krepis.addr.port];
  for (let i = 0; i < 2; i++) {
    const ws = await client(ports[i]);
    log[i].push(await closed(ws));
    await rawWebSocket(ports[i], "/late").catch(() => {});
    try {
      [Deno.upgradeWebSocket, upgradeWebSocket][i](late[i]);
      log[i].push("late upgrade passed");
    } catch (e) {
      log[i].push(`${(e as Error).name} ${(e as Error).message}`);
    }
  }
  await deno.shutdown();
  assert.deepEqual(log[0], [
    "Http Already upgraded Http:true",
    "1000 done true",
    "TypeError Request closed",
  ]);
  assert.deepEqual(log[1], log[0]);

  // A Request made by hand: Deno hands back a socket that never opens, and so does
  // upgradeWebSocket (it passes requests it did not receive to Deno).
  const plain = () =>
    new Request("http://x/", {
      headers: {
        upgrade: "websocket",
        connection: "Upgrade",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      },
    });
  const mine = upgradeWebSocket(plain());
  const theirs = Deno.upgradeWebSocket(plain());
  assert.deepEqual(
    [mine.response.status, mine.socket.readyState],
    [theirs.response.status, theirs.socket.readyState],
  );
  assert.throws(
    () => upgradeWebSocket(new Request("http://x/")),
    (e) => e instanceof TypeError && /'upgrade' header/.test(e.message),
  );
});

Deno.test("upgradeWebSocket on a Deno.serve request is Deno's own upgrade: one handler serves both", async () => {
  const handler = (req: Request) => {
    const { socket, response } = upgradeWebSocket(req);
    socket.onmessage = (e) => socket.send(`echo ${e.data}`);
    return response;
  };
  const deno = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    handler,
  );
  await using krepis = serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    handler,
  );
  for (const port of [deno.addr.port, krepis.addr.port]) {
    const ws = await client(port);
    ws.send("hi");
    assert.equal(await nextMessage(ws), "echo hi");
    const done = closed(ws);
    ws.close();
    await done;
  }
  await deno.shutdown();
});

Deno.test("a socket whose request ends without its 101 (another response, the deadline) closes with 1006", async () => {
  const seen: string[] = [];
  const closedOnServer: Promise<void>[] = [];
  await using server = serve(
    { hostname: "127.0.0.1", port: 0, onListen() {}, requestTimeout: 300 },
    async (req) => {
      const path = new URL(req.url).pathname;
      if (path === "/too-late") {
        // Past the deadline the request is over: upgrading it is refused.
        await new Promise((r) => req.signal.onabort = r);
        try {
          upgradeWebSocket(req);
        } catch (e) {
          seen.push(`${path} ${(e as Error).name} ${(e as Error).message}`);
        }
        return new Response("too late");
      }
      const { socket } = upgradeWebSocket(req);
      const closed = new Promise<void>((resolve) => {
        socket.onerror = () => seen.push(`${path} error`);
        socket.onclose = (e) => {
          seen.push(`${path} close ${e.code} ${e.wasClean}`);
          resolve();
        };
      });
      closedOnServer.push(closed);
      // Past the deadline the kernel has answered 503; the socket hears of it.
      if (path === "/late") await closed;
      return new Response("changed my mind");
    },
  );
  // Deno.serve leaves such a connection hanging ("Upgrade response was not returned
  // from callback"); here the client gets the handler's response.
  const answers = [];
  for (const path of ["/other", "/late", "/too-late"]) {
    answers.push(
      await rawWebSocket(server.addr.port, path).then(
        () => "opened",
        (e) => (e as Error).message.split("\r\n")[0],
      ),
    );
  }
  await Promise.all(closedOnServer);
  await until("the late upgrade", () => seen.length === 5);
  assert.deepEqual(answers, [
    "handshake: HTTP/1.1 200 OK",
    "handshake: HTTP/1.1 503 Service Unavailable",
    "handshake: HTTP/1.1 503 Service Unavailable",
  ]);
  assert.deepEqual(seen, [
    "/other error",
    "/other close 1006 false",
    "/late error",
    "/late close 1006 false",
    "/too-late TypeError Request closed",
  ]);
});

Deno.test("shutdown is not held up by a client that stops reading (Deno 2.9.6's is)", async () => {
  const results: string[] = [];
  for (const upgrade of [Deno.upgradeWebSocket, upgradeWebSocket]) {
    let serverClose = "";
    let opened!: () => void;
    const open = new Promise<void>((r) => opened = r);
    const handler = (req: Request) => {
      const { socket, response } = upgrade(req);
      socket.onopen = () => {
        // 32 MiB towards a client that reads nothing: the socket buffers fill up.
        for (let i = 0; i < 8; i++) socket.send(new Uint8Array(4 << 20));
        opened();
      };
      socket.onclose = (e) => serverClose = `${e.code} ${e.wasClean}`;
      return response;
    };
    const options = { hostname: "127.0.0.1", port: 0, onListen() {} };
    const server = upgrade === Deno.upgradeWebSocket
      ? Deno.serve(options, handler)
      : serve(options, handler);
    const raw = await rawWebSocket(server.addr.port);
    await open;
    const shutdown = server.shutdown();
    let timer: ReturnType<typeof setTimeout> | undefined;
    // The kernel gives the close frame 1 s to go out; 5 s is room for a loaded machine.
    const outcome = await Promise.race([
      shutdown.then(() => "shut down"),
      new Promise((r) => timer = setTimeout(() => r("still waiting"), 5_000)),
    ]);
    clearTimeout(timer);
    results.push(`${outcome}, server socket "${serverClose}"`);
    raw.close();
    await shutdown;
  }
  console.log(`Deno.serve: ${results[0]}`);
  assert.equal(results[1], 'shut down, server socket "1005 true"');
});

Deno.test("the server's HTTP idleTimeout does not cut an open WebSocket (only its own idleTimeout does)", async () => {
  await using server = serve(
    { hostname: "127.0.0.1", port: 0, onListen() {}, idleTimeout: 200 },
    (req) => {
      const { socket, response } = upgradeWebSocket(req, { idleTimeout: 0 });
      socket.onmessage = (e) => socket.send(e.data);
      return response;
    },
  );
  const ws = await client(server.addr.port);
  // Five times the connection idle time without a byte either way.
  await new Promise((r) => setTimeout(r, 1_000));
  ws.send("still open");
  assert.equal(await nextMessage(ws), "still open");
  const done = closed(ws);
  ws.close();
  assert.equal(await done, "1005  true");
});

Deno.test("a socket whose client leaves before the handler answers closes with 1006", async () => {
  let upgraded!: () => void;
  const handlerRan = new Promise<void>((r) => upgraded = r);
  let closedOnServer = "";
  await using server = serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      const { socket } = upgradeWebSocket(req);
      const closed = new Promise<void>((resolve) => {
        socket.onclose = (e) => {
          closedOnServer =
            `${e.code} ${e.wasClean} signal ${req.signal.aborted}`;
          resolve();
        };
      });
      upgraded();
      // The handler waits for the socket: only the client leaving can end it.
      await closed;
      return new Response("nobody is listening");
    },
  );
  const conn = await connectAndWrite(
    server,
    "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  await handlerRan;
  conn.close();
  await until("the server socket's close", () => closedOnServer !== "");
  assert.equal(closedOnServer, "1006 false signal true");
});

/**
 * WebSockets over TLS (`wss:` with Deno's `WebSocket` client trusting a test CA) and
 * what HTTP/2 does with WebSocket requests (RFC 8441), each next to `Deno.serve` with the
 * same certificate in the same run.
 */

import assert from "node:assert/strict";
import http2 from "node:http2";
import { serve, upgradeWebSocket } from "@krepis/core/http";
import { testCerts } from "../_certs.ts";

type Upgrade = typeof upgradeWebSocket;

/** Deno.serve and serve() over TLS with the test certificate, both with `handler`. */
async function tlsServers(handler: (upgrade: Upgrade) => Deno.ServeHandler) {
  const { cert, key, ca } = await testCerts();
  const where = { hostname: "127.0.0.1", port: 0, onListen() {} };
  const deno = Deno.serve(
    { ...where, cert, key },
    handler(Deno.upgradeWebSocket),
  );
  const krepis = serve(
    { ...where, tls: { cert, key } },
    handler(upgradeWebSocket),
  );
  return {
    ca,
    ports: [deno.addr.port, krepis.addr.port],
    async [Symbol.asyncDispose]() {
      await Promise.all([deno.shutdown(), krepis.shutdown()]);
    },
  };
}

Deno.test("wss: Deno's WebSocket client over TLS echoes and closes cleanly, as with Deno.serve", async () => {
  await using servers = await tlsServers((upgrade) => (req) => {
    const { socket, response } = upgrade(req);
    socket.onmessage = (e) => socket.send(e.data);
    return response;
  });
  using client = Deno.createHttpClient({ caCerts: [servers.ca] });
  const results = [];
  for (const port of servers.ports) {
    const ws = new WebSocket(
      `wss://localhost:${port}/`,
      { client },
    );
    ws.binaryType = "arraybuffer";
    const next = () =>
      new Promise((r) =>
        ws.addEventListener("message", (e) => r(e.data), { once: true })
      );
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = (e) => reject(new Error((e as ErrorEvent).message));
    });
    const log: string[] = [new URL(ws.url).protocol];
    ws.send("over tls");
    log.push(`${await next()}`);
    ws.send(new Uint8Array(100_000).fill(7));
    const binary = new Uint8Array(await next() as ArrayBuffer);
    log.push(`${binary.length} ${binary.every((b) => b === 7)}`);
    const closed = new Promise<string>((r) =>
      ws.onclose = (e) => r(`${e.code} ${e.reason} ${e.wasClean}`)
    );
    ws.close(1000, "bye");
    log.push(await closed);
    results.push(log);
  }
  assert.deepEqual(results[0], [
    "wss:",
    "over tls",
    "100000 true",
    "1000 bye true",
  ]);
  assert.deepEqual(results[1], results[0]);
});

Deno.test("HTTP/2: no WebSockets (RFC 8441 not offered), refused the way Deno.serve refuses them", async () => {
  await using servers = await tlsServers((upgrade) => (req) => {
    try {
      upgrade(req);
      return new Response("upgraded");
    } catch (e) {
      return new Response(`${(e as Error).name}: ${(e as Error).message}`, {
        status: 400,
      });
    }
  });
  const results = [];
  for (const port of servers.ports) {
    const log: string[] = [];
    // node's HTTP/2 client: the server's SETTINGS, then an extended CONNECT anyway.
    const session = http2.connect(`https://localhost:${port}`, {
      ca: servers.ca,
    });
    session.on("error", () => {});
    await new Promise((r) => session.once("remoteSettings", r));
    log.push(
      `${session.alpnProtocol} enableConnectProtocol ${session.remoteSettings.enableConnectProtocol}`,
    );
    const stream = session.request({
      ":method": "CONNECT",
      ":protocol": "websocket",
      ":path": "/",
      ":scheme": "https",
      ":authority": `localhost:${port}`,
      "sec-websocket-version": "13",
    });
    log.push(
      await new Promise<string>((resolve) => {
        stream.on(
          "response",
          (h) => resolve(`CONNECT answered ${h[":status"]}`),
        );
        stream.on(
          "error",
          () => resolve(`CONNECT reset, code ${stream.rstCode}`),
        );
      }),
    );
    session.destroy();
    // curl over HTTP/2 with the WebSocket headers HTTP/2 allows: the handler's
    // upgrade throws, as Deno's does (HTTP/2 carries no Upgrade header).
    const curl = await new Deno.Command("curl", {
      args: [
        "-sk",
        "--http2",
        "-w",
        " %{http_version} %{http_code}",
        `https://127.0.0.1:${port}/`,
        "-H",
        "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==",
        "-H",
        "sec-websocket-version: 13",
      ],
    }).output();
    log.push(new TextDecoder().decode(curl.stdout));
    results.push(log);
  }
  assert.deepEqual(results[0], [
    "h2 enableConnectProtocol false",
    "CONNECT reset, code 1",
    "TypeError: Invalid Header: 'upgrade' header must contain 'websocket' 2 400",
  ]);
  assert.deepEqual(results[1], results[0]);
});

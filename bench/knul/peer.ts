/**
 * One side of one peer of `deno task bench:knul`.
 *
 *   deno run -A peer.ts server <peer> <certDir>          prints "PORT <n>", serves until killed
 *   deno run -A peer.ts client <peer> <port> <certDir> <seconds> <callers>
 *                                                        prints one JSON line of results
 *
 * Every peer answers a unary echo of a 1 KiB payload.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { serve } from "../../packages/core/src/http/serve.ts";
import { connectKnul } from "../../packages/core/src/knul/client.ts";
import { serveKnul } from "../../packages/core/src/knul/server.ts";
import { createContext } from "../../packages/core/src/context/context.ts";
import { memorySink } from "../../packages/core/src/context/logger.ts";

type Peer = "knul" | "http2" | "deno-quic" | "grpc";
const [mode, peer, ...rest] = Deno.args as [string, Peer, ...string[]];
const PAYLOAD = 1024;
const text = "x".repeat(PAYLOAD);
const bytes = new Uint8Array(PAYLOAD).fill(120);

async function certs(dir: string) {
  const read = (f: string) => Deno.readTextFile(`${dir}/${f}`);
  return {
    ca: await read("ca.pem"),
    cert: await read("server.pem"),
    key: await read("server.key"),
  };
}

// deno-lint-ignore no-explicit-any
async function grpcModule(): Promise<any> {
  return (await import("npm:@grpc/grpc-js@1.14.0")).default;
}
const asBuffer = (b: Uint8Array) =>
  Buffer.from(b.buffer, b.byteOffset, b.length);
const GRPC_METHOD = {
  echo: {
    path: "/bench.Bench/Echo",
    requestStream: false,
    responseStream: false,
    requestSerialize: asBuffer,
    requestDeserialize: asBuffer,
    responseSerialize: asBuffer,
    responseDeserialize: asBuffer,
  },
};

async function readAll(
  stream: ReadableStream<Uint8Array>,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const c of stream) {
    chunks.push(c);
    n += c.length;
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function lengthPrefixed(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.length);
  new DataView(out.buffer).setUint32(0, payload.length);
  out.set(payload, 4);
  return out;
}

async function runServer(dir: string): Promise<void> {
  const { cert, key } = await certs(dir);
  if (peer === "knul") {
    const server = await serveKnul({ cert, key, log: memorySink("error") }, {
      echo: (_ctx, input) => input,
    });
    console.log(`PORT ${server.addr.port}`);
  } else if (peer === "http2") {
    await serve({
      hostname: "127.0.0.1",
      port: 0,
      tls: { cert, key },
      onListen: (addr) => console.log(`PORT ${addr.port}`),
    }, async (req) => new Response(await req.arrayBuffer()));
  } else if (peer === "deno-quic") {
    const endpoint = new Deno.QuicEndpoint({ hostname: "127.0.0.1", port: 0 });
    const listener = endpoint.listen({ cert, key, alpnProtocols: ["rpc"] });
    console.log(`PORT ${endpoint.addr.port}`);
    for await (const incoming of listener) {
      (async () => {
        const conn = await incoming.accept();
        for await (const stream of conn.incomingBidirectionalStreams) {
          (async () => {
            const request = await readAll(stream.readable);
            const writer = stream.writable.getWriter();
            await writer.write(lengthPrefixed(request.subarray(4)));
            await writer.close();
          })().catch(() => {});
        }
      })().catch(() => {});
    }
  } else if (peer === "grpc") {
    const grpc = await grpcModule();
    const server = new grpc.Server();
    server.addService(GRPC_METHOD, {
      // deno-lint-ignore no-explicit-any
      echo: (call: any, done: any) => done(null, call.request),
    });
    // Plain h2c: grpc-js over TLS does not connect on Deno here (its client reports
    // "HandshakePayloadTooLarge"), so gRPC runs without the TLS cost the others pay.
    const credentials = grpc.ServerCredentials.createInsecure();
    server.bindAsync(
      "127.0.0.1:0",
      credentials,
      (error: Error | null, port: number) => {
        if (error) throw error;
        console.log(`PORT ${port}`);
      },
    );
  }
}

async function runClient(
  port: number,
  dir: string,
  seconds: number,
  callers: number,
) {
  const { ca } = await certs(dir);
  let call: () => Promise<void>;
  let close = (): Promise<void> => Promise.resolve();
  if (peer === "knul") {
    const client = await connectKnul({
      hostname: "127.0.0.1",
      port,
      caCerts: [ca],
      serverName: "localhost",
    });
    const ctx = createContext({ log: memorySink("error") });
    call = async () => {
      const out = await client.call<string>(ctx, "echo", text);
      if (out.length !== PAYLOAD) throw new Error("bad echo");
    };
    close = () => client.close();
  } else if (peer === "http2") {
    const http = Deno.createHttpClient({
      caCerts: [ca],
      http1: false,
      http2: true,
    });
    const url = `https://localhost:${port}/echo`;
    call = async () => {
      const res = await fetch(url, {
        method: "POST",
        body: bytes,
        client: http,
      });
      const body = await res.arrayBuffer();
      if (body.byteLength !== PAYLOAD) throw new Error("bad echo");
    };
    close = () => Promise.resolve(http.close());
  } else if (peer === "deno-quic") {
    const conn = await Deno.connectQuic({
      hostname: "127.0.0.1",
      port,
      alpnProtocols: ["rpc"],
      caCerts: [ca],
      serverName: "localhost",
    });
    const request = lengthPrefixed(bytes);
    call = async () => {
      const stream = await conn.createBidirectionalStream({
        waitUntilAvailable: true,
      });
      const writer = stream.writable.getWriter();
      await writer.write(request);
      await writer.close();
      const response = await readAll(stream.readable);
      if (response.length !== PAYLOAD + 4) throw new Error("bad echo");
    };
    close = () => Promise.resolve(conn.close({ closeCode: 0, reason: "" }));
  } else {
    const grpc = await grpcModule();
    const Client = grpc.makeGenericClientConstructor(GRPC_METHOD, "Bench");
    const client = new Client(
      `127.0.0.1:${port}`,
      grpc.credentials.createInsecure(),
    );
    call = () =>
      new Promise((resolve, reject) =>
        client.echo(
          bytes,
          (error: Error | null, out: Uint8Array) =>
            error
              ? reject(error)
              : out.length === PAYLOAD
              ? resolve()
              : reject(new Error("bad echo")),
        )
      );
    // No client.close(): the GOAWAY it sends crashes the grpc-js server on Deno (an
    // nghttp2 assertion, find_stream_on_goaway_func); exiting drops the connection.
    void client;
  }
  // Warm-up, then the measured window.
  const warmUntil = performance.now() + 500;
  const endAt = warmUntil + seconds * 1000;
  const latencies: number[] = [];
  let failures = 0;
  await Promise.all(Array.from({ length: callers }, async () => {
    for (;;) {
      const start = performance.now();
      if (start >= endAt) return;
      try {
        await call();
      } catch (error) {
        if (failures++ === 0) console.error("first failure:", error);
        continue;
      }
      if (start >= warmUntil) latencies.push(performance.now() - start);
    }
  }));
  await close();
  latencies.sort((a, b) => a - b);
  const pick = (q: number) =>
    latencies[
      Math.min(latencies.length - 1, Math.floor(q * latencies.length))
    ] ?? NaN;
  console.log(
    JSON.stringify({
      calls: latencies.length,
      seconds,
      failures,
      p50: pick(0.5),
      p99: pick(0.99),
    }),
  );
}

if (mode === "server") await runServer(rest[0]);
else {
  await runClient(Number(rest[0]), rest[1], Number(rest[2]), Number(rest[3]));
  // Connections left open (gRPC's) must not keep the load generator alive.
  Deno.exit(0);
}

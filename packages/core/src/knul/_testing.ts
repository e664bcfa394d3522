/**
 * Test helpers for KNUL: a client that trusts the test CA, and a server on the test
 * certificates with such a client connected.
 *
 * @module
 */

import { memorySink } from "../context/logger.ts";
import { type TestCerts, testCerts } from "../_certs.ts";
import {
  connectKnul,
  type KnulClient,
  type KnulConnectOptions,
} from "./client.ts";
import { type KnulServer, serveKnul } from "./server.ts";
import type { KnulHandler, KnulMethod, KnulServeOptions } from "./types.ts";

/** A client of the KNUL server on `port` of 127.0.0.1, trusting the test CA. */
export async function testClient(
  port: number,
  options: Partial<KnulConnectOptions> = {},
): Promise<KnulClient> {
  const certs = await testCerts();
  return connectKnul({
    hostname: "127.0.0.1",
    port,
    caCerts: [certs.ca],
    serverName: "localhost",
    ...options,
  });
}

/**
 * A server serving `methods` on the test certificates (errors logged to a memory sink
 * unless `options.log` says otherwise) and a connected client; disposing closes both.
 */
export async function serveWithClient(
  options: Partial<KnulServeOptions>,
  methods: Record<string, KnulHandler | KnulMethod>,
): Promise<{
  certs: TestCerts;
  server: KnulServer;
  client: KnulClient;
  [Symbol.asyncDispose](): Promise<void>;
}> {
  const certs = await testCerts();
  const server = await serveKnul({
    cert: certs.cert,
    key: certs.key,
    log: memorySink("error"),
    ...options,
  }, methods);
  const client = await testClient(server.addr.port);
  return {
    certs,
    server,
    client,
    async [Symbol.asyncDispose]() {
      await client.close();
      await server.close();
    },
  };
}

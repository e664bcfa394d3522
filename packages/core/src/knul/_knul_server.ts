/**
 * A KNUL server in a process of its own, for restart and crash tests. Arguments: port,
 * session store directory, certificate directory (from `_certs.ts`). Prints the port, then
 * serves until killed.
 *
 * @module
 */

import { memorySink } from "../context/logger.ts";
import { serveKnul } from "./server.ts";

const [port, store, certDir] = Deno.args;
const server = await serveKnul({
  port: Number(port),
  sessionStore: store,
  cert: await Deno.readTextFile(`${certDir}/server.pem`),
  key: await Deno.readTextFile(`${certDir}/server.key`),
  log: memorySink(),
}, {
  ping: { handler: () => "pong", idempotent: true },
  hang: () => new Promise(() => {}),
});
console.log(server.addr.port);

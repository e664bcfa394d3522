/**
 * WebSocket benchmark server (b): `Deno.serve` + `Deno.upgradeWebSocket`, echoing every
 * message. Prints `PORT <n>`.
 */
import { announce, echo } from "./echo.ts";

const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen: () => {} },
  (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req, { idleTimeout: 0 });
    echo(socket);
    return response;
  },
);
announce(server.addr.port);

/**
 * WebSocket benchmark server (a): Krepis `serve` + `upgradeWebSocket`, echoing every
 * message. Prints `PORT <n>`.
 */
import { serve, upgradeWebSocket } from "@krepis/core/http";
import { announce, echo } from "./echo.ts";

const server = await serve(
  { hostname: "127.0.0.1", port: 0, onListen: () => {} },
  (req) => {
    const { socket, response } = upgradeWebSocket(req, { idleTimeout: 0 });
    echo(socket);
    return response;
  },
);
announce(server.addr.port);

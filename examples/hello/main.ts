/**
 * The smallest Krepis app: a TypeScript handler served by the Rust kernel.
 *
 * Run it with `deno task start`, then `curl http://localhost:8000/hello/you`.
 *
 * @module
 */

import { serve } from "@krepis/core/http";

const server = await serve(
  { port: Number(Deno.env.get("PORT") ?? 8000) },
  (req, info) => {
    const url = new URL(req.url);
    const name = url.pathname.match(/^\/hello\/([^/]+)$/)?.[1];
    if (name) {
      return Response.json({
        hello: decodeURIComponent(name),
        requestId: info.ctx.requestId,
        traceId: info.ctx.traceId,
        from: info.remoteAddr.hostname,
      });
    }
    return new Response("Hello from Krepis! Try /hello/<name>\n");
  },
);

Deno.addSignalListener("SIGINT", () => server.shutdown());
await server.finished;

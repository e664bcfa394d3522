/**
 * The route `bench:core` and `route_ab.ts` measure, in Hono: a zod-validated JSON POST
 * that stores a value, and the request both send it.
 *
 * @module
 */

import { Hono } from "hono";
import { requestId } from "hono/request-id";
import { z } from "zod";

/** The route's input schema (the Krepis command validates with the same one). */
export const PutInput = z.object({ key: z.string(), value: z.number() });

/**
 * The route in Hono, storing into `store`; with `withRequestId`, behind Hono's
 * `requestId` middleware (it writes an `x-request-id`, as Krepis does by default).
 */
export function honoPut(
  store: Map<string, number>,
  withRequestId = false,
): Hono {
  const app = new Hono();
  if (withRequestId) app.use(requestId());
  app.post("/put", async (c) => {
    const parsed = PutInput.safeParse(await c.req.json());
    if (!parsed.success) return c.json({ error: parsed.error.issues }, 400);
    store.set(parsed.data.key, parsed.data.value);
    return c.json({ stored: parsed.data.key });
  });
  return app;
}

const body = JSON.stringify({ key: "k", value: 1 });

/** A new request to the route, with a JSON body and an incoming `traceparent`. */
export function putRequest(): Request {
  return new Request("http://localhost/put", {
    method: "POST",
    body,
    headers: {
      "content-type": "application/json",
      traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    },
  });
}

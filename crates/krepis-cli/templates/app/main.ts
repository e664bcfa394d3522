import { buildApp } from "./src/app.ts";

const app = buildApp();
const port = Number(Deno.env.get("PORT") ?? "8000");

Deno.serve({
  hostname: Deno.env.get("HOST") ?? "127.0.0.1",
  port,
  onListen: ({ hostname, port }) =>
    console.log(`listening on http://${hostname}:${port}/`),
}, app.fetch);

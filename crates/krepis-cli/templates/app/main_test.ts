import { strictEqual } from "node:assert";
import { buildApp } from "./src/app.ts";

Deno.test("POST /greet greets and GET /greetings/count counts", async () => {
  const app = buildApp();
  const res = await app.fetch(
    new Request("http://localhost/greet", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "Ada" }),
    }),
  );
  strictEqual(res.status, 200);
  strictEqual((await res.json()).message, "Hello, Ada!");
  const count = await app.fetch(
    new Request("http://localhost/greetings/count"),
  );
  strictEqual((await count.json()).count, 1);
});

Deno.test("bad input is a 4xx, not a crash", async () => {
  const app = buildApp();
  const res = await app.fetch(
    new Request("http://localhost/greet", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: 42 }),
    }),
  );
  strictEqual(res.status >= 400 && res.status < 500, true);
  await res.body?.cancel();
});

import assert from "node:assert/strict";
import { openKv } from "./kv.ts";
import { kvContract } from "./_kv_contract.ts";
import { startPostgres } from "./_pg_server.ts";

// One server for the file; every store gets a database of its own.
const server = await startPostgres();
Deno.test.afterAll(async () => {
  await server[Symbol.asyncDispose]();
});

kvContract("postgres", async () => {
  const kv = await openKv(await server.freshDatabase());
  return {
    kv,
    dispose: () => {
      try {
        kv.close();
      } catch { /* the test closed it */ }
      return Promise.resolve();
    },
  };
});

Deno.test("kv postgres: two stores on one database see each other's writes", async () => {
  const url = await server.freshDatabase();
  using a = await openKv(url);
  using b = await openKv(url);
  const { versionstamp } = await a.set(["shared"], { n: 1 });
  const seen = await b.get(["shared"]);
  assert.deepEqual(seen, { key: ["shared"], value: { n: 1 }, versionstamp });
  const second = await b.set(["shared"], { n: 2 });
  assert.ok(second.versionstamp > versionstamp);
});

Deno.test("kv postgres: bad URLs and refused logins are clear errors", async () => {
  await assert.rejects(
    () => openKv("postgres://krepis@127.0.0.1:notaport/db"),
    /invalid PostgreSQL URL/,
  );
  await assert.rejects(
    () => openKv(server.url.replace("krepis:krepis@", "krepis:wrong@")),
    /password authentication failed/,
  );
  await assert.rejects(
    () => openKv("postgres://krepis:krepis@127.0.0.1:1/postgres"),
    /cannot connect to PostgreSQL/,
  );
});

import assert from "node:assert/strict";
import { openKv } from "./kv.ts";
import { findDenoSerializer } from "./kv_value.ts";

Deno.test("kv values: Deno's internal serializer is found only when complete", () => {
  assert.ok(findDenoSerializer(Deno), "Deno 2 exposes core.serialize");
  const internal = Symbol("Deno.internal");
  assert.equal(findDenoSerializer({}), undefined);
  assert.equal(findDenoSerializer({ [internal]: {} }), undefined);
  assert.equal(
    findDenoSerializer({ [internal]: { core: { serialize() {} } } }),
    undefined,
  );
});

Deno.test("kv values: without Deno's serializer, V8 values fail clearly and the rest works", async () => {
  const dir = await Deno.makeTempDir({ prefix: "krepis-kv-noserializer-" });
  try {
    {
      using kv = await openKv(dir);
      await kv.set(["map"], new Map([["stored", "before"]]));
    }
    const child = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./_kv_without_serializer.ts", import.meta.url).pathname,
        dir,
      ],
      stderr: "inherit",
    }).output();
    assert.equal(child.code, 0);
    const seen = JSON.parse(new TextDecoder().decode(child.stdout));
    const missing =
      /^Error: Krepis KV cannot store or read this value: Deno \S+ does not expose its value serializer \(Deno\[Deno\.internal\]\.core\.serialize\)/;
    assert.equal(seen.json, "ok");
    assert.equal(seen.bytes, "ok");
    assert.equal(seen.u64, "ok");
    assert.deepEqual(seen.readJson, { a: [1, "b"] });
    assert.match(seen.writeMap, missing);
    assert.match(seen.readMap, missing);
    // Nothing was lost: the stored value reads back where the serializer exists.
    using kv = await openKv(dir);
    assert.deepEqual(
      (await kv.get(["map"])).value,
      new Map([["stored", "before"]]),
    );
    assert.equal((await kv.get(["map2"])).versionstamp, null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

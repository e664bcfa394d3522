/**
 * Test helper: runs in a child process that removes `Deno[Deno.internal]` before loading
 * the KV, as a Deno release without the internal serializer would be. Argument: a store
 * directory holding a V8-serialized value under `["map"]`. Prints one JSON line of what
 * worked and what threw.
 *
 * @module
 */

const internal = Object.getOwnPropertySymbols(Deno).find((s) =>
  s.description === "Deno.internal"
);
if (internal) delete (Deno as unknown as Record<symbol, unknown>)[internal];

const { KvU64, openKv } = await import("./kv.ts");
const outcome = async (op: () => Promise<unknown>) => {
  try {
    await op();
    return "ok";
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
};
using kv = await openKv(Deno.args[0]);
console.log(JSON.stringify({
  json: await outcome(() => kv.set(["json"], { a: [1, "b"] })),
  bytes: await outcome(() => kv.set(["bytes"], new Uint8Array([1]))),
  u64: await outcome(() => kv.set(["u64"], new KvU64(5n))),
  readJson: (await kv.get(["json"])).value,
  writeMap: await outcome(() => kv.set(["map2"], new Map([[1, 2]]))),
  readMap: await outcome(() => kv.get(["map"])),
}));

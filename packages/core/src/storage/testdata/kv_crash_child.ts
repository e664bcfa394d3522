// A child the KV crash tests SIGKILL at random points. Modes:
// - `count <dir> [relaxed]`: 4 concurrent loops commit check+set increments of
//   ["counter"] (default, durable options unless `relaxed`), each also writing
//   ["log", n]; prints every acknowledged n and the time (ms) it was acknowledged.
// - `enqueue <dir> <tag>`: enqueues messages `<tag>-<i>`; prints each acknowledged one.
// - `consume <dir>`: handles queue messages by writing ["done", id]; prints each id.
import { openKv } from "../kv.ts";

const [mode, dir, tag] = Deno.args;
const kv = await openKv(
  dir,
  mode === "count" && tag === "relaxed" ? { durability: "relaxed" } : {},
);
const out = new TextEncoder();
const say = (line: string) => Deno.stdout.writeSync(out.encode(line + "\n"));
say("ready");
if (mode === "count") {
  await Promise.all(Array.from({ length: 4 }, async () => {
    for (;;) {
      const current = await kv.get<number>(["counter"]);
      const n = (current.value ?? 0) + 1;
      const result = await kv.atomic().check(current)
        .set(["counter"], n).set(["log", n], true).commit();
      if (result.ok) say(`${n} ${performance.timeOrigin + performance.now()}`);
    }
  }));
} else if (mode === "enqueue") {
  for (let i = 0;; i++) {
    await kv.enqueue({ id: `${tag}-${i}` });
    say(`${tag}-${i}`);
  }
} else {
  await kv.listenQueue(async (message) => {
    const { id } = message as { id: string };
    await kv.set(["done", id], true);
    say(id);
  });
}

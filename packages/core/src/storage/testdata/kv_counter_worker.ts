/// <reference lib="deno.worker" />
// Opens the store and reports ready; on "go", increments ["counter"] `rounds` times with
// check-and-set retries, then reports how many commits lost a race.
import { openKv } from "../kv.ts";

self.onmessage = async (
  event: MessageEvent<{ path: string; rounds: number }>,
) => {
  const kv = await openKv(event.data.path);
  const go = new Promise((resolve) => self.onmessage = resolve);
  self.postMessage({ ready: true });
  await go;
  let retries = 0;
  for (let i = 0; i < event.data.rounds; i++) {
    for (;;) {
      const current = await kv.get<number>(["counter"]);
      const result = await kv.atomic()
        .check(current)
        .set(["counter"], (current.value ?? 0) + 1)
        .commit();
      if (result.ok) break;
      retries++;
    }
  }
  kv.close();
  self.postMessage({ retries });
};

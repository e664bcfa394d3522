// The kernel runs on the JS thread in turns; these tests show it does not wait for
// JavaScript when JavaScript is busy: while a handler computes synchronously, a static file
// is still answered and a request deadline still fires (the kernel's watchdog drives it),
// and the next requests go through the turns again afterwards.

import assert from "node:assert/strict";
import { base, listen } from "./_test_util.ts";
import { pair } from "./_wire.ts";

/**
 * Blocks the JS thread (a handler that computes) until `file` exists, or `ms` at most: a
 * client that needs JavaScript to be answered cannot create it in time.
 */
function spinUntil(file: string, ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      Deno.statSync(file);
      return;
    } catch { /* not yet */ }
  }
}

Deno.test("while a handler blocks the JS thread, static files and deadlines are still served", async () => {
  const dir = await Deno.makeTempDir({ prefix: "krepis-turns-" });
  const started = `${dir}/started`;
  const finished = `${dir}/finished`;
  await Deno.mkdir(`${dir}/public`);
  await Deno.writeTextFile(`${dir}/public/a.txt`, "static bytes");
  let blocked = { from: 0, to: 0 };
  await using server = listen((req) => {
    if (!req.url.endsWith("/block")) return new Response("ok");
    blocked = { from: Date.now(), to: 0 };
    Deno.writeTextFileSync(started, "");
    // Until the client below is done (a fixed 3 s races a client slowed down by a
    // loaded machine); 30 s at most, then the client's end time shows it waited for us.
    spinUntil(finished, 30_000);
    blocked.to = Date.now();
    return new Response("done");
  }, { static: { "/assets": `${dir}/public` }, requestTimeout: 300 });
  const url = base(server);
  // A client in another process, started once the handler blocks; prints when it ended.
  const client = new Deno.Command("sh", {
    args: [
      "-c",
      `while [ ! -e ${started} ]; do sleep 0.02; done; ` +
      `curl -s -w ' %{http_code}\\n' ${url}/assets/a.txt; ` +
      `curl -s -o /dev/null -w '%{http_code}\\n' ${url}/slow; ` +
      `date +%s%3N; touch ${finished}`,
    ],
    stdout: "piped",
  }).output();
  // Its own deadline passes while its handler computes: the kernel answers 503 for it too.
  const response = await fetch(`${url}/block`);
  await response.body?.cancel();
  const [file, slow, ended] = new TextDecoder()
    .decode((await client).stdout).trim().split("\n");
  assert.equal(response.status, 503);
  assert.equal(file, "static bytes 200");
  assert.equal(slow, "503", "the deadline fired while JavaScript was busy");
  assert.ok(
    Number(ended) < blocked.to,
    `the client finished at ${ended}, before the handler let go at ${blocked.to}`,
  );
  // Turns take over again.
  assert.equal(await (await fetch(`${url}/after`)).text(), "ok");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("handlers that answer after some microtask ticks or a timer are all answered, as by Deno.serve", async () => {
  // Around the loop's settle window (a turn that finds nothing waits a few ticks for the
  // last batch's handlers before it parks): answers inside it, just past it, much later.
  const handler = async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    const body = await req.text();
    if (path === "/timer") {
      await new Promise((resolve) => setTimeout(resolve, 5));
    } else {
      const ticks = Number(path.slice("/ticks/".length));
      for (let i = 0; i < ticks; i++) await undefined;
    }
    return Response.json({ path, body });
  };
  await using servers = await pair(handler);
  const paths = ["/timer"];
  for (const ticks of [0, 1, 3, 7, 8, 9, 20, 100]) {
    paths.push(`/ticks/${ticks}`);
  }
  const answers = (port: number) =>
    Promise.all(
      Array.from({ length: 4 }, () => paths).flat().map(async (path, i) => {
        const response = await fetch(`http://127.0.0.1:${port}${path}`, {
          method: "POST",
          body: `request ${i}`,
        });
        return `${response.status} ${await response.text()}`;
      }),
    );
  const krepis = await answers(servers.krepis);
  assert.deepEqual(krepis, await answers(servers.deno));
  assert.equal(krepis.length, 36);
  assert.equal(krepis[35], '200 {"path":"/ticks/100","body":"request 35"}');
});

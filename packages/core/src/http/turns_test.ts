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

/**
 * Keeps `connections` connections full of pipelined requests to `port` from a child process
 * (no client shares this JS thread, and every turn of the server finds work) for `ms` after
 * the first answer, then exits.
 */
function hammer(
  port: number,
  connections: number,
  ms: number,
): Deno.ChildProcess {
  const script = `
    const batch = new TextEncoder().encode(
      "GET / HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n".repeat(64),
    );
    let end = 0;
    const loads = Array.from({ length: ${connections} }, async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: ${port} });
      const reading = (async () => {
        const buf = new Uint8Array(65536);
        while ((await conn.read(buf)) !== null) {
          if (end === 0) end = Date.now() + ${ms};
        }
      })().catch(() => {});
      while (end === 0 || Date.now() < end) await conn.write(batch);
      conn.close();
      await reading;
    });
    await Promise.all(loads);`;
  return new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
}

Deno.test("under a load that keeps every turn busy, Deno's timers and I/O still run, as under Deno.serve", async () => {
  // The loop does not park while each turn finds work; after 16 busy turns it goes through
  // `wait` anyway, and Deno's event loop runs meanwhile. Were it to keep turning only, no
  // timer would fire until the load ends (awaiting one would hang; so this counts ticks of
  // a chain and awaits the child). Fails with 1 tick when the busy loop never yields.
  const served = { krepis: 0, deno: 0 };
  const server = listen(() => {
    served.krepis++;
    return new Response("ok");
  });
  const ac = new AbortController();
  const reference = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    () => {
      served.deno++;
      return new Response("ok");
    },
  );
  const ports = { krepis: server.addr.port, deno: reference.addr.port };
  for (const name of ["krepis", "deno"] as const) {
    const load = hammer(ports[name], 16, 2000);
    // Counted once answers flow: a 10 ms chain ticks ≈200 times in the 2 s of load.
    let ticks = 0;
    let readByTenthTick = false;
    let read = false;
    let running = true;
    const tick = () => {
      if (!running) return;
      if (served[name] >= 200) {
        if (ticks === 0) {
          Deno.readTextFile(new URL(import.meta.url)).then(() => read = true);
        }
        if (++ticks === 10) readByTenthTick = read;
      }
      setTimeout(tick, 10);
    };
    tick();
    const status = await load.status;
    running = false;
    assert.ok(status.success, `${name}: the load ran`);
    assert.ok(served[name] > 1000, `${name}: ${served[name]} served`);
    assert.ok(ticks >= 10, `${name}: ${ticks} timer ticks under load`);
    assert.ok(readByTenthTick, `${name}: a file read completed under load`);
  }
  ac.abort();
  await reference.finished;
  await server.shutdown();
});

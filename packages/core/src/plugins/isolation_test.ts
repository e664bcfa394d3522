import assert from "node:assert/strict";
import { z } from "zod";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createContext } from "../context/context.ts";
import { defineQuery } from "../cqs/handler.ts";
import { ok } from "../result/result.ts";
import { until } from "../_poll.ts";
import { PluginError } from "./errors.ts";
import { startProcess, startWorker } from "./isolate.ts";
import { loadPlugin, type LoadPluginOptions } from "./load.ts";
import { Supervisor } from "./supervisor.ts";
import {
  copyFixture,
  publisher,
  rejection,
  scratch,
  servePluginQuery,
  signed,
} from "./_testing.ts";

const ISOLATIONS = ["worker", "process"] as const;

/**
 * Runs fixture `name` in an isolate *without* the check or the signature, as if both had
 * been bypassed: only Deno's enforcement of the declared permissions stands in the way.
 */
async function forced(
  name: string,
  dir: string,
  isolation: "worker" | "process",
): Promise<Supervisor> {
  const staged = await copyFixture(name, dir);
  const manifest = JSON.parse(
    await Deno.readTextFile(join(staged, "krepis.plugin.json")),
  );
  const start = isolation === "process" ? startProcess : startWorker;
  const supervisor = new Supervisor(
    name,
    pathToFileURL(join(staged, manifest.entry)).href,
    (onMessage) =>
      start({
        staged,
        permissions: manifest.permissions,
        memoryLimitMb: 64,
        onMessage,
      }),
    {
      callTimeoutMs: 10_000,
      pingGraceMs: 250,
      backoffInitialMs: 50,
      backoffMaxMs: 1_000,
    },
  );
  await supervisor.ready();
  return supervisor;
}

for (const isolation of ISOLATIONS) {
  Deno.test(`${isolation}: declared permissions are granted, undeclared reads and hosts denied at run time even when check and signature are bypassed`, async () => {
    await using tmp = await scratch();
    const passwd = await forced("reads_passwd", tmp.path, isolation);
    try {
      const error = await rejection(passwd.call(createContext(), {}));
      assert.equal(error.code, "PLUGIN_ERROR");
      assert.equal(error.remoteName, "NotCapable");
      assert.match(error.message, /Requires read access to "\/etc\/passwd"/);
    } finally {
      passwd.close();
    }
    // What is declared is granted: the greeter reads GREETING.
    Deno.env.set("GREETING", `hi from a ${isolation}`);
    const good = await forced("good", tmp.path, isolation);
    try {
      const out = await good.call(createContext(), { input: {} }) as {
        input: { greeting: string };
      };
      assert.equal(out.input.greeting, `hi from a ${isolation}`);
    } finally {
      good.close();
    }
    const host = await forced("undeclared_host", tmp.path, isolation);
    try {
      const error = await rejection(host.call(createContext(), { input: 1 }));
      assert.equal(error.remoteName, "NotCapable");
      assert.match(
        error.message,
        /Requires net access to "collector\.evil\.example:8443"/,
      );
    } finally {
      host.close();
    }
  });

  Deno.test(`${isolation}: ids and deadline cross the channel, and an abort reaches the isolate`, async () => {
    const { publicKey } = await publisher();
    await using plugin = await loadPlugin(await signed("context"), {
      trustedKeys: [publicKey],
      isolation,
      callTimeoutMs: 60_000,
    });
    assert.equal(plugin.manifest.kind, "command");
    // Sooner than the call timeout, so the isolate gets exactly this deadline.
    const deadline = Date.now() + 30_000;
    const ctx = createContext({ tenantId: "acme", deadline });
    const out = await plugin.call(ctx, { args: [] }) as {
      output: Record<string, unknown>;
    };
    assert.deepEqual(out.output, {
      args: [],
      requestId: ctx.requestId,
      traceId: ctx.traceId,
      spanId: ctx.spanId,
      tenantId: "acme",
      deadline,
      abortsSeen: 0,
    });

    const controller = new AbortController();
    const waiting = plugin.call(
      createContext({ signal: controller.signal }),
      { args: ["wait"] },
    );
    setTimeout(() => controller.abort(), 50);
    assert.equal((await rejection(waiting)).code, "CANCELLED");
    // The abort message is handled by the isolate before the next call.
    let seen = 0;
    for (let i = 0; i < 100 && seen !== 1; i++) {
      const r = await plugin.call(createContext(), { args: [] }) as {
        output: { abortsSeen: number };
      };
      seen = r.output.abortsSeen;
    }
    assert.equal(seen, 1);
  });
}

interface Load {
  stop(): Promise<{ ok: number; failed: string[] }>;
}

/** Concurrent GET loops against `url` until stopped; every response must be right. */
function httpLoad(url: string, concurrency: number): Load {
  let running = true;
  let okCount = 0;
  const failed: string[] = [];
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) {
      try {
        const res = await fetch(url);
        const body = await res.json();
        if (res.status === 200 && body.greeting === "contained") okCount++;
        else failed.push(`${res.status} ${JSON.stringify(body)}`);
      } catch (error) {
        failed.push(String(error));
      }
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return { ok: okCount, failed };
    },
  };
}

Deno.test("a plugin that throws, loops forever or exhausts memory is contained while the host keeps serving HTTP", async () => {
  const trust: LoadPluginOptions = {
    trustedKeys: [(await publisher()).publicKey],
  };
  const [good, throws, loops, allocates] = await Promise.all(
    ["good", "throws", "loops", "allocates"].map(signed),
  );

  Deno.env.set("GREETING", "contained");
  await using greeter = await loadPlugin(good, trust);
  const hello = defineQuery({
    name: "hello",
    input: z.object({ greeting: z.string() }),
    handle: (_ctx, input) => ok({ greeting: input.greeting }),
  });
  const { app, server } = await servePluginQuery(greeter, hello, "/hello");
  await using _app = app;
  const load = httpLoad(`http://127.0.0.1:${server.addr.port}/hello`, 4);
  try {
    // Throws: the error comes back, the isolate stays up.
    await using thrower = await loadPlugin(throws, trust);
    for (let i = 0; i < 3; i++) {
      const error = await rejection(thrower.call(createContext(), {}));
      assert.equal(error.code, "PLUGIN_ERROR");
      assert.equal(error.remoteName, "RangeError");
      assert.match(error.message, /the plugin failed on purpose/);
    }
    assert.equal(thrower.restarts, 0);

    // Loops forever: TIMEOUT at the deadline, then terminated and restarted.
    for (const isolation of ISOLATIONS) {
      await using looper = await loadPlugin(loops, {
        ...trust,
        isolation,
        callTimeoutMs: 300,
        pingGraceMs: 200,
        restartBackoffMs: 50,
      });
      const started = Date.now();
      const error = await rejection(
        looper.call(createContext(), { input: { spin: true } }),
      );
      assert.equal(error.code, "TIMEOUT", `${isolation}: ${error.message}`);
      assert.ok(Date.now() - started < 10_000);
      await until(`${isolation} looper restart`, () => looper.restarts === 1);
      assert.deepEqual(await looper.call(createContext(), { input: {} }), {});
    }

    // Allocates without bound in a process: killed at its heap limit, host untouched.
    await using hog = await loadPlugin(allocates, {
      ...trust,
      isolation: "process",
      memoryLimitMb: 48,
      restartBackoffMs: 50,
    });
    const error = await rejection(
      hog.call(createContext(), { input: { grow: true } }),
    );
    assert.equal(error.code, "CRASHED");
    assert.match(error.message, /out of memory/);
    await until("allocator restart", () => hog.restarts === 1);
    assert.deepEqual(await hog.call(createContext(), { input: {} }), {
      kept: 0,
    });
  } finally {
    const { ok: served, failed } = await load.stop();
    await server.shutdown();
    assert.deepEqual(failed, []);
    assert.ok(served > 0, "the load generator got no responses");
    console.log(`host served ${served} requests, 0 failed, during the faults`);
  }
});

Deno.test("restarts back off exponentially while calls get UNAVAILABLE", async () => {
  const { publicKey } = await publisher();
  await using looper = await loadPlugin(await signed("loops"), {
    trustedKeys: [publicKey],
    callTimeoutMs: 200,
    pingGraceMs: 100,
    restartBackoffMs: 400,
  });
  const waits: number[] = [];
  for (let crash = 1; crash <= 2; crash++) {
    const spin = await rejection(
      looper.call(createContext(), { input: { spin: true } }),
    );
    assert.equal(spin.code, "TIMEOUT");
    // The isolate is terminated after the ping grace; then calls are refused until restart.
    let refused: PluginError | undefined;
    const end = Date.now() + 20_000;
    while (refused === undefined && Date.now() < end) {
      const e = await looper.call(createContext(), { input: {} }).then(
        () => undefined,
        (e) => e as PluginError,
      );
      if (e?.code === "UNAVAILABLE") refused = e;
    }
    assert.ok(refused, "calls were never refused during the backoff");
    waits.push(Number(/\(backoff (\d+) ms\)/.exec(refused!.message)![1]));
    await until(`restart ${crash}`, () => looper.restarts === crash);
  }
  assert.deepEqual(waits, [400, 800]);
  assert.deepEqual(await looper.call(createContext(), { input: {} }), {});
});

/**
 * Real process restarts and crashes: a KNUL server child process is killed with SIGKILL.
 * After a restart from its session store, a client resumes with 0-RTT (quinn's report); a
 * client whose server dies mid-call gets UNAVAILABLE rather than hanging.
 */
import assert from "node:assert/strict";
import { createContext } from "../context/context.ts";
import { memorySink } from "../context/logger.ts";
import { until } from "../_poll.ts";
import {
  startKnulServer as startServer,
  startWithClient,
} from "./_knul_process.ts";
import type { KnulError } from "./status.ts";

const log = memorySink("error");

async function kill(child: Deno.ChildProcess): Promise<void> {
  child.kill("SIGKILL");
  await child.status;
}

Deno.test("knul 0-RTT: a server restarted from its session store accepts 0-RTT", async () => {
  const setup = await startWithClient();
  const { certs, store, client } = setup;
  let server = setup.server;
  try {
    const ctx = createContext({ log });
    assert.equal(
      await client.call(ctx, "ping", null, { idempotent: true }),
      "pong",
    );
    await client.disconnect();
    await kill(server.child);
    server = await startServer(server.port, store, certs.dir);
    const info = await client.connect();
    assert.deepEqual(info, { zeroRttAttempted: true, zeroRttAccepted: true });
    assert.equal(
      await client.call(ctx, "ping", null, { idempotent: true }),
      "pong",
    );
  } finally {
    await client.close();
    await kill(server.child);
    await Deno.remove(store, { recursive: true });
  }
});

Deno.test("knul faults: a server killed mid-call gives UNAVAILABLE, not a hang", async () => {
  const { store, server, client } = await startWithClient();
  try {
    const ctx = createContext({ log });
    const pending = client.call(ctx, "hang", null);
    // Killed only once the call is running in the server.
    await until(
      "the hanging call to run",
      async () =>
        (await client.call<{ hanging: number }>(ctx, "stats", null))
          .hanging === 1,
    );
    await kill(server.child);
    const started = Date.now();
    await pending.then(
      () => assert.fail("the call cannot succeed"),
      (e: KnulError) => assert.equal(e.status, "UNAVAILABLE"),
    );
    // Detected by the idle timeout (keep-alives go unanswered), well before any hang.
    assert.ok(Date.now() - started < 30_000);
    assert.equal(client.running(), 0);
  } finally {
    await client.close();
    await Deno.remove(store, { recursive: true });
  }
});

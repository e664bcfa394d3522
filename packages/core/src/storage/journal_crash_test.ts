import assert from "node:assert/strict";
import { openJournal } from "./journal.ts";
import { content, FILES, versionOf } from "./testdata/journal_crash_tree.ts";

const KILLS = Number(Deno.env.get("KREPIS_CRASH_KILLS") ?? 25);

/** Reads the child's output until it printed `line` ("ready", or "committed"). */
async function waitFor(
  stdout: ReadableStream<Uint8Array>,
  line: string,
): Promise<void> {
  const reader = stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes(line)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`child exited before "${line}": ${seen}`);
    seen += value;
  }
  reader.releaseLock();
}

Deno.test({
  name:
    `SIGKILL of a Deno child mid-transaction ${KILLS}× leaves every transaction all or nothing`,
  sanitizeResources: false,
  async fn() {
    const root = await Deno.realPath(
      await Deno.makeTempDir({ prefix: "krepis-crash-" }),
    );
    try {
      using journal = await openJournal(root);
      await journal.transaction("v0", async (tx) => {
        for (let i = 0; i < FILES; i++) {
          await tx.writeFile(`f${i}.txt`, content(0, i));
        }
        await tx.writeFile("extra-0.txt", "extra");
      });
      const child = new URL(
        "./testdata/journal_crash_child.ts",
        import.meta.url,
      );
      let last = 0;
      let interrupted = 0;
      for (let kill = 0; kill < KILLS; kill++) {
        const proc = new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", child.pathname, root],
          stdout: "piped",
          stderr: "inherit",
        }).spawn();
        // Every other child is killed after its first commit: timed from "ready" alone, a
        // loaded machine can let every child die inside its first transaction.
        await waitFor(proc.stdout, kill % 2 ? "committed" : "ready");
        await new Promise((r) => setTimeout(r, Math.random() * 120));
        proc.kill("SIGKILL");
        const status = await proc.status;
        assert.equal(status.signal, "SIGKILL", `kill ${kill}`);
        try {
          await versionOf(root);
        } catch {
          interrupted++;
        }
        // Any journal call starts a session, which rolls back what the child left.
        const [newest] = await journal.history();
        const version = await versionOf(root);
        assert.ok(version >= last, `kill ${kill}: went back to v${version}`);
        assert.equal(newest.label, `v${version}`, `kill ${kill}`);
        last = version;
      }
      console.log(
        `${KILLS} kills, ${interrupted} mid-transaction (rolled back on reopen), reached v${last}`,
      );
      assert.ok(last > 0, "the child never committed");
      assert.ok(interrupted > 0, "no kill landed inside a transaction");
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

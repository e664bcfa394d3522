import assert from "node:assert/strict";
import { join } from "node:path";
import { z } from "zod";
import { createApp } from "../app/create_app.ts";
import { memorySink } from "../context/logger.ts";
import { defineCommand } from "../cqs/handler.ts";
import { ok } from "../result/result.ts";
import { Fs, openJournal } from "./journal.ts";

/** A command that writes through the journal it finds on its context. */
const writeNote = defineCommand({
  name: "writeNote",
  input: z.object({ name: z.string(), text: z.string() }),
  async handle(ctx, input) {
    await ctx.use(Fs).transaction(
      `note ${input.name}`,
      (tx) => tx.writeFile(`notes/${input.name}.md`, input.text),
    );
    return ok(undefined);
  },
});

Deno.test("commands reach the journal as ctx.use(Fs) through createApp's context hook", async () => {
  const root = await Deno.realPath(
    await Deno.makeTempDir({ prefix: "krepis-fs-app-" }),
  );
  try {
    using journal = await openJournal(root);
    const app = createApp({
      commands: [writeNote],
      context: (ctx) => ctx.with(Fs, journal),
      log: memorySink(),
    });
    const written = await app.execute(app.context(), writeNote, {
      name: "a",
      text: "hello",
    });
    assert.ok(written.ok);
    assert.equal(await Deno.readTextFile(join(root, "notes/a.md")), "hello");
    assert.equal((await journal.history())[0].label, "note a");

    const escaped = await app.execute(app.context(), writeNote, {
      name: "../../evil",
      text: "x",
    });
    assert.ok(!escaped.ok, "a path outside the root fails the command");
    assert.deepEqual((await journal.history()).map((t) => t.label), ["note a"]);

    await journal.undo();
    assert.equal(
      await Deno.stat(join(root, "notes")).then(() => true, () => false),
      false,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

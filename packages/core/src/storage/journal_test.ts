import assert from "node:assert/strict";
import { join } from "node:path";
import { createContext } from "../context/context.ts";
import { KrepisError } from "../errors.ts";
import { loadKernel } from "../native/loader.ts";
import { Fs, type Journal, openJournal } from "./journal.ts";

async function tempJournal() {
  const root = await Deno.realPath(
    await Deno.makeTempDir({ prefix: "krepis-journal-" }),
  );
  const journal = await openJournal(root);
  return {
    journal,
    root,
    async [Symbol.asyncDispose]() {
      journal.close();
      await Deno.remove(root, { recursive: true });
    },
  };
}

const read = (root: string, path: string) =>
  Deno.readTextFile(join(root, path));
const exists = (root: string, path: string) =>
  Deno.lstat(join(root, path)).then(() => true, () => false);

function isCode(code: string) {
  return (e: unknown) => e instanceof KrepisError && e.code === code;
}

Deno.test("a transaction commits, undoes and redoes as one step", async () => {
  await using t = await tempJournal();
  const { journal, root } = t;
  await Deno.writeTextFile(join(root, "keep.txt"), "original");
  await journal.transaction("scaffold", async (tx) => {
    await tx.writeFile("keep.txt", "changed", { mode: 0o600 });
    await tx.mkdir("src/routes", { recursive: true });
    await Promise.all(
      ["a", "b", "c"].map((n) => tx.writeFile(`src/routes/${n}.ts`, n)),
    );
    assert.equal(await tx.readTextFile("src/routes/b.ts"), "b");
  });
  assert.equal(await read(root, "keep.txt"), "changed");
  assert.equal((await Deno.stat(join(root, "keep.txt"))).mode! & 0o777, 0o600);
  const [entry] = await journal.history();
  assert.equal(entry.label, "scaffold");
  assert.deepEqual(entry.files, [
    "keep.txt",
    "src",
    "src/routes",
    "src/routes/a.ts",
    "src/routes/b.ts",
    "src/routes/c.ts",
  ]);
  assert.ok(entry.time instanceof Date && !entry.undone);
  // Decoded from the kernel's Protobuf history: plain numbers, a recent commit time.
  assert.deepEqual(Object.keys(entry).sort(), [
    "files",
    "id",
    "label",
    "time",
    "undone",
  ]);
  assert.equal(typeof entry.id, "number");
  assert.ok(Math.abs(entry.time.getTime() - Date.now()) < 10 * 60_000);

  const undone = await journal.undo();
  assert.deepEqual(undone.map((u) => u.label), ["scaffold"]);
  assert.equal(await read(root, "keep.txt"), "original");
  assert.equal(await exists(root, "src"), false);
  const redone = await journal.redo();
  assert.deepEqual(redone.map((r) => r.label), ["scaffold"]);
  assert.equal(await read(root, "src/routes/c.ts"), "c");
});

Deno.test("a callback that throws rolls everything back", async () => {
  await using t = await tempJournal();
  const { journal, root } = t;
  await Deno.writeTextFile(join(root, "a.txt"), "before");
  await assert.rejects(
    journal.transaction("broken", async (tx) => {
      await tx.writeFile("a.txt", "after");
      await tx.writeFile("new/b.txt", "b");
      await tx.remove("a.txt");
      throw new Error("generator failed");
    }),
    /generator failed/,
  );
  assert.equal(await read(root, "a.txt"), "before");
  assert.equal(await exists(root, "new"), false);
  assert.deepEqual(await journal.history(), []);
});

Deno.test("paths outside the root are refused with a clear error", async () => {
  await using t = await tempJournal();
  const { journal, root } = t;
  const outside = await Deno.makeTempDir();
  try {
    await Deno.symlink(outside, join(root, "link"));
    for (
      const bad of [
        "../x.txt",
        "a/../../x.txt",
        join(outside, "x"),
        "link/x.txt",
        ".krepis/x",
      ]
    ) {
      await assert.rejects(
        journal.transaction("escape", (tx) => tx.writeFile(bad, "x")),
        isCode("PERMISSION_DENIED"),
        bad,
      );
    }
    assert.throws(
      () => journal.resolve("../etc/passwd"),
      isCode("PERMISSION_DENIED"),
    );
    assert.deepEqual([...Deno.readDirSync(outside)], []);
    assert.deepEqual(await journal.history(), []);
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("undo refuses files changed outside Krepis, naming them; force overrides", async () => {
  await using t = await tempJournal();
  const { journal, root } = t;
  await journal.transaction("gen", async (tx) => {
    await tx.writeFile("a.ts", "a");
    await tx.writeFile("b.ts", "b");
  });
  await Deno.writeTextFile(join(root, "b.ts"), "hand edit");
  await assert.rejects(journal.undo(), (e) => {
    assert.ok(e instanceof KrepisError && e.code === "CONFLICT");
    assert.match(e.message, /b\.ts/);
    assert.doesNotMatch(e.message, /a\.ts/);
    return true;
  });
  assert.equal(
    await exists(root, "a.ts"),
    true,
    "a refused undo changes nothing",
  );
  await journal.undo(1, { force: true });
  assert.equal(await exists(root, "b.ts"), false);
});

Deno.test("bad operations reject and leave the transaction usable", async () => {
  await using t = await tempJournal();
  const { journal, root } = t;
  await journal.transaction("mixed", async (tx) => {
    await assert.rejects(tx.remove("missing.txt"), isCode("NOT_FOUND"));
    await assert.rejects(tx.chmod("x", 0o7777 + 1), isCode("INVALID_ARGUMENT"));
    await tx.writeFile("ok.txt", "ok");
  });
  assert.equal(await read(root, "ok.txt"), "ok");
  await assert.rejects(journal.undo(5), isCode("NOT_FOUND"));
  assert.equal(await read(root, "ok.txt"), "ok");
});

Deno.test("transactions on one root take turns", async () => {
  await using t = await tempJournal();
  const other = await openJournal(t.root);
  try {
    const order: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => release = r);
    let started!: () => void;
    const firstStarted = new Promise<void>((r) => started = r);
    const first = t.journal.transaction("first", async (tx) => {
      order.push("first:start");
      started();
      await tx.writeFile("f.txt", "1");
      await held;
      order.push("first:end");
    });
    await firstStarted;
    const second = other.transaction("second", async (tx) => {
      order.push("second:start");
      await tx.writeFile("f.txt", "2");
    });
    await new Promise((r) => setTimeout(r, 100));
    release();
    await Promise.all([first, second]);
    assert.deepEqual(order, ["first:start", "first:end", "second:start"]);
    assert.deepEqual((await other.history()).map((h) => h.label), [
      "second",
      "first",
    ]);
  } finally {
    other.close();
  }
});

Deno.test("the Fs capability carries a journal through the context", async () => {
  await using t = await tempJournal();
  const ctx = createContext().with(Fs, t.journal);
  const fs: Journal = ctx.use(Fs);
  await fs.transaction("via ctx", (tx) => tx.writeFile("ctx.txt", "hello"));
  assert.equal(await fs.readTextFile("ctx.txt"), "hello");
});

Deno.test("undo and redo refuse a bad number of steps, in TS and in the kernel", async () => {
  await using t = await tempJournal();
  await t.journal.transaction("one", (tx) => tx.writeFile("a.txt", "a"));
  for (const bad of [-1, 0, 1.5, NaN, Infinity]) {
    await assert.rejects(
      t.journal.undo(bad),
      (e) =>
        e instanceof KrepisError && e.code === "INVALID_ARGUMENT" &&
        /steps/.test(e.message),
      String(bad),
    );
    await assert.rejects(
      t.journal.redo(bad),
      isCode("INVALID_ARGUMENT"),
      String(bad),
    );
  }
  // The kernel checks too, for callers of the raw bindings.
  const { bindings } = await loadKernel();
  const handle = await bindings.journalOpen(
    new TextEncoder().encode(t.root),
    0,
    1000,
  );
  try {
    for (const bad of [-1, 1.5, NaN]) {
      await assert.rejects(
        bindings.journalUndo(handle, bad, 0),
        (e) =>
          e instanceof KrepisError && e.code === "INVALID_ARGUMENT" &&
          /steps/.test(e.message),
        String(bad),
      );
    }
  } finally {
    bindings.journalClose(handle);
  }
  assert.equal(await read(t.root, "a.txt"), "a", "nothing was undone");
});

// Advances the tree at Deno.args[0] one journaled transaction after another until it is
// killed. Version k: files f0..f9 hold "v<k>:<i>:" plus k-dependent padding, and exactly
// one of extra-0..3 exists (extra-<k % 4>). Prints "ready" once the journal is open and
// "committed" after each transaction.
import { openJournal } from "../journal.ts";
import { content, FILES, versionOf } from "./journal_crash_tree.ts";

const root = Deno.args[0];
const journal = await openJournal(root);
let version = await versionOf(root);
console.log("ready");
for (;;) {
  const next = version + 1;
  await journal.transaction(`v${next}`, async (tx) => {
    // Two flushes: the first half of the files, then the rest plus the rename.
    await Promise.all(
      Array.from(
        { length: FILES / 2 },
        (_, i) => tx.writeFile(`f${i}.txt`, content(next, i)),
      ),
    );
    await Promise.all([
      ...Array.from(
        { length: FILES / 2 },
        (_, j) =>
          tx.writeFile(`f${j + FILES / 2}.txt`, content(next, j + FILES / 2)),
      ),
      tx.rename(`extra-${version % 4}.txt`, `extra-${next % 4}.txt`),
    ]);
  });
  version = next;
  console.log("committed");
}

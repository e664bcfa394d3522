// The tree the crash test's child advances, and how to tell which version it is at.
import { join } from "node:path";

/** Files per version. */
export const FILES = 10;

/** Content of file `i` at `version`; sizes vary so a torn write shows. */
export function content(version: number, i: number): string {
  return `v${version}:${i}:`.padEnd(16 + (version * 53 + i * 97) % 4000, "x");
}

/** The version the tree at `root` is at; throws when it is a mix of versions. */
export async function versionOf(root: string): Promise<number> {
  const versions = new Set<number>();
  for (let i = 0; i < FILES; i++) {
    const text = await Deno.readTextFile(join(root, `f${i}.txt`));
    const version = Number(text.slice(1, text.indexOf(":")));
    if (text !== content(version, i)) throw new Error(`f${i} is torn`);
    versions.add(version);
  }
  if (versions.size !== 1) throw new Error(`mixed versions ${[...versions]}`);
  const [version] = versions;
  const extras = [0, 1, 2, 3].filter((n) => {
    try {
      Deno.statSync(join(root, `extra-${n}.txt`));
      return true;
    } catch {
      return false;
    }
  });
  if (extras.length !== 1 || extras[0] !== version % 4) {
    throw new Error(`version ${version} with extras ${extras}`);
  }
  return version;
}

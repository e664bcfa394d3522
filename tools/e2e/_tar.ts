/**
 * Reads the tar archives `deno publish` uploads: regular files with GNU long names, no
 * links. A few lines instead of a dependency, because the format subset is this small.
 *
 * @module
 */

const BLOCK = 512;

function field(block: Uint8Array, start: number, length: number): string {
  const bytes = block.subarray(start, start + length);
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end === -1 ? bytes : bytes.subarray(0, end));
}

/**
 * The regular files of a tar archive by absolute path (`./mod.ts` becomes `/mod.ts`).
 *
 * @example
 * ```ts ignore
 * import { untar } from "./_tar.ts";
 * const files = untar(bytes);
 * console.log([...files.keys()]);
 * ```
 */
export function untar(archive: Uint8Array): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  let longName: string | undefined;
  for (let at = 0; at + BLOCK <= archive.length;) {
    const header = archive.subarray(at, at + BLOCK);
    if (header.every((b) => b === 0)) break;
    const size = parseInt(field(header, 124, 12).trim() || "0", 8);
    const type = String.fromCharCode(header[156] || 48);
    const data = archive.subarray(at + BLOCK, at + BLOCK + size);
    if (data.length !== size) throw new Error("truncated tar archive");
    at += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    if (type === "L") {
      longName = field(data, 0, data.length);
      continue;
    }
    const prefix = field(header, 345, 155);
    const name = longName ??
      (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
    longName = undefined;
    if (type !== "0") continue;
    const path = `/${name.replace(/^\.?\/+/, "")}`;
    if (path.split("/").includes("..")) {
      throw new Error(`tar entry ${name} leaves the package`);
    }
    files.set(path, data.slice());
  }
  return files;
}

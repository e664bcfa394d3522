/**
 * SHA-256 of files, streamed so a large library is never held in memory at once.
 *
 * @module
 */

import { createHash } from "node:crypto";

/**
 * Lower-case hex SHA-256 of a file.
 *
 * @example
 * ```ts ignore
 * import { sha256File } from "./verify.ts";
 * console.log(await sha256File("./target/debug/libkrepis.so"));
 * ```
 */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/**
 * A static file server on 127.0.0.1 standing in for the GitHub release: serves the files
 * of one directory and counts the requests for each.
 *
 * @module
 */

import { join } from "node:path";

/** A running mirror. */
export interface Mirror {
  /** Base URL for `KREPIS_BINARY_BASE_URL`, without a trailing slash. */
  url: string;
  /** Requests so far for the kernel library of `target`. */
  requests(target: string): number;
  /** Stops the server. */
  close(): Promise<void>;
}

/**
 * Serves the plain files directly in `dir`.
 *
 * @example
 * ```ts ignore
 * import { startMirror } from "./_mirror.ts";
 * const mirror = await startMirror("dist");
 * console.log(mirror.url);
 * await mirror.close();
 * ```
 */
export function startMirror(dir: string): Promise<Mirror> {
  const counts = new Map<string, number>();
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ port }) =>
        resolve({
          url: `http://127.0.0.1:${port}`,
          requests: (target) =>
            [...counts].filter(([name]) =>
              name.includes(`krepis-${target}.`) && !name.endsWith(".sha256")
            ).reduce((n, [, c]) => n + c, 0),
          close: () => server.shutdown(),
        }),
    }, async (req) => {
      const name = decodeURIComponent(new URL(req.url).pathname.slice(1));
      counts.set(name, (counts.get(name) ?? 0) + 1);
      if (!/^[\w.+-]+$/.test(name)) {
        return new Response("not found", { status: 404 });
      }
      try {
        const file = await Deno.open(join(dir, name));
        return new Response(file.readable);
      } catch {
        return new Response("not found", { status: 404 });
      }
    });
  });
}

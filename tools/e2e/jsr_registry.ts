/**
 * A JSR-compatible registry on 127.0.0.1 for rehearsing a release offline.
 *
 * It implements the part of the JSR API that `deno publish` uses (with `JSR_URL` pointing
 * here and `--token`) and the package layout Deno's module loader reads:
 *
 * - `GET  /api/scopes/<scope>/packages/<name>`: the package exists (every package does).
 * - `GET  /api/scopes/<scope>/packages/<name>/versions/<version>`: 200 once published,
 *   404 before (`deno publish` probes it to skip published versions).
 * - `POST /api/scopes/<scope>/packages/<name>/versions/<version>?config=/deno.json`: the
 *   gzipped tarball; answers a finished publishing task.
 * - `GET  /api/publish_status/<id>`: that task.
 * - `GET  /@<scope>/<name>/meta.json`, `/@<scope>/<name>/<version>_meta.json` (exports and
 *   a manifest of every file with its size and SHA-256) and the files under
 *   `/@<scope>/<name>/<version>/`.
 *
 * Packages live in memory; nothing is written to disk.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { untar } from "./_tar.ts";

/** One published version: its files by absolute path (`/mod.ts`) and its exports. */
interface Version {
  files: Map<string, Uint8Array>;
  exports: Record<string, string>;
  manifest: Record<string, { size: number; checksum: string }>;
}

/** A running registry. */
export interface JsrRegistry {
  /** Base URL for `JSR_URL`, e.g. `http://127.0.0.1:41234/`. */
  url: string;
  /** The token `deno publish --token` must send. */
  token: string;
  /** `@scope/name@version` of every published version, in publish order. */
  published: string[];
  /** Stops the server. */
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  ts: "application/typescript",
  tsx: "text/tsx",
  js: "application/javascript",
  json: "application/json",
  md: "text/markdown",
};

function json(body: unknown, status = 200): Response {
  return Response.json(body, { status });
}

function apiError(status: number, code: string, message: string): Response {
  return json({ code, message }, status);
}

async function readVersion(
  tarball: Uint8Array<ArrayBuffer>,
  config: string,
): Promise<Version> {
  const stream = new Blob([tarball]).stream().pipeThrough(
    new DecompressionStream("gzip"),
  );
  const files = untar(new Uint8Array(await new Response(stream).arrayBuffer()));
  const manifest: Version["manifest"] = {};
  for (const [path, content] of files) {
    const digest = createHash("sha256").update(content).digest("hex");
    manifest[path] = { size: content.length, checksum: `sha256-${digest}` };
  }
  const configFile = files.get(config);
  if (!configFile) throw new Error(`the tarball has no ${config}`);
  const parsed = JSON.parse(new TextDecoder().decode(configFile));
  const exports = typeof parsed.exports === "string"
    ? { ".": parsed.exports }
    : parsed.exports ?? {};
  return { files, exports, manifest };
}

/**
 * Starts the registry on 127.0.0.1 (an OS-chosen port).
 *
 * @example
 * ```ts ignore
 * import { startJsrRegistry } from "./jsr_registry.ts";
 * const registry = await startJsrRegistry();
 * // JSR_URL=registry.url deno publish --token registry.token
 * await registry.close();
 * ```
 */
export function startJsrRegistry(): Promise<JsrRegistry> {
  const packages = new Map<string, Map<string, Version>>();
  const tasks = new Map<string, unknown>();
  const token = crypto.randomUUID();
  const published: string[] = [];

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const parts = url.pathname.split("/").filter(Boolean).map(
      decodeURIComponent,
    );
    if (parts[0] === "api") {
      const [, a, scope, b, name, c, version] = parts;
      if (a === "publish_status" && scope && parts.length === 3) {
        const task = tasks.get(scope);
        return task
          ? json(task)
          : apiError(404, "publishingTaskNotFound", "no such task");
      }
      if (a !== "scopes" || b !== "packages" || !name) {
        return apiError(404, "notFound", `no API route ${url.pathname}`);
      }
      const key = `@${scope}/${name}`;
      if (parts.length === 5 && req.method === "GET") {
        return json({ scope, name });
      }
      if (parts.length !== 7 || c !== "versions") {
        return apiError(404, "notFound", `no API route ${url.pathname}`);
      }
      if (req.method === "GET") {
        return packages.get(key)?.has(version)
          ? json({ scope, package: name, version })
          : apiError(404, "packageVersionNotFound", `${key}@${version}`);
      }
      if (req.method !== "POST") {
        return apiError(405, "methodNotAllowed", req.method);
      }
      if (req.headers.get("authorization") !== `Bearer ${token}`) {
        return apiError(401, "unauthorized", "a valid token is required");
      }
      if (packages.get(key)?.has(version)) {
        return apiError(
          409,
          "versionAlreadyExists",
          `${key}@${version} is already published`,
        );
      }
      const config = url.searchParams.get("config") ?? "/deno.json";
      let entry: Version;
      try {
        entry = await readVersion(
          new Uint8Array(await req.arrayBuffer()),
          config,
        );
      } catch (error) {
        return apiError(400, "invalidTarball", (error as Error).message);
      }
      if (!packages.has(key)) packages.set(key, new Map());
      packages.get(key)!.set(version, entry);
      published.push(`${key}@${version}`);
      const id = crypto.randomUUID();
      const task = {
        id,
        status: "success",
        error: null,
        packageScope: scope,
        packageName: name,
        packageVersion: version,
      };
      tasks.set(id, task);
      return json(task);
    }

    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed", { status: 405 });
    }
    const [scope, name, ...rest] = parts;
    const versions = scope?.startsWith("@") && name
      ? packages.get(`${scope}/${name}`)
      : undefined;
    if (!versions) return new Response("not found", { status: 404 });
    if (rest.length === 1 && rest[0] === "meta.json") {
      const all = [...versions.keys()];
      return json({
        scope: scope.slice(1),
        name,
        latest: all.at(-1),
        versions: Object.fromEntries(all.map((v) => [v, {}])),
      });
    }
    if (rest.length === 1 && rest[0].endsWith("_meta.json")) {
      const version = versions.get(rest[0].slice(0, -"_meta.json".length));
      if (!version) return new Response("not found", { status: 404 });
      return json({ exports: version.exports, manifest: version.manifest });
    }
    const version = versions.get(rest[0]);
    const file = version?.files.get(`/${rest.slice(1).join("/")}`);
    if (!file) return new Response("not found", { status: 404 });
    const ext = rest.at(-1)!.split(".").pop() ?? "";
    return new Response(file as Uint8Array<ArrayBuffer>, {
      headers: {
        "content-type": TYPES[ext] ?? "application/octet-stream",
      },
    });
  }

  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ port }) =>
        resolve({
          url: `http://127.0.0.1:${port}/`,
          token,
          published,
          close: () => server.shutdown(),
        }),
    }, handle);
  });
}

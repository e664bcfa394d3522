/**
 * Test helpers: run the real `krepis` CLI (built from this checkout) and make signed copies
 * of the fixture plugins under `testdata/`.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { type App, createApp, defaultBehaviors } from "../app/create_app.ts";
import { memorySink } from "../context/logger.ts";
import type { AnyHandler } from "../cqs/handler.ts";
import type { HttpServer } from "../http/types.ts";
import { route } from "../router/route.ts";
import { pluginBehavior } from "./behavior.ts";
import { PluginError } from "./errors.ts";
import type { Plugin } from "./load.ts";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const TESTDATA = fileURLToPath(new URL("./testdata/", import.meta.url));

let built: Promise<void> | undefined;

/** The `PluginError` that `promise` rejects with; throws if it resolves or rejects otherwise. */
export async function rejection(
  promise: Promise<unknown>,
): Promise<PluginError> {
  const error = await promise.then(() => undefined, (e) => e);
  if (!(error instanceof PluginError)) {
    throw new Error(`expected a PluginError, got ${error}`);
  }
  return error;
}

/** Output of a CLI run. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `krepis <args>` (building the CLI first, once per test process). */
export async function krepis(...args: string[]): Promise<Run> {
  built ??= new Deno.Command("cargo", {
    args: ["build", "-q", "-p", "krepis-cli"],
    cwd: ROOT,
    stdout: "inherit",
    stderr: "inherit",
  }).output().then((o) => {
    if (!o.success) throw new Error("cargo build -p krepis-cli failed");
  });
  await built;
  const out = await new Deno.Command(join(ROOT, "target/debug/krepis"), {
    args,
    cwd: ROOT,
    env: { KREPIS_HOME: ROOT },
  }).output();
  const text = new TextDecoder();
  return {
    code: out.code,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
  };
}

/** Path of fixture `name` under `testdata/`. */
export function fixture(name: string): string {
  return join(TESTDATA, name);
}

/** Copies the directory `from` to `to`, recursively. */
export async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory) await copyDir(source, target);
    else await Deno.copyFile(source, target);
  }
}

/** A scratch directory removed by `await using`. */
export async function scratch(): Promise<
  { path: string } & AsyncDisposable
> {
  const path = await Deno.makeTempDir({ prefix: "krepis-plugin-test-" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

/** A publisher key pair made by `krepis plugin keygen` in `dir`. */
export async function keyPair(
  dir: string,
  name = "publisher.key",
): Promise<{ secret: string; publicKey: string }> {
  const secret = join(dir, name);
  const run = await krepis("plugin", "keygen", secret);
  if (run.code !== 0) throw new Error(`keygen failed: ${run.stderr}`);
  return { secret, publicKey: await Deno.readTextFile(`${secret}.pub`) };
}

/** Copies fixture `name` into `dir` and returns the copy's path. */
export async function copyFixture(name: string, dir: string): Promise<string> {
  const target = join(dir, name);
  await copyDir(fixture(name), target);
  return target;
}

/** A copy of fixture `name` in `dir`, signed with `secret` by `krepis plugin sign`. */
export async function signedFixture(
  name: string,
  dir: string,
  secret: string,
): Promise<string> {
  const target = await copyFixture(name, dir);
  const run = await krepis("plugin", "sign", target, "--key", secret);
  if (run.code !== 0) throw new Error(`sign ${name} failed: ${run.stderr}`);
  return target;
}

interface Publisher {
  dir: string;
  secret: string;
  publicKey: string;
}

let publisherOnce: Promise<Publisher> | undefined;
const signedOnce = new Map<string, Promise<string>>();

/**
 * One publisher key pair per test process, in a directory removed when the process exits;
 * signed fixtures (see {@linkcode signed}) live there too.
 */
export function publisher(): Promise<Publisher> {
  return publisherOnce ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "krepis-plugin-publisher-" });
    globalThis.addEventListener("unload", () => {
      Deno.removeSync(dir, { recursive: true });
    });
    return { dir, ...await keyPair(dir) };
  })();
}

/**
 * Fixture `name` signed by {@linkcode publisher}, once per test process. Do not modify it:
 * copy it with {@linkcode copyDir} first.
 */
export function signed(name: string): Promise<string> {
  let dir = signedOnce.get(name);
  if (dir === undefined) {
    dir = publisher().then((p) =>
      signedFixture(name, join(p.dir, "signed"), p.secret)
    );
    signedOnce.set(name, dir);
  }
  return dir;
}

/**
 * Serves `query` on `GET path` with `plugin`'s behaviour in the pipeline, on 127.0.0.1 (any
 * free port). The caller shuts `server` down, then disposes `app`.
 */
export async function servePluginQuery(
  plugin: Plugin,
  query: AnyHandler,
  path: string,
): Promise<{ app: App; server: HttpServer }> {
  const app = createApp({
    queries: [query],
    routes: [route("GET", path, query)],
    behaviors: [...defaultBehaviors(), pluginBehavior(plugin)],
    log: memorySink(),
  });
  try {
    const server = await app.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen() {},
    });
    return { app, server };
  } catch (e) {
    await app[Symbol.asyncDispose]();
    throw e;
  }
}

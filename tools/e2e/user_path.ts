/**
 * `deno task e2e:user`: the release and a new user's first hour, rehearsed offline with
 * real tools only.
 *
 * 1. Builds the release kernel and CLI with `tools/release/package.sh` (what the release
 *    workflow runs) and fills the manifest with their SHA-256 in a temporary copy of the
 *    workspace.
 * 2. Serves the binaries from a mirror on 127.0.0.1 (`KREPIS_BINARY_BASE_URL`) and
 *    publishes the workspace packages with the real `deno publish` to a local
 *    JSR-compatible registry (`JSR_URL`).
 * 3. In an empty directory outside the repository, with an empty `DENO_DIR`, kernel cache
 *    and `HOME`: installs `krepis` as the README says, `krepis init my-app`, `deno task
 *    start` (the kernel comes from the mirror, verified and cached; a request succeeds),
 *    `krepis gen command`, `krepis check`, `krepis undo`, `deno task dev` with an edit
 *    picked up, then copies the app elsewhere and runs it again on the cached kernel.
 *
 * Ends with `user path: ok (<n> steps, <seconds> s)`, or names the step that failed.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startJsrRegistry } from "./jsr_registry.ts";
import { type Mirror, startMirror } from "./_mirror.ts";
import { type Proc, run, spawn } from "./_proc.ts";
import { unusedPort } from "../../packages/core/src/_port.ts";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const started = performance.now();
let steps = 0;

async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  console.log(`--- ${name}`);
  try {
    const result = await fn();
    steps++;
    console.log(`    ok (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    return result;
  } catch (error) {
    console.log(
      `user path: FAILED at step ${steps + 1} "${name}": ${
        error instanceof Error ? error.message : error
      }`,
    );
    throw failed;
  }
}

/** Thrown once a step has reported its failure. */
const failed = new Error("a step failed");

/** With `E2E_VERBOSE=1`, what the user saw (for the README's real output). */
function show(out: string): void {
  if (Deno.env.get("E2E_VERBOSE") === "1") {
    console.log(out.trimEnd().replace(/^/gm, "    | "));
  }
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
}

function hostTarget(): string {
  const out = new Deno.Command("rustc", { args: ["-vV"] }).outputSync();
  const host = new TextDecoder().decode(out.stdout).match(/^host: (.+)$/m);
  if (!host) throw new Error("cannot tell the host target from `rustc -vV`");
  return host[1].trim();
}

/** Polls `fn` until it returns a value, or fails after `ms`. */
async function eventually<T>(
  what: string,
  ms: number,
  fn: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `${what} did not happen within ${ms / 1000} s${last ? ` (${last})` : ""}`,
  );
}

async function greet(port: number): Promise<string | undefined> {
  const res = await fetch(`http://127.0.0.1:${port}/greet`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "Ada" }),
  });
  const body = await res.text();
  return res.ok ? body : undefined;
}

/** Serves the app with `deno task <task>` until a greeting comes back; returns it. */
async function serveOnce(
  app: string,
  env: Record<string, string>,
  task: string,
): Promise<string> {
  const port = unusedPort();
  const proc = spawn("deno", ["task", task], {
    cwd: app,
    env: { ...env, PORT: String(port) },
  });
  try {
    await proc.waitFor(/listening on/, 180_000);
    return await eventually("a greeting", 30_000, () => greet(port));
  } finally {
    await proc.stop();
  }
}

const tmp = await Deno.makeTempDir({ prefix: "krepis-user-path-" });
const cleanup: (() => Promise<void>)[] = [];
try {
  const target = hostTarget();
  const dist = join(tmp, "dist");
  const ws = join(tmp, "workspace");
  const version = JSON.parse(
    await Deno.readTextFile(join(repo, "packages/core/deno.json")),
  ).version as string;

  await step(`release build and package for ${target}`, async () => {
    await run("bash", [join(repo, "tools/release/package.sh"), target, dist], {
      cwd: repo,
      env: {},
      inherit: true,
      timeoutMs: 20 * 60_000,
    });
  });

  await step("manifest with SHA-256 in a copy of the workspace", async () => {
    const files = await run("git", [
      "ls-files",
      "-co",
      "--exclude-standard",
      "-z",
    ], {
      cwd: repo,
      env: {},
    });
    for (const rel of files.split("\0").filter(Boolean)) {
      const from = join(repo, rel);
      const info = await Deno.lstat(from).catch(() => undefined);
      if (!info?.isFile) continue; // deleted in the work tree, or a symlink
      await Deno.mkdir(dirname(join(ws, rel)), { recursive: true });
      await Deno.copyFile(from, join(ws, rel));
    }
    const piece = JSON.parse(
      await Deno.readTextFile(join(dist, `manifest-${target}.json`)),
    );
    const manifest = {
      version,
      targets: { [piece.target]: { file: piece.file, sha256: piece.sha256 } },
    };
    await Deno.writeTextFile(
      join(ws, "packages/core/native/manifest.json"),
      JSON.stringify(manifest, null, 2) + "\n",
    );
  });

  const mirror: Mirror = await step("binary mirror on 127.0.0.1", async () => {
    const m = await startMirror(dist);
    cleanup.push(() => m.close());
    return m;
  });

  const registry = await step("local JSR registry; deno publish", async () => {
    const r = await startJsrRegistry();
    cleanup.push(() => r.close());
    await run("deno", [
      "publish",
      "--token",
      r.token,
      "--allow-dirty",
      "--no-provenance",
    ], {
      cwd: ws,
      env: { JSR_URL: r.url, DENO_DIR: join(tmp, "publisher-deno-dir") },
    });
    for (const name of ["core", "bindings", "smart-gen", "cli"]) {
      check(
        r.published.includes(`@krepis/${name}@${version}`),
        `@krepis/${name}@${version} was not published (got ${r.published})`,
      );
    }
    return r;
  });

  // The user: a fresh home, empty Deno and kernel caches, nothing from the repository.
  const home = join(tmp, "home");
  const bin = join(home, ".local", "bin");
  const work = join(tmp, "projects");
  await Deno.mkdir(bin, { recursive: true });
  await Deno.mkdir(work, { recursive: true });
  const user: Record<string, string> = {
    HOME: home,
    PATH: `${bin}:${Deno.env.get("PATH")}`,
    DENO_DIR: join(home, "deno-dir"),
    XDG_CACHE_HOME: join(home, ".cache"),
    KREPIS_CACHE_DIR: join(home, ".cache", "krepis"),
    JSR_URL: registry.url,
    KREPIS_BINARY_BASE_URL: mirror.url,
  };
  const app = join(work, "my-app");

  await step("install the krepis CLI as the README says", async () => {
    // The README's commands, with the mirror in place of the GitHub release.
    const script = `
      set -eu
      base="${mirror.url}"
      target="${target}"
      mkdir -p ~/.local/bin && cd ~/.local/bin
      curl -fsSLO "$base/krepis-$target" && curl -fsSLO "$base/krepis-$target.sha256"
      echo "$(cat "krepis-$target.sha256")  krepis-$target" | sha256sum -c -
      mv "krepis-$target" krepis && chmod +x krepis && rm "krepis-$target.sha256"
      krepis --version`;
    const out = await run("sh", ["-c", script], { cwd: home, env: user });
    show(out);
    check(out.includes(`krepis ${version}`), `krepis --version said: ${out}`);
  });

  await step(
    "krepis init my-app (jsr imports; the kernel downloads)",
    async () => {
      const out = await run("krepis", ["init", "my-app"], {
        cwd: work,
        env: user,
      });
      show(out);
      const config = await Deno.readTextFile(join(app, "deno.json"));
      check(
        config.includes(`"jsr:@krepis/core@^${version}"`),
        `deno.json does not import jsr:@krepis/core@^${version}:\n${config}`,
      );
      check(
        !config.includes(repo) && !config.includes(tmp),
        `deno.json holds an absolute path:\n${config}`,
      );
      check(
        /native library: download/.test(out),
        `the first import did not download the kernel:\n${out}`,
      );
      check(
        mirror.requests(target) === 1,
        `mirror saw ${mirror.requests(target)} kernel requests`,
      );
    },
  );

  await step("deno task start serves; a request succeeds", async () => {
    const body = await serveOnce(app, user, "start");
    show(`POST /greet -> ${body}`);
    check(body.includes("Hello, Ada!"), `POST /greet answered ${body}`);
  });

  await step(
    'krepis gen command ArchiveNote --route "POST /notes/:id/archive"',
    async () => {
      const out = await run("krepis", [
        "gen",
        "command",
        "ArchiveNote",
        "--route",
        "POST /notes/:id/archive",
      ], { cwd: join(app, "src"), env: user });
      show(out);
      check(
        out.includes("created src/application/commands/archive_note.ts"),
        out,
      );
      check(out.includes("updated src/app.ts"), out);
      const command = await Deno.readTextFile(
        join(app, "src/application/commands/archive_note.ts"),
      );
      check(command.includes("id: z.string()"), `no id input:\n${command}`);
      await run("deno", [
        "test",
        "-A",
        "src/application/commands/archive_note_test.ts",
      ], {
        cwd: app,
        env: user,
      });
    },
  );

  await step("krepis check", async () => {
    const out = await run("krepis", ["check"], { cwd: app, env: user });
    show(out);
    check(/^ok: \d+ files checked/m.test(out), out);
  });

  await step("the app's own deno task check and deno task test", async () => {
    // deno lint there runs the published ctx lint plugin from the app's deno.json.
    const out = await run("deno", ["task", "check"], { cwd: app, env: user });
    check(/^ok: \d+ files checked/m.test(out), out);
    await run("deno", ["task", "test"], { cwd: app, env: user });
  });

  await step("krepis undo", async () => {
    const out = await run("krepis", ["undo"], { cwd: app, env: user });
    show(out);
    check(out.includes("gen command ArchiveNote"), out);
    const gone = await Deno.stat(
      join(app, "src/application/commands/archive_note.ts"),
    )
      .then(() => false, () => true);
    check(gone, "archive_note.ts is still there after undo");
    const appTs = await Deno.readTextFile(join(app, "src/app.ts"));
    check(
      !appTs.includes("archiveNote"),
      `src/app.ts still registers it:\n${appTs}`,
    );
  });

  await step("deno task dev picks up a TypeScript edit", async () => {
    const port = unusedPort();
    const proc: Proc = spawn("deno", ["task", "dev"], {
      cwd: app,
      env: { ...user, PORT: String(port) },
    });
    try {
      await proc.waitFor(/ready: initial checks/, 180_000);
      const before = await eventually("a greeting", 30_000, () => greet(port));
      check(before.includes("Hello, Ada!"), before);
      const domain = join(app, "src/domain/greeting.ts");
      const source = await Deno.readTextFile(domain);
      const from = "`Hello, ${who}!`";
      check(source.includes(from), "the template's greeting changed");
      await Deno.writeTextFile(
        domain,
        source.replace(from, "`Howdy, ${who}!`"),
      );
      await eventually("the edit served", 120_000, async () => {
        const body = await greet(port);
        return body?.includes("Howdy, Ada!") ? body : undefined;
      });
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${proc.output()}`);
    } finally {
      await proc.stop();
    }
  });

  await step("the app copied elsewhere runs on the cached kernel", async () => {
    const copy = join(tmp, "elsewhere", "my-app");
    await Deno.mkdir(dirname(copy), { recursive: true });
    // What a clone of the committed app holds: .krepis/ is git-ignored.
    await run("sh", [
      "-c",
      `cp -r "${app}" "${copy}" && rm -rf "${copy}/.krepis"`,
    ], {
      cwd: tmp,
      env: user,
    });
    const body = await serveOnce(copy, user, "start");
    check(body.includes("Howdy, Ada!"), `POST /greet answered ${body}`);
    check(
      mirror.requests(target) === 1,
      `the kernel was downloaded again (${mirror.requests(target)} requests)`,
    );
  });

  console.log(
    `user path: ok (${steps} steps, ${
      ((performance.now() - started) / 1000).toFixed(0)
    } s)`,
  );
} catch (error) {
  if (error !== failed) throw error;
  Deno.exitCode = 1;
} finally {
  for (const close of cleanup.reverse()) await close().catch(() => {});
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
}

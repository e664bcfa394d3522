/**
 * A throw-away PostgreSQL server for tests, started by `tools/pg_temp.sh` (`initdb` +
 * `pg_ctl` in a temp directory, a free port on 127.0.0.1) — the same script the Rust
 * tests use.
 *
 * @module
 */

const SCRIPT = new URL("../../../../tools/pg_temp.sh", import.meta.url)
  .pathname;

async function run(...args: string[]): Promise<string> {
  const out = await new Deno.Command("bash", {
    args: [SCRIPT, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `tools/pg_temp.sh ${args[0]} failed: ${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
  return new TextDecoder().decode(out.stdout).trim();
}

/** A running server; dispose of it to stop it and remove its files. */
export interface TempPostgres extends AsyncDisposable {
  /** `postgres://krepis:krepis@127.0.0.1:PORT/postgres`. */
  url: string;
  /**
   * The URL of a new, empty database on this server; `isolation` (e.g.
   * `"serializable"`) becomes its default transaction isolation.
   */
  freshDatabase(isolation?: string): Promise<string>;
  /** Turns TLS on (`ssl=on`) with these PEM files; plain connections stay allowed. */
  enableTls(certFile: string, keyFile: string): Promise<void>;
  /**
   * Stops every server process (SIGSTOP) for `ms` milliseconds; a separate process
   * resumes them, so the thaw comes even while this process is blocked. Resolves once
   * they are stopped, with `thawed`, which resolves once they run again.
   */
  freeze(ms: number): Promise<{ thawed: Promise<unknown> }>;
}

/** Starts a PostgreSQL server of its own in a temp directory. */
export async function startPostgres(): Promise<TempPostgres> {
  const dir = await Deno.makeTempDir({ prefix: "krepis-pg-" });
  const url = await run("start", dir);
  let databases = 0;
  return {
    url,
    async freshDatabase(isolation) {
      const name = `kv_${databases++}`;
      await run("database", url, name, ...(isolation ? [isolation] : []));
      return url.replace(/\/postgres$/, `/${name}`);
    },
    async enableTls(certFile, keyFile) {
      await run("tls", dir, certFile, keyFile);
    },
    async freeze(ms) {
      const postmaster = Number(
        (await Deno.readTextFile(`${dir}/data/postmaster.pid`)).split("\n")[0],
      );
      // The postmaster stops first, so no backend is forked after the list below.
      Deno.kill(postmaster, "SIGSTOP");
      const pids: number[] = [];
      try {
        const children = await new Deno.Command("pgrep", {
          args: ["-P", String(postmaster)],
          stdout: "piped",
        }).output();
        pids.push(
          ...new TextDecoder().decode(children.stdout).split("\n")
            .filter((pid) => pid !== "").map(Number),
        );
        for (const pid of pids) {
          try {
            Deno.kill(pid, "SIGSTOP");
          } catch (error) {
            // A backend of an earlier connection may exit between pgrep and here: it
            // needs no stopping.
            if (!(error instanceof Deno.errors.NotFound)) throw error;
          }
        }
      } catch (error) {
        for (const pid of [...pids, postmaster]) {
          try {
            Deno.kill(pid, "SIGCONT");
          } catch { /* gone */ }
        }
        throw error;
      }
      // Timed from here, once every process is stopped, not from a spawn a loaded machine
      // may delay. A backend that exited meanwhile makes `kill` complain about its pid
      // alone; the others resume.
      const thaw = new Deno.Command("sh", {
        args: [
          "-c",
          `sleep ${ms / 1000}; kill -CONT ${pids.join(" ")} ${postmaster}`,
        ],
        stderr: "null",
      }).spawn();
      return { thawed: thaw.status };
    },
    async [Symbol.asyncDispose]() {
      try {
        await run("stop", dir);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  };
}

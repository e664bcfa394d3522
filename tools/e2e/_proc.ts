/**
 * Child processes for the user-path rehearsal: run one to completion, or keep one
 * running (in its own process group, so `deno task` and everything it started stop
 * together) while watching its output.
 *
 * @module
 */

/** How to run a command. */
export interface RunOptions {
  /** Working directory. */
  cwd: string;
  /** Variables on top of the caller's, minus its Krepis, Deno cache, XDG and home settings. */
  env: Record<string, string>;
  /** Let the output through to the terminal instead of capturing it. */
  inherit?: boolean;
  /** Kill the command after this long (default 5 minutes). */
  timeoutMs?: number;
}

/** Variables that would let the caller's setup leak into the rehearsal. */
const PRIVATE = /^(KREPIS_|DENO_DIR$|DENO_INSTALL|XDG_|JSR_URL$|HOME$)/;

function environment(env: Record<string, string>): Record<string, string> {
  const inherited = Object.entries(Deno.env.toObject()).filter(([key]) =>
    !PRIVATE.test(key)
  );
  return {
    ...Object.fromEntries(inherited),
    NO_COLOR: "1",
    DENO_NO_UPDATE_CHECK: "1",
    DENO_NO_PROMPT: "1",
    ...("HOME" in env ? {} : { HOME: Deno.env.get("HOME") ?? "/tmp" }),
    ...env,
  };
}

/**
 * Runs `cmd` to completion; returns stdout and stderr together, or throws with them.
 *
 * @example
 * ```ts ignore
 * import { run } from "./_proc.ts";
 * const out = await run("deno", ["--version"], { cwd: ".", env: {} });
 * ```
 */
export async function run(
  cmd: string,
  args: string[],
  options: RunOptions,
): Promise<string> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: options.cwd,
    env: environment(options.env),
    clearEnv: true,
    stdin: "null",
    stdout: options.inherit ? "inherit" : "piped",
    stderr: options.inherit ? "inherit" : "piped",
  }).spawn();
  const timer = setTimeout(
    () => child.kill("SIGKILL"),
    options.timeoutMs ?? 5 * 60_000,
  );
  try {
    const out = await child.output();
    const text = options.inherit ? "" : new TextDecoder().decode(out.stdout) +
      new TextDecoder().decode(out.stderr);
    if (!out.success) {
      throw new Error(
        `\`${cmd} ${args.join(" ")}\` exited with ${out.code}${
          out.signal ? ` (${out.signal})` : ""
        }:\n${text}`,
      );
    }
    return text;
  } finally {
    clearTimeout(timer);
  }
}

/** A running process group. */
export interface Proc {
  /** Resolves once the output (stdout and stderr) matches `pattern`. */
  waitFor(pattern: RegExp, ms: number): Promise<void>;
  /** Everything it printed so far. */
  output(): string;
  /** SIGTERM to the group, SIGKILL after 10 s; resolves once the leader is gone. */
  stop(): Promise<void>;
}

/**
 * Starts `cmd` in a new session (`setsid`), capturing its output.
 *
 * @example
 * ```ts ignore
 * import { spawn } from "./_proc.ts";
 * const proc = spawn("deno", ["task", "start"], { cwd: "my-app", env: {} });
 * await proc.waitFor(/listening on/, 60_000);
 * await proc.stop();
 * ```
 */
export function spawn(cmd: string, args: string[], options: RunOptions): Proc {
  const child = new Deno.Command("setsid", {
    args: [cmd, ...args],
    cwd: options.cwd,
    env: environment(options.env),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const listeners = new Set<() => void>();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      for (const listener of listeners) listener();
    }
  };
  const pumped = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    for (const listener of listeners) listener();
    return s;
  });
  return {
    output: () => text,
    waitFor(pattern, ms) {
      return new Promise((resolve, reject) => {
        const done = (error?: Error) => {
          listeners.delete(check);
          clearTimeout(timer);
          error ? reject(error) : resolve();
        };
        const check = () => {
          if (pattern.test(text)) done();
          else if (exited) {
            done(
              new Error(
                `\`${cmd} ${
                  args.join(" ")
                }\` exited before ${pattern}:\n${text}`,
              ),
            );
          }
        };
        const timer = setTimeout(
          () =>
            done(new Error(`no ${pattern} within ${ms / 1000} s:\n${text}`)),
          ms,
        );
        listeners.add(check);
        check();
      });
    },
    async stop() {
      if (!exited) {
        try {
          Deno.kill(-child.pid, "SIGTERM");
        } catch { /* already gone */ }
        const killer = setTimeout(() => {
          try {
            Deno.kill(-child.pid, "SIGKILL");
          } catch { /* already gone */ }
        }, 10_000);
        await status;
        clearTimeout(killer);
      }
      await pumped;
    },
  };
}

/**
 * The two kinds of isolate a plugin runs in, behind one interface: a Deno Worker with the
 * declared permissions, or a child `deno` process with the same permission flags and a V8
 * heap limit.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import {
  permissionFlags,
  type PluginPermissions,
  workerPermissions,
} from "./manifest.ts";
import type { HostMessage, IsolateMessage } from "./protocol.ts";
import { LINE_PREFIX } from "./protocol.ts";

/** A running isolate. */
export interface Isolate {
  /** Sends a message (throws when it cannot be cloned or serialized). */
  send(message: HostMessage): void;
  /** Resolves, with why, when the isolate is gone (crashed, exited or killed). */
  readonly exited: Promise<string>;
  /** Terminates the isolate at once. */
  kill(): void;
}

/** How to start an isolate for one plugin. */
export interface IsolateSpec {
  /** The plugin's verified private copy. */
  staged: string;
  /** Its declared permissions. */
  permissions: PluginPermissions;
  /** For process isolation: the V8 heap limit in MiB. */
  memoryLimitMb: number;
  /** Where the isolate's messages go. */
  onMessage: (message: IsolateMessage) => void;
}

/** Starts a Worker whose permissions are exactly the declared ones. */
export function startWorker(spec: IsolateSpec): Isolate {
  const worker = new Worker(new URL("./worker_main.ts", import.meta.url), {
    type: "module",
    deno: { permissions: workerPermissions(spec.staged, spec.permissions) },
  });
  const { promise: exited, resolve } = Promise.withResolvers<string>();
  worker.onmessage = (event: MessageEvent<IsolateMessage>) =>
    spec.onMessage(event.data);
  worker.onerror = (event) => {
    event.preventDefault();
    worker.terminate();
    resolve(`the worker failed: ${event.message}`);
  };
  return {
    send: (message) => worker.postMessage(message),
    exited,
    kill: () => {
      worker.terminate();
      resolve("terminated");
    },
  };
}

const STDERR_TAIL = 4096;

/** Starts a supervised child `deno` process with the declared permissions and a heap limit. */
export function startProcess(spec: IsolateSpec): Isolate {
  const main = fileURLToPath(new URL("./process_main.ts", import.meta.url));
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      "--no-config",
      "--no-lock",
      `--v8-flags=--max-old-space-size=${spec.memoryLimitMb}`,
      ...permissionFlags(spec.staged, spec.permissions),
      main,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const drainStderr = child.stderr.pipeThrough(new TextDecoderStream())
    .pipeTo(
      new WritableStream({
        write(chunk) {
          stderr = (stderr + chunk).slice(-STDERR_TAIL);
        },
      }),
    ).catch(() => {});
  const readStdout = (async () => {
    let buffered = "";
    for await (
      const chunk of child.stdout.pipeThrough(new TextDecoderStream())
    ) {
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf("\n")) !== -1) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.startsWith(LINE_PREFIX)) {
          spec.onMessage(JSON.parse(line.slice(LINE_PREFIX.length)));
        }
      }
    }
  })().catch(() => {});
  const exited = child.status.then(async (status) => {
    await Promise.all([drainStderr, readStdout]);
    const how = status.signal
      ? `was killed by ${status.signal}`
      : `exited with code ${status.code}`;
    const oom = /out of memory|heap limit/i.test(stderr)
      ? ` (out of memory: over the ${spec.memoryLimitMb} MiB heap limit)`
      : "";
    return `the plugin process ${how}${oom}`;
  });
  const writer = child.stdin.getWriter();
  const encoder = new TextEncoder();
  let writes = Promise.resolve();
  return {
    send: (message) => {
      const line = encoder.encode(`${JSON.stringify(message)}\n`);
      writes = writes.then(() => writer.write(line)).catch(() => {});
    },
    exited,
    kill: () => {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      writer.close().catch(() => {});
    },
  };
}

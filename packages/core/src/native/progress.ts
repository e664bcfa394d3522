/**
 * A one-line progress bar on stderr, shown only when stderr is a terminal.
 *
 * @module
 */

const encoder = new TextEncoder();
const MIB = 1024 * 1024;

/** Reports progress of a long-running task. */
export interface Progress {
  /** Records that `done` of `total` units are complete (`total` 0 when unknown). */
  update(done: number, total: number): void;
  /** Clears the line. */
  finish(): void;
}

/**
 * A progress bar for a byte count, labelled `label`; silent when stderr is not a terminal
 * (CI, pipes), so logs stay clean.
 *
 * @example
 * ```ts
 * import { byteProgress } from "./progress.ts";
 * const bar = byteProgress("Downloading libkrepis.so");
 * bar.update(512, 1024);
 * bar.finish();
 * ```
 */
export function byteProgress(
  label: string,
  enabled = Deno.stderr.isTerminal(),
): Progress {
  let last = 0;
  const write = (text: string) => Deno.stderr.writeSync(encoder.encode(text));
  return {
    update(done, total) {
      if (!enabled) return;
      const now = performance.now();
      if (now - last < 80 && done !== total) return;
      last = now;
      const mib = (n: number) => (n / MIB).toFixed(1);
      if (total > 0) {
        const ratio = Math.min(done / total, 1);
        const width = 30;
        const filled = Math.round(ratio * width);
        write(
          `\r${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${
            Math.round(ratio * 100)
          }% ${mib(done)}/${mib(total)} MiB`,
        );
      } else {
        write(`\r${label} ${mib(done)} MiB`);
      }
    },
    finish() {
      if (enabled) write("\r\x1b[2K");
    },
  };
}

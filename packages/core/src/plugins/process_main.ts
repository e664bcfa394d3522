/**
 * Main module of a plugin's child process: the channel is JSON lines, host → plugin on
 * stdin and plugin → host on stdout (prefixed with {@linkcode LINE_PREFIX}). `console`
 * output goes to stderr; the process exits when the host closes stdin.
 *
 * @module
 */

import { type HostMessage, LINE_PREFIX } from "./protocol.ts";
import { serveIsolate } from "./isolate_runtime.ts";

const toStderr = console.error.bind(console);
console.log = console.info = console.debug = toStderr;

const encoder = new TextEncoder();
function writeLine(text: string): void {
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) {
    written += Deno.stdout.writeSync(bytes.subarray(written));
  }
}

const handle = serveIsolate((message) =>
  writeLine(`${LINE_PREFIX}${JSON.stringify(message)}\n`)
);

let buffered = "";
for await (
  const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())
) {
  buffered += chunk;
  let newline;
  while ((newline = buffered.indexOf("\n")) !== -1) {
    const line = buffered.slice(0, newline);
    buffered = buffered.slice(newline + 1);
    if (line.length > 0) void handle(JSON.parse(line) as HostMessage);
  }
}
Deno.exit(0);

/**
 * Main module of a plugin's Worker: the channel is the Worker's `postMessage`.
 *
 * @module
 */

import type { HostMessage, IsolateMessage } from "./protocol.ts";
import { serveIsolate } from "./isolate_runtime.ts";

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<HostMessage>) => void) | null;
  postMessage(message: IsolateMessage): void;
};
const handle = serveIsolate((message) => scope.postMessage(message));
scope.onmessage = (event) => void handle(event.data);

/**
 * The echo both WebSocket benchmark servers run: every message goes back as it came
 * (text as text, binary as binary), so the client can check each one.
 *
 * @module
 */

/** Echoes every message `socket` receives back on it. */
export function echo(socket: WebSocket): void {
  socket.binaryType = "arraybuffer";
  socket.onmessage = (e) => socket.send(e.data);
}

/** The one line a benchmark server prints once it listens: `PORT <n>`. */
export function announce(port: number): void {
  console.log(`PORT ${port}`);
}

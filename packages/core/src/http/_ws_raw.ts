/**
 * Test helper: a raw WebSocket client over TCP that writes frames by hand (pings,
 * fragments, oversized headers) and reads the server's frames.
 *
 * @module
 */

/** One frame from the server. */
export interface RawFrame {
  /** FIN bit. */
  fin: boolean;
  /** Opcode (1 text, 2 binary, 8 close, 9 ping, 10 pong). */
  opcode: number;
  /** Unmasked payload. */
  payload: Uint8Array;
}

/** A handshaken connection. */
export interface RawSocket {
  /** Writes one masked frame. */
  send(
    opcode: number,
    payload: Uint8Array | string,
    fin?: boolean,
  ): Promise<void>;
  /** Writes raw bytes. */
  write(bytes: Uint8Array): Promise<void>;
  /** Reads the next frame, or null at EOF. */
  next(): Promise<RawFrame | null>;
  /** Closes the TCP connection. */
  close(): void;
}

const encoder = new TextEncoder();

/**
 * Connects to `port`, completes the handshake for `path` (with `headers`, whole
 * `Name: value\r\n` lines, added) and returns the socket.
 */
export async function rawWebSocket(
  port: number,
  path = "/",
  headers = "",
): Promise<RawSocket> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
      `Sec-WebSocket-Version: 13\r\n${headers}\r\n`,
  ));
  let buffered = new Uint8Array(0);
  const fill = async (): Promise<boolean> => {
    const chunk = new Uint8Array(64 * 1024);
    const n = await conn.read(chunk).catch(() => null);
    if (n === null) return false;
    const joined = new Uint8Array(buffered.length + n);
    joined.set(buffered);
    joined.set(chunk.subarray(0, n), buffered.length);
    buffered = joined;
    return true;
  };
  for (;;) {
    const text = new TextDecoder().decode(buffered);
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) {
      if (!text.startsWith("HTTP/1.1 101")) {
        throw new Error(`handshake: ${text}`);
      }
      buffered = buffered.subarray(end + 4);
      break;
    }
    if (!await fill()) throw new Error("closed during the handshake");
  }
  const need = async (n: number) => {
    while (buffered.length < n) if (!await fill()) return false;
    return true;
  };
  return {
    async send(opcode, payload, fin = true) {
      const data = typeof payload === "string"
        ? encoder.encode(payload)
        : payload;
      const head: number[] = [(fin ? 0x80 : 0) | opcode];
      if (data.length < 126) head.push(0x80 | data.length);
      else if (data.length < 65536) {
        head.push(0x80 | 126, data.length >> 8, data.length & 255);
      } else {
        head.push(0x80 | 127);
        for (let i = 7; i >= 0; i--) {
          head.push(Math.floor(data.length / 2 ** (8 * i)) & 255);
        }
      }
      const mask = [1, 2, 3, 4];
      const frame = new Uint8Array(head.length + 4 + data.length);
      frame.set(head);
      frame.set(mask, head.length);
      for (let i = 0; i < data.length; i++) {
        frame[head.length + 4 + i] = data[i] ^ mask[i % 4];
      }
      await conn.write(frame);
    },
    async write(bytes) {
      await conn.write(bytes);
    },
    async next() {
      if (!await need(2)) return null;
      const fin = (buffered[0] & 0x80) !== 0;
      const opcode = buffered[0] & 0x0f;
      let len = buffered[1] & 0x7f;
      let at = 2;
      if (len === 126) {
        if (!await need(4)) return null;
        len = (buffered[2] << 8) | buffered[3];
        at = 4;
      } else if (len === 127) {
        if (!await need(10)) return null;
        len = 0;
        for (let i = 2; i < 10; i++) len = len * 256 + buffered[i];
        at = 10;
      }
      if (!await need(at + len)) return null;
      const payload = buffered.slice(at, at + len);
      buffered = buffered.subarray(at + len);
      return { fin, opcode, payload };
    },
    close() {
      try {
        conn.close();
      } catch { /* already closed */ }
    },
  };
}

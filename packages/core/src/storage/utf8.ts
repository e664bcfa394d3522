/**
 * UTF-8 decoding tuned for the many short strings of KV keys and values.
 *
 * @module
 */

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes UTF-8 (throwing on malformed input). Short ASCII strings skip `TextDecoder`,
 * whose per-call cost dominates for them.
 */
export function decodeUtf8(bytes: Uint8Array): string {
  if (bytes.length <= 64) {
    let ascii = true;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      return String.fromCharCode.apply(null, bytes as unknown as number[]);
    }
  }
  return decoder.decode(bytes);
}

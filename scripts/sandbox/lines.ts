/**
 * Cuts a child's output stream into lines the way Lambda's log capture does:
 * on `\n` bytes, decoding each complete line as UTF-8 only once it is whole,
 * so a multi-byte character split across pipe reads stays intact.
 *
 * @module
 */

/** Longest line passed on in one piece; longer output is cut (Lambda cuts at 256 KiB). */
export const MAX_LINE_BYTES = 256 * 1024;

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/**
 * Reads `stream` to its end and calls `onLine` with every non-empty line
 * (without its `\n` or a `\r` before it). Resolves when the stream ends.
 */
export async function forEachLine(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
  maxLineBytes = MAX_LINE_BYTES,
): Promise<void> {
  const decoder = new TextDecoder();
  let pending = new Uint8Array(0);
  const emit = (bytes: Uint8Array) => {
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === CARRIAGE_RETURN) end--;
    let rest = bytes.subarray(0, end);
    while (rest.length > maxLineBytes) {
      const cut = utf8Boundary(rest, maxLineBytes);
      onLine(decoder.decode(rest.subarray(0, cut)));
      rest = rest.subarray(cut);
    }
    if (rest.length > 0) onLine(decoder.decode(rest));
  };
  for await (const chunk of stream) {
    let buffer = pending.length ? concat(pending, chunk) : chunk;
    let newline = buffer.indexOf(NEWLINE);
    while (newline !== -1) {
      emit(buffer.subarray(0, newline));
      buffer = buffer.subarray(newline + 1);
      newline = buffer.indexOf(NEWLINE);
    }
    if (buffer.length > maxLineBytes) {
      // No newline yet and already too long: pass on what is complete.
      const cut = utf8Boundary(
        buffer,
        maxLineBytes * Math.floor(buffer.length / maxLineBytes),
      );
      emit(buffer.subarray(0, cut));
      buffer = buffer.subarray(cut);
    }
    // Copy so the retained tail does not pin the whole chunk.
    pending = buffer.slice();
  }
  emit(pending);
}

/** The largest index ≤ `limit` that does not fall inside a UTF-8 sequence. */
export function utf8Boundary(bytes: Uint8Array, limit: number): number {
  let cut = Math.min(limit, bytes.length);
  // Continuation bytes look like 10xxxxxx; step back to a lead byte.
  while (cut > 0 && cut < bytes.length && (bytes[cut] & 0xc0) === 0x80) cut--;
  return cut === 0 ? Math.min(limit, bytes.length) : cut;
}

function concat(first: Uint8Array, second: Uint8Array): Uint8Array {
  const joined = new Uint8Array(first.length + second.length);
  joined.set(first, 0);
  joined.set(second, first.length);
  return joined;
}

/**
 * MD5 (RFC 1321) of a byte array, for the digest that closes every KPL
 * aggregated record and for hash keys. Written here rather than taken from
 * `node:crypto`, whose loading costs the extension ~18 ms and ~9 MB at
 * start-up (see the bench); MD5 is used for framing, not for security.
 *
 * Once the AWS SDK is loaded, `node:crypto` is loaded anyway (the SDK signs
 * with its SHA-256): {@linkcode useNativeMd5} then hands large inputs to
 * it, about 5 × faster than this code on a 1 MiB aggregate.
 *
 * @module
 */

/** A native digest: `node:crypto`'s `createHash`. */
export type CreateHash = (algorithm: "md5") => {
  update(data: Uint8Array): { digest(): Uint8Array };
};

/** Inputs from this size go to the native digest, once there is one. */
export const NATIVE_MD5_FROM_BYTES = 1024;

let native: CreateHash | undefined;

/**
 * Uses `createHash` for inputs of {@linkcode NATIVE_MD5_FROM_BYTES} or
 * more (undefined: this module's own code for every input again).
 */
export function useNativeMd5(createHash: CreateHash | undefined): void {
  native = createHash;
}

const SHIFTS = new Uint8Array([
  7,
  12,
  17,
  22,
  7,
  12,
  17,
  22,
  7,
  12,
  17,
  22,
  7,
  12,
  17,
  22,
  5,
  9,
  14,
  20,
  5,
  9,
  14,
  20,
  5,
  9,
  14,
  20,
  5,
  9,
  14,
  20,
  4,
  11,
  16,
  23,
  4,
  11,
  16,
  23,
  4,
  11,
  16,
  23,
  4,
  11,
  16,
  23,
  6,
  10,
  15,
  21,
  6,
  10,
  15,
  21,
  6,
  10,
  15,
  21,
  6,
  10,
  15,
  21,
]);

const CONSTANTS = new Int32Array(64).map((_, i) =>
  Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) | 0
);

const WORD_INDEX = new Uint8Array(64).map((_, i) =>
  i < 16
    ? i
    : i < 32
    ? (5 * i + 1) % 16
    : i < 48
    ? (3 * i + 5) % 16
    : (7 * i) % 16
);

/** The 16-byte MD5 digest of `data`. */
export function md5(data: Uint8Array): Uint8Array {
  if (native && data.byteLength >= NATIVE_MD5_FROM_BYTES) {
    const digest = native("md5").update(data).digest();
    return new Uint8Array(digest.buffer, digest.byteOffset, 16);
  }
  const state = new Int32Array([
    0x67452301,
    0xefcdab89 | 0,
    0x98badcfe | 0,
    0x10325476,
  ]);
  const words = new Int32Array(16);
  const fullBlocks = Math.floor(data.byteLength / 64);
  for (let block = 0; block < fullBlocks; block++) {
    compress(state, words, data, block * 64);
  }
  // The tail, the 0x80 marker and the bit length fill one or two blocks.
  const rest = data.byteLength - fullBlocks * 64;
  const tail = new Uint8Array(rest < 56 ? 64 : 128);
  tail.set(data.subarray(fullBlocks * 64));
  tail[rest] = 0x80;
  const bits = tail.byteLength - 8;
  const low = (data.byteLength << 3) >>> 0;
  const high = Math.floor(data.byteLength / 0x20000000);
  for (let i = 0; i < 4; i++) {
    tail[bits + i] = (low >>> (8 * i)) & 0xff;
    tail[bits + 4 + i] = (high >>> (8 * i)) & 0xff;
  }
  for (let offset = 0; offset < tail.byteLength; offset += 64) {
    compress(state, words, tail, offset);
  }
  const digest = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    digest[i] = (state[i >> 2] >>> (8 * (i & 3))) & 0xff;
  }
  return digest;
}

function compress(
  state: Int32Array,
  words: Int32Array,
  bytes: Uint8Array,
  offset: number,
): void {
  for (let i = 0; i < 16; i++) {
    const at = offset + i * 4;
    words[i] = bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) |
      (bytes[at + 3] << 24);
  }
  let a = state[0];
  let b = state[1];
  let c = state[2];
  let d = state[3];
  for (let i = 0; i < 64; i++) {
    let f: number;
    if (i < 16) f = (b & c) | (~b & d);
    else if (i < 32) f = (d & b) | (~d & c);
    else if (i < 48) f = b ^ c ^ d;
    else f = c ^ (b | ~d);
    f = (f + a + CONSTANTS[i] + words[WORD_INDEX[i]]) | 0;
    a = d;
    d = c;
    c = b;
    const shift = SHIFTS[i];
    b = (b + ((f << shift) | (f >>> (32 - shift)))) | 0;
  }
  state[0] = (state[0] + a) | 0;
  state[1] = (state[1] + b) | 0;
  state[2] = (state[2] + c) | 0;
  state[3] = (state[3] + d) | 0;
}

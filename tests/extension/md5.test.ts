import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  md5,
  NATIVE_MD5_FROM_BYTES,
  useNativeMd5,
} from "../../extension/md5.ts";

const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
const text = (value: string) => new TextEncoder().encode(value);

Deno.test("md5: the RFC 1321 test suite", () => {
  const suite: [string, string][] = [
    ["", "d41d8cd98f00b204e9800998ecf8427e"],
    ["a", "0cc175b9c0f1b6a831c399e269772661"],
    ["abc", "900150983cd24fb0d6963f7d28e17f72"],
    ["message digest", "f96b697d7cb7938d525a2f31aaf161d0"],
    ["abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"],
    [
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
      "d174ab98d277d9f5a5611c2c9f419d9f",
    ],
    [
      "1234567890".repeat(8),
      "57edf4a22be3c955ac49da2e2107b67a",
    ],
  ];
  for (const [input, expected] of suite) {
    assert.equal(hex(md5(text(input))), expected, JSON.stringify(input));
  }
});

Deno.test("md5: agrees with node:crypto at every tail length and on large input", () => {
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
  const lengths = [
    ...Array.from({ length: 200 }, (_, i) => i),
    1000,
    4096,
    65_537,
    1_048_576 + 13,
  ];
  for (const length of lengths) {
    const data = Uint8Array.from({ length }, random);
    assert.equal(
      hex(md5(data)),
      createHash("md5").update(data).digest("hex"),
      `length ${length}`,
    );
  }
});

Deno.test("md5: a view into a larger buffer digests only its own bytes", () => {
  const whole = text("xxabcxx");
  assert.equal(
    hex(md5(whole.subarray(2, 5))),
    "900150983cd24fb0d6963f7d28e17f72",
  );
});

Deno.test("md5: with node:crypto installed, large inputs take the native path and agree", () => {
  let nativeCalls = 0;
  useNativeMd5((algorithm) => {
    nativeCalls++;
    return createHash(algorithm);
  });
  try {
    for (
      const size of [
        0,
        63,
        NATIVE_MD5_FROM_BYTES - 1,
        NATIVE_MD5_FROM_BYTES,
        1 << 20,
      ]
    ) {
      const data = Uint8Array.from({ length: size }, (_, i) => (i * 31) & 255);
      const expected = createHash("md5").update(data).digest("hex");
      assert.equal(hex(md5(data)), expected, `size ${size}`);
    }
    assert.equal(nativeCalls, 2, "only the inputs from the threshold up");
  } finally {
    useNativeMd5(undefined);
  }
});

import assert from "node:assert/strict";
import { gunzipSync, zstdDecompressSync } from "node:zlib";
import {
  compressIfSmaller,
  compressionOf,
  compressionPlan,
  GZIP_MAGIC,
  loadCompressor,
  ZSTD_MAGIC,
} from "../../extension/compression.ts";

const utf8 = new TextEncoder();
const repetitive = utf8.encode(
  Array.from(
    { length: 200 },
    (_, i) => `{"time":"t","type":"function","record":"line ${i}","seq":${i}}`,
  ).join("\n"),
);

Deno.test("compression: none loads nothing; gzip and zstd round-trip through node:zlib", async () => {
  assert.equal(await loadCompressor("none"), undefined);
  const gzip = await loadCompressor("gzip");
  const zstd = await loadCompressor("zstd");
  assert.ok(gzip && zstd);
  const gz = gzip(repetitive);
  const zs = zstd(repetitive);
  assert.deepEqual([...gz.subarray(0, 2)], [...GZIP_MAGIC]);
  assert.deepEqual([...zs.subarray(0, 4)], [...ZSTD_MAGIC]);
  assert.deepEqual(new Uint8Array(gunzipSync(gz)), repetitive);
  assert.deepEqual(new Uint8Array(zstdDecompressSync(zs)), repetitive);
  assert.ok(gz.byteLength * 5 < repetitive.byteLength, `gzip ${gz.byteLength}`);
  assert.ok(zs.byteLength * 5 < repetitive.byteLength, `zstd ${zs.byteLength}`);
  assert.equal(compressionOf(gz), "gzip");
  assert.equal(compressionOf(zs), "zstd");
  assert.equal(compressionOf(repetitive), "none");
  assert.equal(compressionOf(Uint8Array.of(0x1f)), "none");
});

Deno.test("compression: compressed data is used only when smaller", async () => {
  const gzip = await loadCompressor("gzip");
  const tiny = utf8.encode('{"a":1}');
  assert.equal(compressIfSmaller(gzip, tiny), tiny, "gzip would grow it");
  assert.equal(compressIfSmaller(undefined, repetitive), repetitive);
  const random = crypto.getRandomValues(new Uint8Array(4096));
  assert.equal(compressIfSmaller(gzip, random), random);
  assert.ok(compressIfSmaller(gzip, repetitive).byteLength < 2000);
});

Deno.test("compression: ndjson compresses whole records, json and kpl each envelope", () => {
  const codec = (data: Uint8Array) => data;
  assert.deepEqual(compressionPlan("ndjson", codec), {
    perEvent: undefined,
    perRecord: codec,
  });
  for (const format of ["json", "kpl"] as const) {
    assert.deepEqual(compressionPlan(format, codec), {
      perEvent: codec,
      perRecord: undefined,
    });
  }
  assert.deepEqual(compressionPlan("kpl", undefined), {
    perEvent: undefined,
    perRecord: undefined,
  });
});

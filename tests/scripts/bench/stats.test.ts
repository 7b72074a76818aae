import assert from "node:assert/strict";
import {
  median,
  percentile,
  round,
  roundSummary,
  summarize,
} from "../../../scripts/bench/stats.ts";

Deno.test("percentile uses the nearest rank, so it is always a measured value", () => {
  const samples = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(samples, 99), 99);
  assert.equal(percentile(samples, 100), 100);
  assert.equal(percentile(samples, 50), 50);
  assert.equal(percentile([5, 1, 3], 99), 5);
  assert.equal(percentile([5, 1, 3], 1), 1);
  assert.equal(percentile([7], 99), 7);
});

Deno.test("percentile does not reorder its input", () => {
  const samples = [3, 1, 2];
  percentile(samples, 50);
  assert.deepEqual(samples, [3, 1, 2]);
});

Deno.test("percentile refuses empty series and out-of-range ranks", () => {
  assert.throws(() => percentile([], 50), RangeError);
  assert.throws(() => percentile([1], 0), RangeError);
  assert.throws(() => percentile([1], 101), RangeError);
});

Deno.test("median of odd and even counts", () => {
  assert.equal(median([9, 1, 5]), 5);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.throws(() => median([]), RangeError);
});

Deno.test("summarize gives count, median, p99, min, max and mean", () => {
  assert.deepEqual(summarize([2, 4, 6, 8]), {
    count: 4,
    median: 5,
    p99: 8,
    min: 2,
    max: 8,
    mean: 5,
  });
  assert.throws(() => summarize([]), RangeError);
});

Deno.test("round and roundSummary keep the requested decimals", () => {
  assert.equal(round(1.23456), 1.23);
  assert.equal(round(1.235, 1), 1.2);
  assert.equal(round(1234.5, 0), 1235);
  assert.deepEqual(roundSummary(summarize([1.111, 2.222]), 1), {
    count: 2,
    median: 1.7,
    p99: 2.2,
    min: 1.1,
    max: 2.2,
    mean: 1.7,
  });
});

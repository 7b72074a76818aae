import assert from "node:assert/strict";
import {
  COMBINATIONS,
  measureEncodingCosts,
  renderEncodingCost,
} from "../../../scripts/bench/encoding_cost.ts";
import { TYPICAL_TRAFFIC } from "../../../scripts/bench/telemetry_fixtures.ts";

Deno.test("encoding cost: every format × compression × flush is billed per 1,000 events", async () => {
  const rows = await measureEncodingCosts(460, TYPICAL_TRAFFIC);
  assert.equal(rows.length, COMBINATIONS.length * 2);
  const row = (format: string, compression: string, pattern: string) => {
    const found = rows.find((r) =>
      r.format === format && r.compression === compression &&
      r.pattern === pattern
    );
    assert.ok(found, `${format} ${compression} ${pattern}`);
    return found.perThousand;
  };
  for (const r of rows) {
    assert.equal(r.events, 460);
    const c = r.perThousand;
    // Every record is at least one unit and one KB.
    assert.ok(c.putPayloadUnits >= c.records);
    assert.ok(c.onDemandBilledKB >= c.records);
    assert.ok(c.onDemandBilledKB >= c.bytes / 1024);
  }
  // json: one record per event whatever the compression.
  assert.equal(row("json", "none", "bulk").records, 1000);
  assert.equal(row("json", "gzip", "bulk").onDemandBilledKB, 1000);
  // Packing: 23 events per invocation, so 1000/23 records per invocation flush.
  assert.ok(
    Math.abs(row("kpl", "none", "per invocation").records - 1000 / 23) < 1,
  );
  // Compression saves, and most where a payload holds many envelopes.
  for (const format of ["kpl", "ndjson", "json"]) {
    for (const compression of ["gzip", "zstd"]) {
      assert.ok(
        row(format, compression, "bulk").bytes <
          row(format, "none", "bulk").bytes * 0.7,
        `${format} ${compression}`,
      );
    }
  }
  assert.ok(
    row("ndjson", "gzip", "bulk").bytes < row("kpl", "gzip", "bulk").bytes / 4,
  );
  const table = renderEncodingCost(rows, TYPICAL_TRAFFIC);
  assert.match(table, /\| ndjson \| gzip \| bulk \| /);
  assert.match(table, /measured on 460/);
  assert.equal(table.trim().split("\n").length, 4 + rows.length);
});

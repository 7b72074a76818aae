import assert from "node:assert/strict";
import {
  costOf,
  ON_DEMAND_UNIT_BYTES,
  onDemandBilledKB,
  PUT_PAYLOAD_UNIT_BYTES,
  putPayloadUnits,
  scaleCost,
} from "../../../scripts/bench/cost.ts";

Deno.test("a PUT payload unit is 25 KB and every started unit counts", () => {
  assert.equal(PUT_PAYLOAD_UNIT_BYTES, 25_600);
  assert.equal(putPayloadUnits(1), 1);
  assert.equal(putPayloadUnits(25_600), 1);
  assert.equal(putPayloadUnits(25_601), 2);
  assert.equal(putPayloadUnits(1024 * 1024), 41);
  assert.equal(putPayloadUnits(0), 1);
});

Deno.test("on-demand bills each record rounded up to 1 KB", () => {
  assert.equal(ON_DEMAND_UNIT_BYTES, 1024);
  assert.equal(onDemandBilledKB(400), 1);
  assert.equal(onDemandBilledKB(1024), 1);
  assert.equal(onDemandBilledKB(1025), 2);
});

Deno.test("costOf counts data plus partition key per record", () => {
  const cost = costOf([
    { dataBytes: 1000, partitionKeyBytes: 36 },
    { dataBytes: 25_600, partitionKeyBytes: 36 },
  ]);
  assert.deepEqual(cost, {
    records: 2,
    bytes: 1036 + 25_636,
    putPayloadUnits: 1 + 2,
    onDemandBilledKB: 2 + 26,
  });
  assert.deepEqual(costOf([]), {
    records: 0,
    bytes: 0,
    putPayloadUnits: 0,
    onDemandBilledKB: 0,
  });
});

Deno.test("one record per small event costs far more than aggregated records", () => {
  const events = Array.from({ length: 1000 }, () => 600);
  const perEvent = costOf(
    events.map((bytes) => ({ dataBytes: bytes, partitionKeyBytes: 36 })),
  );
  const aggregated = costOf([{ dataBytes: 600 * 1000, partitionKeyBytes: 36 }]);
  assert.equal(perEvent.putPayloadUnits, 1000);
  assert.equal(aggregated.putPayloadUnits, 24);
});

Deno.test("scaleCost scales every figure to a number of events", () => {
  const scaled = scaleCost(
    { records: 10, bytes: 5000, putPayloadUnits: 12, onDemandBilledKB: 20 },
    2500,
    10_000,
  );
  assert.deepEqual(scaled, {
    records: 40,
    bytes: 20_000,
    putPayloadUnits: 48,
    onDemandBilledKB: 80,
  });
  assert.throws(
    () =>
      scaleCost(
        { records: 0, bytes: 0, putPayloadUnits: 0, onDemandBilledKB: 0 },
        0,
        10,
      ),
    RangeError,
  );
});

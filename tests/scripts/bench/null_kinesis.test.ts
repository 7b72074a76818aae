import assert from "node:assert/strict";
import { startNullKinesis } from "../../../scripts/bench/null_kinesis.ts";

Deno.test("the null endpoint acknowledges every PutRecords entry and counts them", async () => {
  const sink = await startNullKinesis();
  try {
    const put = (records: number) =>
      fetch(sink.endpoint, {
        method: "POST",
        headers: {
          "x-amz-target": "Kinesis_20131202.PutRecords",
          "content-type": "application/x-amz-json-1.1",
        },
        body: JSON.stringify({
          StreamName: "s",
          Records: Array.from({ length: records }, (_, i) => ({
            Data: btoa(`event ${i}`),
            PartitionKey: `k${i}`,
          })),
        }),
      }).then((response) => response.json());
    const answer = await put(3);
    assert.equal(answer.FailedRecordCount, 0);
    assert.equal(answer.Records.length, 3);
    await put(2);
    assert.equal(sink.requests, 2);
    assert.equal(sink.records, 5);
  } finally {
    await sink.stop();
  }
});

Deno.test("the null endpoint refuses other actions instead of faking them", async () => {
  const sink = await startNullKinesis();
  try {
    const response = await fetch(sink.endpoint, {
      method: "POST",
      headers: { "x-amz-target": "Kinesis_20131202.GetRecords" },
      body: "{}",
    });
    assert.equal(response.status, 400);
    assert.match((await response.json()).__type, /UnknownOperation/);
    assert.equal(sink.requests, 0);
  } finally {
    await sink.stop();
  }
});

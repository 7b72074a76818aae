import assert from "node:assert/strict";
import { pythonFunctionExample } from "../../../infra/examples/python_function.ts";
import { registered, startMocks, tempDir, valueOf } from "../fixtures.ts";

const PREFIX = "/kinesis-telemetry/prod/";
const PUBLISHED = {
  [`${PREFIX}layer-arn-x86_64`]:
    "arn:aws:lambda:eu-west-1:123456789012:layer:kinesis-telemetry-prod-x86_64:4",
  [`${PREFIX}layer-arn-arm64`]:
    "arn:aws:lambda:eu-west-1:123456789012:layer:kinesis-telemetry-prod-arm64:4",
  [`${PREFIX}policy-arn`]:
    "arn:aws:iam::123456789012:policy/kinesis-telemetry-prod-put-records",
  [`${PREFIX}stream-arn`]:
    "arn:aws:kinesis:eu-west-1:123456789012:stream/kinesis-telemetry-prod",
  [`${PREFIX}stream-name`]: "kinesis-telemetry-prod",
  [`${PREFIX}record-format`]: "kpl",
};

Deno.test("the README's Python 3.13 example attaches the arm64 layer found in SSM", async () => {
  const code = tempDir("kt-python-");
  try {
    const recorder = await startMocks("orders", "prod", {}, PUBLISHED);
    const example = pythonFunctionExample(code.path, PREFIX);
    await registered(example.function, example.role);
    const [{ inputs: fn }] = recorder.ofType("aws:lambda/function:Function");
    assert.equal(fn.runtime, "python3.13");
    assert.deepEqual(fn.architectures, ["arm64"]);
    assert.deepEqual(fn.layers, [PUBLISHED[`${PREFIX}layer-arn-arm64`]]);
    assert.deepEqual(fn.environment, {
      variables: {
        KINESIS_TELEMETRY_STREAM: PUBLISHED[`${PREFIX}stream-arn`],
        KINESIS_TELEMETRY_FORMAT: "kpl",
        KINESIS_TELEMETRY_LOG_LEVEL: "warn",
        ORDERS_TABLE: "orders",
      },
    });
    const attachment = recorder.named("orders-telemetry").inputs;
    assert.equal(attachment.policyArn, PUBLISHED[`${PREFIX}policy-arn`]);
    assert.equal(attachment.role, await valueOf(example.role.name));
  } finally {
    code.remove();
  }
});

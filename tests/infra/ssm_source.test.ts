import assert from "node:assert/strict";
import { SSM_PARAMETER_NAMES } from "../../infra/component.ts";
import { telemetrySourceFromSsm } from "../../infra/ssm_source.ts";
import { startMocks, valueOf } from "./fixtures.ts";

Deno.test("the SSM source reads every parameter a stack publishes, under its prefix", async () => {
  const prefix = "/teams/obs/telemetry/";
  const published = Object.fromEntries(
    Object.values(SSM_PARAMETER_NAMES).map((
      name,
    ) => [`${prefix}${name}`, `value of ${name}`]),
  );
  await startMocks("consumer", "prod", {}, published);
  const source = telemetrySourceFromSsm(prefix);
  assert.equal(
    await valueOf(source.layerArns.x86_64!),
    "value of layer-arn-x86_64",
  );
  assert.equal(
    await valueOf(source.layerArns.arm64!),
    "value of layer-arn-arm64",
  );
  assert.equal(await valueOf(source.policyArn), "value of policy-arn");
  assert.deepEqual(await valueOf(source.environment), {
    KINESIS_TELEMETRY_STREAM: "value of stream-arn",
    KINESIS_TELEMETRY_FORMAT: "value of record-format",
  });
});

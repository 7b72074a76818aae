import assert from "node:assert/strict";
import type { KinesisTelemetry } from "../../infra/component.ts";
import {
  ManagedInstancesDemo,
  type ManagedInstancesDemoArgs,
} from "../../infra/managed_instances_demo.ts";
import { SettingError } from "../../infra/validation.ts";
import {
  type MockAccount,
  type Recorder,
  registered,
  startMocks,
  valueOf,
  withTelemetry,
} from "./fixtures.ts";

const SUBNETS = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"];
const GROUPS = ["sg-0123456789abcdef0"];

function deploy(
  overrides: Partial<ManagedInstancesDemoArgs> = {},
  account: MockAccount = {},
): Promise<
  { recorder: Recorder; telemetry: KinesisTelemetry; lmi: ManagedInstancesDemo }
> {
  return withTelemetry("kt-lmi-test", account, async (telemetry, codeDir) => {
    const lmi = new ManagedInstancesDemo("lmi", {
      functionName: "kt-lmi-test-lmi",
      roleName: "kt-lmi-test-eu-west-1-lmi",
      operatorRoleName: "kt-lmi-test-eu-west-1-lmi-operator",
      capacityProviderName: "kt-lmi-test-lmi",
      architecture: "arm64",
      subnetIds: SUBNETS,
      securityGroupIds: GROUPS,
      codeDir,
      telemetry,
      logRetentionDays: 7,
      ...overrides,
    });
    await registered(
      lmi.operatorRole,
      lmi.operatorPolicy,
      lmi.capacityProvider,
      lmi.demo.function,
      lmi.demo.role,
      lmi.demo.basicExecution,
      lmi.demo.extensionPolicy,
      lmi.demo.logGroup,
    );
    return { lmi };
  });
}

Deno.test("the capacity provider runs instances of the function's architecture in the given subnets", async () => {
  const { recorder } = await deploy();
  const provider = recorder.named("lmi-capacity-provider");
  assert.equal(provider.type, "aws:lambda/capacityProvider:CapacityProvider");
  assert.equal(provider.inputs.name, "kt-lmi-test-lmi");
  assert.deepEqual(provider.inputs.vpcConfig, {
    subnetIds: SUBNETS,
    securityGroupIds: GROUPS,
  });
  assert.deepEqual(
    (provider.inputs.instanceRequirements as { architectures: string[] }[])
      .map((r) => r.architectures),
    [["arm64"]],
  );
  const operator = recorder.named("lmi-operator-role");
  assert.equal(operator.inputs.name, "kt-lmi-test-eu-west-1-lmi-operator");
  assert.deepEqual(
    JSON.parse(operator.inputs.assumeRolePolicy as string).Statement[0]
      .Principal,
    { Service: "lambda.amazonaws.com" },
  );
  assert.deepEqual(provider.inputs.permissionsConfig, {
    capacityProviderOperatorRoleArn: operator.state.arn,
  });
  assert.equal(
    recorder.named("lmi-operator-policy").inputs.policyArn,
    "arn:aws:iam::aws:policy/AWSLambdaManagedEC2ResourceOperator",
  );
});

Deno.test("the function is Node.js 22 with the layer, published on the capacity provider", async () => {
  const { recorder, telemetry, lmi } = await deploy();
  const fn = recorder.named("lmi-function-function").inputs;
  assert.equal(fn.name, "kt-lmi-test-lmi");
  assert.equal(fn.runtime, "nodejs22.x");
  assert.deepEqual(fn.architectures, ["arm64"]);
  assert.deepEqual(fn.layers, [await valueOf(telemetry.layerArns.arm64)]);
  assert.deepEqual(fn.capacityProviderConfig, {
    lambdaManagedInstancesCapacityProviderConfig: {
      capacityProviderArn: await valueOf(lmi.capacityProvider.arn),
    },
  });
  // Managed Instances run published versions only, with 2 GB at least;
  // their function logs are JSON only.
  assert.equal(fn.publish, true);
  assert.equal(fn.memorySize, 2048);
  assert.equal((fn.loggingConfig as { logFormat: string }).logFormat, "JSON");
  assert.deepEqual(fn.environment, {
    variables: {
      KINESIS_TELEMETRY_STREAM: await valueOf(telemetry.streamArn),
      KINESIS_TELEMETRY_FORMAT: "kpl",
    },
  });
  assert.equal(
    recorder.named("lmi-function-role").inputs.name,
    "kt-lmi-test-eu-west-1-lmi",
  );
});

Deno.test("the operator policy ARN follows the partition", async () => {
  const { recorder } = await deploy({}, { partition: "aws-cn" });
  assert.equal(
    recorder.named("lmi-operator-policy").inputs.policyArn,
    "arn:aws-cn:iam::aws:policy/AWSLambdaManagedEC2ResourceOperator",
  );
});

Deno.test("subnets and security groups are required and checked", async () => {
  await startMocks();
  const base = {
    functionName: "x",
    operatorRoleName: "x",
    capacityProviderName: "x",
    architecture: "arm64",
    codeDir: "/unused",
    telemetry: { layerArns: {}, policyArn: "p", environment: {} },
    logRetentionDays: 7,
  } as const;
  assert.throws(
    () =>
      new ManagedInstancesDemo("lmi", {
        ...base,
        subnetIds: [],
        securityGroupIds: GROUPS,
      }),
    (error: unknown) =>
      error instanceof SettingError && error.setting === "subnetIds" &&
      /at least one, like subnet-/.test(error.message),
  );
  assert.throws(
    () =>
      new ManagedInstancesDemo("lmi", {
        ...base,
        subnetIds: SUBNETS,
        securityGroupIds: ["default"],
      }),
    /securityGroupIds: must be ids like sg-0123456789abcdef0, got "default"/,
  );
});

import assert from "node:assert/strict";
import { KinesisTelemetry } from "../../infra/component.ts";
import {
  DemoCodeMissingError,
  DemoFunction,
  type DemoFunctionArgs,
} from "../../infra/demo_function.ts";
import type { Architecture } from "../../infra/runtimes.ts";
import {
  demoCodeDir,
  layerDirWithZips,
  type MockAccount,
  type Recorder,
  registered,
  startMocks,
  tempDir,
  valueOf,
  withTelemetry,
} from "./fixtures.ts";

interface Deployed {
  recorder: Recorder;
  telemetry: KinesisTelemetry;
  demo: DemoFunction;
}

function deploy(
  architecture: Architecture,
  overrides: Partial<DemoFunctionArgs> = {},
  account: MockAccount = {},
): Promise<Deployed> {
  return withTelemetry("kt-demo-test", account, async (telemetry, codeDir) => {
    const demo = new DemoFunction("demo", {
      functionName: "kt-demo-test-demo",
      architecture,
      codeDir,
      telemetry,
      logRetentionDays: 14,
      ...overrides,
    });
    await registered(
      demo.role,
      demo.basicExecution,
      demo.extensionPolicy,
      demo.logGroup,
      demo.function,
    );
    return { demo };
  });
}

Deno.test("the demo function is Node.js 22 on arm64 with the arm64 layer", async () => {
  const { recorder, telemetry } = await deploy("arm64");
  const fn = recorder.named("demo-function").inputs;
  assert.equal(fn.name, "kt-demo-test-demo");
  assert.equal(fn.runtime, "nodejs22.x");
  assert.equal(fn.handler, "index.handler");
  assert.deepEqual(fn.architectures, ["arm64"]);
  assert.deepEqual(fn.layers, [await valueOf(telemetry.layerArns.arm64)]);
  assert.notDeepEqual(fn.layers, [await valueOf(telemetry.layerArns.x86_64)]);
  // An ordinary function: not on Managed Instances, $LATEST, 256 MB.
  assert.equal(fn.capacityProviderConfig, undefined);
  assert.equal(fn.publish, undefined);
  assert.equal(fn.memorySize, 256);
});

Deno.test("an x86_64 demo function gets the x86_64 layer", async () => {
  const { recorder, telemetry } = await deploy("x86_64");
  const fn = recorder.named("demo-function").inputs;
  assert.deepEqual(fn.architectures, ["x86_64"]);
  assert.deepEqual(fn.layers, [await valueOf(telemetry.layerArns.x86_64)]);
});

Deno.test("its role is Lambda's, with basic execution and the extension policy attached", async () => {
  const { recorder, telemetry } = await deploy("arm64");
  const role = recorder.named("demo-role");
  assert.equal(role.inputs.name, "kt-demo-test-demo");
  assert.deepEqual(JSON.parse(role.inputs.assumeRolePolicy as string), {
    Version: "2012-10-17",
    Statement: [{
      Effect: "Allow",
      Principal: { Service: "lambda.amazonaws.com" },
      Action: "sts:AssumeRole",
    }],
  });
  const attached = recorder.ofType(
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
  )
    .map((a) => `${a.inputs.role} ${a.inputs.policyArn}`)
    .sort();
  assert.deepEqual(
    attached,
    [
      "kt-demo-test-demo arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
      `kt-demo-test-demo ${await valueOf(telemetry.policyArn)}`,
    ].sort(),
  );
  const fn = recorder.named("demo-function").inputs;
  assert.equal(fn.role, role.state.arn);
});

Deno.test("AWS managed policy ARNs take the partition from the data source (aws-cn, aws-us-gov)", async () => {
  for (const partition of ["aws-cn", "aws-us-gov"]) {
    const { recorder } = await deploy("arm64", {}, { partition });
    assert.equal(
      recorder.named("demo-basic-execution").inputs.policyArn,
      `arn:${partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole`,
    );
  }
});

Deno.test("JSON logs go to its own log group, which has a retention", async () => {
  const { recorder } = await deploy("arm64", { logRetentionDays: 30 });
  const group = recorder.named("demo-logs").inputs;
  assert.equal(group.name, "/aws/lambda/kt-demo-test-demo");
  assert.equal(group.retentionInDays, 30);
  const fn = recorder.named("demo-function").inputs;
  assert.deepEqual(fn.loggingConfig, {
    logFormat: "JSON",
    logGroup: "/aws/lambda/kt-demo-test-demo",
  });
});

Deno.test("the extension's variables point it at the stream", async () => {
  const { recorder, telemetry } = await deploy("arm64");
  const fn = recorder.named("demo-function").inputs;
  assert.deepEqual(fn.environment, {
    variables: {
      KINESIS_TELEMETRY_STREAM: await valueOf(telemetry.streamArn),
      KINESIS_TELEMETRY_FORMAT: "kpl",
    },
  });
});

Deno.test("the function's code is the handler folder", async () => {
  const layers = layerDirWithZips();
  const code = demoCodeDir();
  try {
    const recorder = await startMocks();
    const telemetry = new KinesisTelemetry("kt", {
      namePrefix: "kt-code",
      layerDir: layers.path,
      ssmPrefix: "/kinesis-telemetry/code/",
    });
    const demo = new DemoFunction("demo", {
      functionName: "kt-code-demo",
      architecture: "arm64",
      codeDir: code.path,
      telemetry,
      logRetentionDays: 7,
    });
    await registered(demo.function);
    const archive = recorder.named("demo-function").inputs.code as {
      path: Promise<string>;
    };
    assert.equal(await archive.path, code.path);
  } finally {
    layers.remove();
    code.remove();
  }
});

Deno.test("a missing handler or an invalid retention stops construction", async () => {
  const layers = layerDirWithZips();
  const empty = tempDir();
  try {
    await startMocks();
    const telemetry = new KinesisTelemetry("kt", {
      namePrefix: "kt-missing",
      layerDir: layers.path,
      ssmPrefix: "/kinesis-telemetry/missing/",
    });
    const args: DemoFunctionArgs = {
      functionName: "kt-missing-demo",
      architecture: "arm64",
      codeDir: empty.path,
      telemetry,
      logRetentionDays: 14,
    };
    assert.throws(
      () => new DemoFunction("demo", args),
      (error: unknown) =>
        error instanceof DemoCodeMissingError &&
        /index\.mjs is missing; restore infra\/demo-function\/ or set the stack's demoEnabled to false/
          .test(error.message),
    );
    assert.throws(
      () => new DemoFunction("demo", { ...args, logRetentionDays: 13 }),
      /logRetentionDays: must be one of CloudWatch Logs' retention periods/,
    );
    await registered(
      telemetry.policy,
      telemetry.stream,
      ...Object.values(telemetry.parameters),
    );
  } finally {
    layers.remove();
    empty.remove();
  }
});

import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import main from "../../infra/index.ts";
import { defaultNamePrefix } from "../../infra/names.ts";
import type { StackOutputs } from "../../infra/stack.ts";
import {
  layerDirWithZips,
  MOCK_ACCOUNT,
  MOCK_REGION,
  type Recorder,
  startMocks,
  tempDir,
  valueOf,
} from "./fixtures.ts";

const PROJECT = "kinesis-telemetry";

async function runStack(
  stack: string,
  config: Record<string, string>,
  where: { project?: string; region?: string } = {},
): Promise<{ recorder: Recorder; outputs: StackOutputs }> {
  const recorder = await startMocks(
    where.project ?? PROJECT,
    stack,
    config,
    {},
    { region: where.region },
  );
  const outputs = main();
  // Every output settles only once the resources behind it are registered.
  await valueOf(outputs as unknown as pulumi.Input<Record<string, unknown>>);
  return { recorder, outputs };
}

/**
 * Physical names a stack claims in an account, each with the scope it must
 * be unique in: IAM names are account-wide and case-insensitive; the others
 * are per region. No name may be claimed by two stacks.
 */
function claimedNames(recorder: Recorder, region: string): string[] {
  return recorder.resources.flatMap((r) => {
    const name = r.inputs.name ?? r.inputs.layerName;
    if (typeof name !== "string") return [];
    return r.type.startsWith("aws:iam/")
      ? [`account ${r.type} ${name.toLowerCase()}`]
      : [`${region} ${r.type} ${name}`];
  });
}

Deno.test("the program's outputs give everything needed to attach the layer", async () => {
  const layers = layerDirWithZips();
  try {
    const { recorder, outputs } = await runStack("dev", {
      layerDir: layers.path,
    });
    const plain = await valueOf(
      outputs as unknown as pulumi.Input<Record<string, unknown>>,
    );
    const where = `${MOCK_REGION}:${MOCK_ACCOUNT}`;
    // The stem: project and stack, and the pinned hash of both.
    const stem = "kinesis-telemetry-dev-41ef2f32";
    const streamArn = `arn:aws:kinesis:${where}:stream/${stem}`;
    assert.deepEqual(plain, {
      streamName: stem,
      streamArn,
      streamMode: "ON_DEMAND",
      streamProtected: true,
      streamKmsKey: "alias/aws/kinesis",
      policyArn:
        `arn:aws:iam::${MOCK_ACCOUNT}:policy/${stem}-eu-west-1-put-records`,
      layerArns: {
        x86_64: `arn:aws:lambda:${where}:layer:${stem}-x86_64:1`,
        arm64: `arn:aws:lambda:${where}:layer:${stem}-arm64:1`,
      },
      layerUnversionedArns: {
        x86_64: `arn:aws:lambda:${where}:layer:${stem}-x86_64`,
        arm64: `arn:aws:lambda:${where}:layer:${stem}-arm64`,
      },
      layerVersions: { x86_64: 1, arm64: 1 },
      compatibleRuntimes: plain.compatibleRuntimes,
      extensionEnvironment: {
        KINESIS_TELEMETRY_STREAM: streamArn,
        KINESIS_TELEMETRY_FORMAT: "kpl",
      },
      ssmPrefix: "/kinesis-telemetry/dev/",
      ssmParameters: {
        streamName: "/kinesis-telemetry/dev/stream-name",
        streamArn: "/kinesis-telemetry/dev/stream-arn",
        policyArn: "/kinesis-telemetry/dev/policy-arn",
        layerArnX86_64: "/kinesis-telemetry/dev/layer-arn-x86_64",
        layerArnArm64: "/kinesis-telemetry/dev/layer-arn-arm64",
        recordFormat: "/kinesis-telemetry/dev/record-format",
      },
      demo: {
        functionName: `${stem}-demo`,
        functionArn: `arn:aws:lambda:${where}:function:${stem}-demo`,
        architecture: "arm64",
        logGroupName: `/aws/lambda/${stem}-demo`,
      },
      managedInstancesDemo: undefined,
    });
    assert.ok((plain.compatibleRuntimes as string[]).includes("python3.13"));
    // The demo function ships the real handler folder of infra/demo-function.
    const code = recorder.named("demo-function").inputs.code as {
      path: Promise<string>;
    };
    assert.match(await code.path, /infra\/demo-function\/?$/);
    // Resources carry the project and stack as tags.
    const [stream] = recorder.ofType("aws:kinesis/stream:Stream");
    assert.deepEqual(stream.inputs.tags, {
      "kinesis-telemetry:project": PROJECT,
      "kinesis-telemetry:stack": "dev",
    });
  } finally {
    layers.remove();
  }
});

Deno.test("stacks that differ in project, stack or region claim no common physical name", async () => {
  const layers = layerDirWithZips();
  try {
    const claims = async (
      project: string,
      stack: string,
      region = MOCK_REGION,
    ) =>
      claimedNames(
        (await runStack(stack, { layerDir: layers.path }, { project, region }))
          .recorder,
        region,
      );
    const pairs: [string, string[], string[]][] = [
      [
        "stack",
        await claims(PROJECT, "dev"),
        await claims(PROJECT, "prod"),
      ],
      // Pulumi allows "." in stack names, Lambda does not: the two must
      // not map to the same stem.
      [
        "stack dev.eu / dev-eu",
        await claims(PROJECT, "dev.eu"),
        await claims(PROJECT, "dev-eu"),
      ],
      // IAM names ignore case.
      [
        "stack Dev / dev",
        await claims(PROJECT, "Dev"),
        await claims(PROJECT, "dev"),
      ],
      [
        "project",
        await claims("kinesis-telemetry", "dev"),
        await claims("telemetry-shipper", "dev"),
      ],
      // Where the project ends and the stack begins must not be lost.
      [
        "project/stack boundary",
        await claims("a-b", "c"),
        await claims("a", "b-c"),
      ],
      // IAM is account-wide: the same stack in two regions needs two policies.
      [
        "region",
        await claims(PROJECT, "dev", "eu-west-1"),
        await claims(PROJECT, "dev", "us-east-1"),
      ],
    ];
    for (const [axis, one, other] of pairs) {
      assert.equal(one.length, other.length, axis);
      assert.ok(one.length >= 12, `${axis}: ${one.join("\n")}`);
      assert.deepEqual(
        one.filter((name) => other.includes(name)),
        [],
        `${axis}: names claimed twice`,
      );
    }
  } finally {
    layers.remove();
  }
});

Deno.test("without an AWS region the program stops and says how to set one", async () => {
  const layers = layerDirWithZips();
  try {
    const recorder = await startMocks(
      PROJECT,
      "noregion",
      {
        layerDir: layers.path,
      },
      {},
      { region: null },
    );
    const saved = ["AWS_REGION", "AWS_DEFAULT_REGION"].map((name) =>
      [name, Deno.env.get(name)] as const
    );
    for (const [name] of saved) Deno.env.delete(name);
    try {
      assert.throws(() => main(), (error: unknown) => {
        assert.ok(pulumi.RunError.isInstance(error));
        assert.match(
          (error as Error).message,
          /^aws:region: .*pulumi config set aws:region/,
        );
        return true;
      });
    } finally {
      for (const [name, value] of saved) {
        if (value !== undefined) Deno.env.set(name, value);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.deepEqual(recorder.resources, []);
  } finally {
    layers.remove();
  }
});

Deno.test("stack config reaches the resources", async () => {
  const layers = layerDirWithZips();
  try {
    const { recorder, outputs } = await runStack("perf", {
      layerDir: layers.path,
      shardCount: "2",
      retentionHours: "48",
      recordFormat: "ndjson",
      demoArchitecture: "x86_64",
      demoLogRetentionDays: "3",
      ssmPrefix: "/obs/telemetry/perf/",
    });
    const [stream] = recorder.ofType("aws:kinesis/stream:Stream");
    assert.equal(stream.inputs.shardCount, 2);
    assert.equal(stream.inputs.retentionPeriod, 48);
    assert.equal(outputs.streamMode, "PROVISIONED");
    const fn = recorder.named("demo-function").inputs;
    assert.deepEqual(fn.architectures, ["x86_64"]);
    assert.deepEqual(fn.layers, [await valueOf(outputs.layerArns.x86_64)]);
    assert.equal(
      (fn.environment as { variables: Record<string, string> }).variables
        .KINESIS_TELEMETRY_FORMAT,
      "ndjson",
    );
    assert.equal(recorder.named("demo-logs").inputs.retentionInDays, 3);
    assert.ok(
      recorder.ofType("aws:ssm/parameter:Parameter").every((p) =>
        String(p.inputs.name).startsWith("/obs/telemetry/perf/")
      ),
    );
  } finally {
    layers.remove();
  }
});

Deno.test("keepOldLayerVersions reaches the layers' skipDestroy, on by default", async () => {
  const layers = layerDirWithZips();
  try {
    const skipDestroy = async (config: Record<string, string>) =>
      (await runStack("keep", { layerDir: layers.path, ...config })).recorder
        .ofType("aws:lambda/layerVersion:LayerVersion")
        .map((layer) => layer.inputs.skipDestroy);
    assert.deepEqual(await skipDestroy({}), [true, true]);
    assert.deepEqual(
      await skipDestroy({ keepOldLayerVersions: "false" }),
      [false, false],
    );
    assert.deepEqual(
      await skipDestroy({ keepOldLayerVersions: "true" }),
      [true, true],
    );
  } finally {
    layers.remove();
  }
});

Deno.test("protectStream reaches the stream's protect option, on by default", async () => {
  const layers = layerDirWithZips();
  try {
    const { outputs } = await runStack("guarded", { layerDir: layers.path });
    assert.equal(outputs.streamProtected, true);
    const open = await runStack("open", {
      layerDir: layers.path,
      protectStream: "false",
    });
    assert.equal(open.outputs.streamProtected, false);
  } finally {
    layers.remove();
  }
});

Deno.test("shareWith from stack config shares both layer versions", async () => {
  const layers = layerDirWithZips();
  try {
    const { recorder } = await runStack("shared", {
      layerDir: layers.path,
      shareWith: "111122223333,o-a1b2c3d4e5",
    });
    const granted = recorder.ofType(
      "aws:lambda/layerVersionPermission:LayerVersionPermission",
    ).map((p) => `${p.inputs.layerName} ${p.inputs.statementId}`).sort();
    assert.equal(granted.length, 4);
    assert.ok(
      granted.every((g) => / share-(111122223333|o-a1b2c3d4e5)$/.test(g)),
    );
    assert.equal(new Set(granted.map((g) => g.split(" ")[0])).size, 2);
  } finally {
    layers.remove();
  }
});

Deno.test("managedInstancesDemo: off by default; on, a capacity provider in the configured subnets and a function on it", async () => {
  const layers = layerDirWithZips();
  try {
    const off = await runStack("lmi-off", { layerDir: layers.path });
    assert.equal(off.outputs.managedInstancesDemo, undefined);
    assert.deepEqual(
      off.recorder.ofType("aws:lambda/capacityProvider:CapacityProvider"),
      [],
    );

    const { recorder, outputs } = await runStack("lmi", {
      layerDir: layers.path,
      managedInstancesDemo: "true",
      managedInstancesSubnetIds: "subnet-0123456789abcdef0",
      managedInstancesSecurityGroupIds: "sg-0123456789abcdef0",
      demoArchitecture: "x86_64",
    });
    const [provider] = recorder.ofType(
      "aws:lambda/capacityProvider:CapacityProvider",
    );
    assert.deepEqual(provider.inputs.vpcConfig, {
      subnetIds: ["subnet-0123456789abcdef0"],
      securityGroupIds: ["sg-0123456789abcdef0"],
    });
    const lmi = outputs.managedInstancesDemo!;
    const stem = defaultNamePrefix(PROJECT, "lmi");
    assert.equal(await valueOf(lmi.functionName), `${stem}-lmi`);
    assert.equal(
      await valueOf(lmi.capacityProviderArn),
      provider.state.arn,
    );
    assert.match(await valueOf(lmi.publishedVersionArn), /:1$/);
    const fn = recorder.named("lmi-function-function").inputs;
    assert.deepEqual(fn.layers, [await valueOf(outputs.layerArns.x86_64)]);
    // Both demos run: the ordinary one and the one on Managed Instances.
    assert.equal(recorder.ofType("aws:lambda/function:Function").length, 2);
    const roles = recorder.ofType("aws:iam/role:Role").map((r) =>
      r.inputs.name
    );
    assert.deepEqual(roles.sort(), [
      `${stem}-eu-west-1-demo`,
      `${stem}-eu-west-1-lmi`,
      `${stem}-eu-west-1-lmi-operator`,
    ]);
  } finally {
    layers.remove();
  }
});

Deno.test("demoEnabled=false deploys no function", async () => {
  const layers = layerDirWithZips();
  try {
    const { recorder, outputs } = await runStack("nodemo", {
      layerDir: layers.path,
      demoEnabled: "false",
    });
    assert.equal(outputs.demo, undefined);
    assert.deepEqual(recorder.ofType("aws:lambda/function:Function"), []);
    assert.deepEqual(recorder.ofType("aws:iam/role:Role"), []);
  } finally {
    layers.remove();
  }
});

Deno.test("bad config and missing zips end the program with a RunError, before any resource", async () => {
  const layers = layerDirWithZips();
  const empty = tempDir();
  try {
    let recorder = await startMocks(PROJECT, "bad", {
      layerDir: layers.path,
      retentionHours: "12",
    });
    assert.throws(() => main(), (error: unknown) => {
      assert.ok(pulumi.RunError.isInstance(error));
      assert.equal(
        (error as Error).message,
        "kinesis-telemetry:retentionHours: must be a whole number from 24 to 8760 hours, got 12",
      );
      return true;
    });
    recorder = await startMocks(PROJECT, "bad", { layerDir: empty.path });
    assert.throws(() => main(), (error: unknown) => {
      assert.ok(pulumi.RunError.isInstance(error));
      assert.match(
        (error as Error).message,
        /^Layer zips not found: .*Build them first with `npx -y deno@2 task build`/,
      );
      return true;
    });
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.deepEqual(recorder.resources, []);
  } finally {
    layers.remove();
    empty.remove();
  }
});

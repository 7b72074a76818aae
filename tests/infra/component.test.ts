import assert from "node:assert/strict";
import {
  AWS_MANAGED_KINESIS_KEY,
  KinesisTelemetry,
  type KinesisTelemetryArgs,
  resolveTelemetryArgs,
  SSM_PARAMETER_NAMES,
} from "../../infra/component.ts";
import { LayerArtifactError } from "../../infra/layer_artifacts.ts";
import {
  IncompatibleTargetError,
  LAYER_COMPATIBLE_RUNTIMES,
} from "../../infra/runtimes.ts";
import { SettingError } from "../../infra/validation.ts";
import {
  isProtected,
  layerDirWithZips,
  MOCK_ACCOUNT,
  MOCK_REGION,
  registered,
  sha256Base64,
  startMocks,
  tempDir,
  valueOf,
} from "./fixtures.ts";

const CUSTOMER_KEY =
  `arn:aws:kms:${MOCK_REGION}:${MOCK_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;

function baseArgs(layerDir: string): KinesisTelemetryArgs {
  return {
    namePrefix: "kt-unit",
    layerDir,
    ssmPrefix: "/kinesis-telemetry/unit/",
  };
}

async function everything(telemetry: KinesisTelemetry): Promise<void> {
  await registered(
    telemetry.stream,
    telemetry.policy,
    telemetry.layers.x86_64,
    telemetry.layers.arm64,
    ...Object.values(telemetry.parameters),
  );
}

Deno.test("defaults: an on-demand stream encrypted with the AWS managed key, 24 h retention", async () => {
  const layers = layerDirWithZips();
  try {
    const recorder = await startMocks();
    const telemetry = new KinesisTelemetry("kt", baseArgs(layers.path));
    await everything(telemetry);
    const [stream] = recorder.ofType("aws:kinesis/stream:Stream");
    assert.equal(stream.name, "kt-stream");
    assert.equal(stream.inputs.name, "kt-unit");
    assert.deepEqual(stream.inputs.streamModeDetails, {
      streamMode: "ON_DEMAND",
    });
    assert.equal(stream.inputs.shardCount, undefined);
    assert.equal(stream.inputs.encryptionType, "KMS");
    assert.equal(stream.inputs.kmsKeyId, AWS_MANAGED_KINESIS_KEY);
    assert.equal(stream.inputs.retentionPeriod, 24);
    assert.equal(stream.inputs.maxRecordSizeInKib, undefined);
    assert.equal(await valueOf(telemetry.streamName), "kt-unit");
    assert.equal(
      await valueOf(telemetry.streamArn),
      `arn:aws:kinesis:${MOCK_REGION}:${MOCK_ACCOUNT}:stream/kt-unit`,
    );
  } finally {
    layers.remove();
  }
});

Deno.test("the stream is protected by default, and consumers never deleted with it", async () => {
  const layers = layerDirWithZips();
  try {
    let recorder = await startMocks();
    let telemetry = new KinesisTelemetry("kt", baseArgs(layers.path));
    await everything(telemetry);
    // A rename or a forced replacement would delete the stream and its
    // retained records: `pulumi up` must stop instead.
    assert.equal(isProtected(telemetry.stream), true);
    assert.equal(
      recorder.named("kt-stream").inputs.enforceConsumerDeletion,
      false,
    );
    // Nothing else is protected: layers and policy may be replaced freely.
    assert.equal(isProtected(telemetry.policy), false);
    assert.equal(isProtected(telemetry.layers.arm64), false);

    recorder = await startMocks();
    telemetry = new KinesisTelemetry("kt", {
      ...baseArgs(layers.path),
      protectStream: false,
    });
    await everything(telemetry);
    assert.equal(isProtected(telemetry.stream), false);
  } finally {
    layers.remove();
  }
});

Deno.test("provisioned stream with shards, customer key, retention and large records", async () => {
  const layers = layerDirWithZips();
  try {
    const recorder = await startMocks();
    const telemetry = new KinesisTelemetry("kt", {
      ...baseArgs(layers.path),
      shardCount: 3,
      kmsKeyArn: CUSTOMER_KEY,
      retentionHours: 168,
      maxRecordSizeKiB: 4096,
      tags: { team: "obs" },
    });
    await everything(telemetry);
    const [stream] = recorder.ofType("aws:kinesis/stream:Stream");
    assert.deepEqual(stream.inputs.streamModeDetails, {
      streamMode: "PROVISIONED",
    });
    assert.equal(stream.inputs.shardCount, 3);
    assert.equal(stream.inputs.kmsKeyId, CUSTOMER_KEY);
    assert.equal(stream.inputs.retentionPeriod, 168);
    assert.equal(stream.inputs.maxRecordSizeInKib, 4096);
    assert.deepEqual(stream.inputs.tags, { team: "obs" });
    const environment = await valueOf(telemetry.environment);
    assert.equal(
      environment.KINESIS_TELEMETRY_MAX_RECORD_BYTES,
      String(4096 * 1024),
    );
  } finally {
    layers.remove();
  }
});

Deno.test("two layer versions, one architecture each, AL2023 runtimes, hashed from their zips", async () => {
  const layers = layerDirWithZips();
  try {
    const recorder = await startMocks();
    const telemetry = new KinesisTelemetry("kt", baseArgs(layers.path));
    await everything(telemetry);
    const published = recorder.ofType("aws:lambda/layerVersion:LayerVersion");
    assert.equal(published.length, 2);
    for (const arch of ["x86_64", "arm64"] as const) {
      const layer = recorder.named(`kt-layer-${arch}`);
      assert.equal(layer.inputs.layerName, `kt-unit-${arch}`);
      assert.deepEqual(layer.inputs.compatibleArchitectures, [arch]);
      assert.deepEqual(layer.inputs.compatibleRuntimes, [
        ...LAYER_COMPATIBLE_RUNTIMES,
      ]);
      assert.equal(
        layer.inputs.sourceCodeHash,
        sha256Base64(layers.zips[arch]),
      );
      // Kept by default: functions pinned to an older version's ARN (from
      // SSM) must still deploy after a new zip is published.
      assert.equal(layer.inputs.skipDestroy, true);
      const code = layer.inputs.code as { path: Promise<string> };
      assert.equal(
        await code.path,
        `${layers.path}/kinesis-telemetry-${arch}.zip`,
      );
      assert.equal(
        await valueOf(telemetry.layerArns[arch]),
        `arn:aws:lambda:${MOCK_REGION}:${MOCK_ACCOUNT}:layer:kt-unit-${arch}:1`,
      );
    }
  } finally {
    layers.remove();
  }
});

Deno.test("keepOldLayerVersions=false lets a replaced layer version be deleted", async () => {
  const layers = layerDirWithZips();
  try {
    const recorder = await startMocks();
    const telemetry = new KinesisTelemetry("kt", {
      ...baseArgs(layers.path),
      keepOldLayerVersions: false,
    });
    await everything(telemetry);
    for (const arch of ["x86_64", "arm64"]) {
      assert.equal(
        recorder.named(`kt-layer-${arch}`).inputs.skipDestroy,
        false,
      );
    }
  } finally {
    layers.remove();
  }
});

Deno.test("shareWith grants lambda:GetLayerVersion on each layer version to each account and organization", async () => {
  const layers = layerDirWithZips();
  try {
    const recorder = await startMocks();
    const telemetry = new KinesisTelemetry("kt", {
      ...baseArgs(layers.path),
      shareWith: ["111122223333", "o-a1b2c3d4e5"],
    });
    await everything(telemetry);
    await registered(...telemetry.layerPermissions);
    const permissions = recorder.ofType(
      "aws:lambda/layerVersionPermission:LayerVersionPermission",
    );
    assert.equal(permissions.length, 4);
    for (const arch of ["x86_64", "arm64"] as const) {
      const unversioned = await valueOf(telemetry.layerUnversionedArns[arch]);
      const version = await valueOf(telemetry.layerVersions[arch]);
      const mine = permissions.filter((p) => p.inputs.layerName === unversioned)
        .map((p) => p.inputs);
      // The version number comes from the layer version itself: a new zip
      // publishes a new version, and its permissions are replaced with it.
      assert.deepEqual(
        mine.map((p) => p.versionNumber),
        [version, version],
        arch,
      );
      assert.deepEqual(
        mine.map((p) => [p.principal, p.organizationId, p.statementId]),
        [
          ["111122223333", undefined, "share-111122223333"],
          ["*", "o-a1b2c3d4e5", "share-o-a1b2c3d4e5"],
        ],
        arch,
      );
      for (const p of mine) {
        assert.equal(p.action, "lambda:GetLayerVersion");
        // A kept layer version keeps its grant too: accounts pinned to it
        // must still be able to deploy.
        assert.equal(p.skipDestroy, true);
      }
    }
  } finally {
    layers.remove();
  }
});

Deno.test("without shareWith no layer version is shared; bad principals are refused", async () => {
  const layers = layerDirWithZips();
  try {
    const recorder = await startMocks();
    const telemetry = new KinesisTelemetry("kt", baseArgs(layers.path));
    await everything(telemetry);
    assert.deepEqual(
      recorder.ofType(
        "aws:lambda/layerVersionPermission:LayerVersionPermission",
      ),
      [],
    );
  } finally {
    layers.remove();
  }
  for (const bad of ["*", "12345", "o-", "arn:aws:iam::111122223333:root"]) {
    assert.throws(
      () => resolveTelemetryArgs({ ...baseArgs("/unused"), shareWith: [bad] }),
      /shareWith: .*12-digit account id or an organization id \(o-/,
      bad,
    );
  }
});

Deno.test("the policy grants PutRecords on this stream only, and KMS only on a customer key for this stream", async () => {
  const layers = layerDirWithZips();
  try {
    let recorder = await startMocks();
    let telemetry = new KinesisTelemetry("kt", baseArgs(layers.path));
    await everything(telemetry);
    let [policy] = recorder.ofType("aws:iam/policy:Policy");
    // IAM names are account-wide: the region keeps two regions' stacks apart.
    assert.equal(policy.inputs.name, "kt-unit-eu-west-1-put-records");
    const streamArn = await valueOf(telemetry.streamArn);
    assert.deepEqual(JSON.parse(policy.inputs.policy as string), {
      Version: "2012-10-17",
      Statement: [{
        Sid: "PutTelemetryRecords",
        Effect: "Allow",
        Action: ["kinesis:PutRecords"],
        Resource: streamArn,
      }],
    });
    assert.equal(
      await valueOf(telemetry.policyArn),
      `arn:aws:iam::${MOCK_ACCOUNT}:policy/kt-unit-eu-west-1-put-records`,
    );

    recorder = await startMocks();
    telemetry = new KinesisTelemetry("kt", {
      ...baseArgs(layers.path),
      kmsKeyArn: CUSTOMER_KEY,
    });
    await everything(telemetry);
    [policy] = recorder.ofType("aws:iam/policy:Policy");
    const document = JSON.parse(policy.inputs.policy as string);
    assert.deepEqual(document.Statement[1], {
      Sid: "EncryptWithStreamKey",
      Effect: "Allow",
      Action: ["kms:GenerateDataKey"],
      Resource: CUSTOMER_KEY,
      // Kinesis puts the stream's ARN in the encryption context: the grant
      // covers this stream's records, not everything else the key encrypts.
      Condition: {
        StringEquals: {
          "kms:EncryptionContext:aws:kinesis:arn": await valueOf(
            telemetry.streamArn,
          ),
        },
      },
    });
    assert.equal(document.Statement.length, 2);
    const actions = document.Statement.flatMap((s: { Action: string[] }) =>
      s.Action
    );
    assert.ok(
      !actions.some((action: string) => action.endsWith("*")),
      "no wildcard actions",
    );
  } finally {
    layers.remove();
  }
});

Deno.test("SSM parameters under the prefix hold the same values as the outputs", async () => {
  const layers = layerDirWithZips();
  try {
    const recorder = await startMocks();
    const telemetry = new KinesisTelemetry("kt", baseArgs(layers.path));
    await everything(telemetry);
    const parameters = recorder.ofType("aws:ssm/parameter:Parameter");
    const byName = Object.fromEntries(
      parameters.map((p) => [p.inputs.name, p.inputs]),
    );
    assert.deepEqual(
      Object.keys(byName).sort(),
      Object.values(SSM_PARAMETER_NAMES).map((n) =>
        `/kinesis-telemetry/unit/${n}`
      ).sort(),
    );
    const expected: Record<string, string> = {
      "stream-name": await valueOf(telemetry.streamName),
      "stream-arn": await valueOf(telemetry.streamArn),
      "policy-arn": await valueOf(telemetry.policyArn),
      "layer-arn-x86_64": await valueOf(telemetry.layerArns.x86_64),
      "layer-arn-arm64": await valueOf(telemetry.layerArns.arm64),
      "record-format": "kpl",
    };
    for (const [name, value] of Object.entries(expected)) {
      const parameter = byName[`/kinesis-telemetry/unit/${name}`];
      // Plain ARNs, readable in previews, outputs and the console: sent as
      // insecureValue, which the provider does not mark secret as it does
      // `value`.
      assert.equal(parameter.insecureValue, value, name);
      assert.equal(parameter.value, undefined, name);
      assert.equal(parameter.type, "String", name);
    }
  } finally {
    layers.remove();
  }
});

Deno.test("the environment for attached functions names the stream by ARN and the format", async () => {
  const layers = layerDirWithZips();
  try {
    await startMocks();
    const telemetry = new KinesisTelemetry("kt", {
      ...baseArgs(layers.path),
      recordFormat: "json",
    });
    await everything(telemetry);
    assert.deepEqual(await valueOf(telemetry.environment), {
      KINESIS_TELEMETRY_STREAM: await valueOf(telemetry.streamArn),
      KINESIS_TELEMETRY_FORMAT: "json",
    });
  } finally {
    layers.remove();
  }
});

Deno.test("missing zips stop construction before any resource is declared", async () => {
  const empty = tempDir();
  try {
    const recorder = await startMocks();
    assert.throws(
      () => new KinesisTelemetry("kt", baseArgs(empty.path)),
      (error: unknown) =>
        error instanceof LayerArtifactError &&
        /npx -y deno@2 task build/.test(error.message),
    );
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.deepEqual(recorder.resources, []);
  } finally {
    empty.remove();
  }
});

Deno.test("arguments are checked and named", () => {
  const args = baseArgs("/unused");
  assert.throws(
    () => resolveTelemetryArgs({ ...args, shardCount: -2 }),
    /^SettingError: shardCount: /,
  );
  assert.throws(
    () => resolveTelemetryArgs({ ...args, retentionHours: 9000 }),
    /retentionHours: must be a whole number from 24 to 8760 hours/,
  );
  assert.throws(
    () => resolveTelemetryArgs({ ...args, maxRecordSizeKiB: 100 }),
    /maxRecordSizeKiB: /,
  );
  assert.throws(
    () => resolveTelemetryArgs({ ...args, kmsKeyArn: "alias/aws/kinesis" }),
    /kmsKeyArn: must be a KMS key ARN/,
  );
  assert.throws(
    () => resolveTelemetryArgs({ ...args, namePrefix: "x".repeat(59) }),
    /namePrefix: must be at most 58/,
  );
  assert.throws(
    () => resolveTelemetryArgs({ ...args, ssmPrefix: "/no-trailing-slash" }),
    /ssmPrefix: /,
  );
  assert.throws(
    () => resolveTelemetryArgs({ ...args, recordFormat: "xml" as "json" }),
    (error: unknown) =>
      error instanceof SettingError && error.setting === "recordFormat",
  );
  assert.throws(
    () => resolveTelemetryArgs({ ...args, compatibleRuntimes: [] }),
    /compatibleRuntimes: must list 1 to 15/,
  );
  assert.throws(
    () =>
      resolveTelemetryArgs({
        ...args,
        compatibleRuntimes: ["python3.13", "python3.11"],
      }),
    (error: unknown) =>
      error instanceof IncompatibleTargetError &&
      /python3\.11/.test(error.message),
  );
  assert.deepEqual(
    resolveTelemetryArgs({ ...args, compatibleRuntimes: ["python3.13"] })
      .compatibleRuntimes,
    ["python3.13"],
  );
});

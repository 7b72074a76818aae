/**
 * `KinesisTelemetry`: everything a team deploys once per stack so its
 * functions can ship Lambda telemetry to Kinesis — the stream, one layer
 * version per architecture, the least-privilege policy, and SSM parameters
 * that let other stacks find them.
 *
 * @module
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { EXTENSION_ENV_PREFIX, type TelemetrySource } from "./attach.ts";
import { type LayerArtifact, readLayerArtifacts } from "./layer_artifacts.ts";
import { physicalNames } from "./names.ts";
import { putRecordsPolicy } from "./policy.ts";
import {
  type Architecture,
  ARCHITECTURES,
  checkRuntime,
  LAYER_COMPATIBLE_RUNTIMES,
  MAX_LAYER_RUNTIMES,
} from "./runtimes.ts";
import { RECORD_FORMATS, type RecordFormat } from "./settings.ts";
import {
  checkChoice,
  checkIntegerRange,
  checkKmsKeyArn,
  checkNamePrefix,
  checkRegion,
  checkShardCount,
  checkShareWith,
  checkSsmPrefix,
  isOrganizationId,
  LIMITS,
  SettingError,
} from "./validation.ts";

/** Pulumi type token of the component. */
export const KINESIS_TELEMETRY_TYPE =
  "kinesis-telemetry:index:KinesisTelemetry";

/** The AWS managed key Kinesis encrypts with when no customer key is given. */
export const AWS_MANAGED_KINESIS_KEY = "alias/aws/kinesis";

/** Arguments of {@linkcode KinesisTelemetry}. */
export interface KinesisTelemetryArgs {
  /** Stem of every physical name (letters, digits, `_`, `-`; at most 58 characters). */
  namePrefix: string;
  /**
   * Region the stack deploys to, part of the IAM policy's name (IAM names
   * are account-wide); default: the AWS provider's `aws:region` or
   * `AWS_REGION`.
   */
  region?: string;
  /** Folder holding `kinesis-telemetry-<arch>.zip` for both architectures. */
  layerDir: string;
  /** SSM path the parameters are written under, e.g. `/kinesis-telemetry/prod/`. */
  ssmPrefix: string;
  /** 0 (default) for on-demand capacity; N ≥ 1 for a provisioned stream of N shards. */
  shardCount?: number;
  /** Stream retention, 24 (default) to 8760 hours. */
  retentionHours?: number;
  /** Customer managed KMS key ARN; omitted means the AWS managed `alias/aws/kinesis`. */
  kmsKeyArn?: string;
  /** Largest record, 1024 (default) to 10240 KiB. */
  maxRecordSizeKiB?: number;
  /** Record format attached functions write (default `kpl`). */
  recordFormat?: RecordFormat;
  /** Runtimes declared on the layer versions (default: {@linkcode LAYER_COMPATIBLE_RUNTIMES}). */
  compatibleRuntimes?: string[];
  /**
   * Keep a layer version when a new zip replaces it (default true): a
   * deleted version can no longer be added to functions, so teams pinned to
   * its ARN would break on their next deploy. Removing old versions is a
   * manual step (README: "Cleaning up old layer versions").
   */
  keepOldLayerVersions?: boolean;
  /**
   * Account ids and/or AWS Organizations ids (`o-...`) allowed to add the
   * layer versions to their functions (default: none). Each gets
   * `lambda:GetLayerVersion` on each layer version.
   */
  shareWith?: string[];
  /**
   * Declare the stream with Pulumi's `protect` (default true): a rename, a
   * change that forces a replacement, or `pulumi destroy` then stops with an
   * error instead of deleting the stream and every record it retains.
   */
  protectStream?: boolean;
  /** Tags for every taggable resource. */
  tags?: Record<string, string>;
}

/** Short names of the SSM parameters, each written at `<ssmPrefix><name>`. */
export const SSM_PARAMETER_NAMES = {
  streamName: "stream-name",
  streamArn: "stream-arn",
  policyArn: "policy-arn",
  layerArnX86_64: "layer-arn-x86_64",
  layerArnArm64: "layer-arn-arm64",
  recordFormat: "record-format",
} as const;

/** Key of one SSM parameter. */
export type SsmParameterKey = keyof typeof SSM_PARAMETER_NAMES;

/** Arguments with defaults applied and every value checked. */
export interface ResolvedTelemetryArgs {
  /** See {@linkcode KinesisTelemetryArgs.namePrefix}. */
  namePrefix: string;
  /** See {@linkcode KinesisTelemetryArgs.region}. */
  region: string;
  /** See {@linkcode KinesisTelemetryArgs.layerDir}. */
  layerDir: string;
  /** See {@linkcode KinesisTelemetryArgs.ssmPrefix}. */
  ssmPrefix: string;
  /** See {@linkcode KinesisTelemetryArgs.shardCount}. */
  shardCount: number;
  /** See {@linkcode KinesisTelemetryArgs.retentionHours}. */
  retentionHours: number;
  /** See {@linkcode KinesisTelemetryArgs.kmsKeyArn}. */
  kmsKeyArn: string | undefined;
  /** See {@linkcode KinesisTelemetryArgs.maxRecordSizeKiB}. */
  maxRecordSizeKiB: number;
  /** See {@linkcode KinesisTelemetryArgs.recordFormat}. */
  recordFormat: RecordFormat;
  /** See {@linkcode KinesisTelemetryArgs.compatibleRuntimes}. */
  compatibleRuntimes: string[];
  /** See {@linkcode KinesisTelemetryArgs.keepOldLayerVersions}. */
  keepOldLayerVersions: boolean;
  /** See {@linkcode KinesisTelemetryArgs.shareWith}; without duplicates. */
  shareWith: string[];
  /** See {@linkcode KinesisTelemetryArgs.protectStream}. */
  protectStream: boolean;
  /** See {@linkcode KinesisTelemetryArgs.tags}. */
  tags: Record<string, string>;
}

/**
 * Applies defaults and checks every argument; throws SettingError (or
 * IncompatibleTargetError for an Amazon Linux 2 runtime) naming the argument.
 */
export function resolveTelemetryArgs(
  args: KinesisTelemetryArgs,
): ResolvedTelemetryArgs {
  checkNamePrefix("namePrefix", args.namePrefix);
  const region = args.region ?? aws.config.region;
  if (region === undefined) {
    throw new SettingError(
      "region",
      "no AWS region: pass one, or set the provider's aws:region",
    );
  }
  checkRegion("region", region);
  checkSsmPrefix("ssmPrefix", args.ssmPrefix);
  const shardCount = args.shardCount ?? 0;
  checkShardCount("shardCount", shardCount);
  const retentionHours = args.retentionHours ?? LIMITS.retentionHours.min;
  checkIntegerRange(
    "retentionHours",
    retentionHours,
    LIMITS.retentionHours.min,
    LIMITS.retentionHours.max,
    "hours",
  );
  if (args.kmsKeyArn !== undefined) checkKmsKeyArn("kmsKeyArn", args.kmsKeyArn);
  const maxRecordSizeKiB = args.maxRecordSizeKiB ?? LIMITS.maxRecordSizeKiB.min;
  checkIntegerRange(
    "maxRecordSizeKiB",
    maxRecordSizeKiB,
    LIMITS.maxRecordSizeKiB.min,
    LIMITS.maxRecordSizeKiB.max,
    "KiB",
  );
  const recordFormat = checkChoice(
    "recordFormat",
    args.recordFormat ?? "kpl",
    RECORD_FORMATS,
  );
  const compatibleRuntimes = args.compatibleRuntimes ??
    [...LAYER_COMPATIBLE_RUNTIMES];
  if (
    compatibleRuntimes.length === 0 ||
    compatibleRuntimes.length > MAX_LAYER_RUNTIMES
  ) {
    throw new SettingError(
      "compatibleRuntimes",
      `must list 1 to ${MAX_LAYER_RUNTIMES} runtimes (Lambda's limit per layer version), got ${compatibleRuntimes.length}`,
    );
  }
  compatibleRuntimes.forEach(checkRuntime);
  const shareWith = [...new Set(args.shareWith ?? [])];
  checkShareWith("shareWith", shareWith);
  return {
    namePrefix: args.namePrefix,
    region,
    layerDir: args.layerDir,
    ssmPrefix: args.ssmPrefix,
    shardCount,
    retentionHours,
    kmsKeyArn: args.kmsKeyArn,
    maxRecordSizeKiB,
    recordFormat,
    compatibleRuntimes,
    keepOldLayerVersions: args.keepOldLayerVersions ?? true,
    protectStream: args.protectStream ?? true,
    shareWith,
    tags: args.tags ?? {},
  };
}

/**
 * The layer version's description: the architecture, and the build mode and
 * Deno version when the build's manifest tells them.
 */
export function layerDescription(artifact: LayerArtifact): string {
  const build = artifact.manifest?.mode && artifact.manifest.denoVersion
    ? `, ${artifact.manifest.mode} build, Deno ${artifact.manifest.denoVersion}`
    : "";
  return `kinesis-telemetry Lambda extension (${artifact.architecture}${build}): ships Telemetry API events to Kinesis`;
}

/**
 * The stream, the two layer versions, the policy and the SSM parameters of
 * one stack. Also a {@linkcode TelemetrySource}, so `attachTelemetry` takes
 * it directly.
 *
 * Construction reads the layer zips first and throws before declaring any
 * resource when they are missing or broken.
 */
export class KinesisTelemetry extends pulumi.ComponentResource
  implements TelemetrySource {
  /** The Kinesis stream telemetry goes to. */
  readonly stream: aws.kinesis.Stream;
  /** One layer version per architecture. */
  readonly layers: Record<Architecture, aws.lambda.LayerVersion>;
  /** Grants of each layer version to the `shareWith` accounts and organizations. */
  readonly layerPermissions: aws.lambda.LayerVersionPermission[];
  /** The managed policy attached functions' roles need. */
  readonly policy: aws.iam.Policy;
  /** The SSM parameters, by key. */
  readonly parameters: Record<SsmParameterKey, aws.ssm.Parameter>;
  /** Whether the stream was declared with `protect`. */
  readonly streamProtected: boolean;
  /** Stream name. */
  readonly streamName: pulumi.Output<string>;
  /** Stream ARN. */
  readonly streamArn: pulumi.Output<string>;
  /** Policy ARN. */
  readonly policyArn: pulumi.Output<string>;
  /** Layer version ARN per architecture. */
  readonly layerArns: Record<Architecture, pulumi.Output<string>>;
  /** Layer ARN without the version, per architecture (what `aws lambda list-layer-versions` takes). */
  readonly layerUnversionedArns: Record<Architecture, pulumi.Output<string>>;
  /** Layer version number per architecture. */
  readonly layerVersions: Record<Architecture, pulumi.Output<number>>;
  /** Extension variables every attached function gets. */
  readonly environment: pulumi.Output<Record<string, string>>;
  /** The arguments as applied (defaults filled in). */
  readonly settings: ResolvedTelemetryArgs;
  /** The layer zips that were published. */
  readonly artifacts: Record<Architecture, LayerArtifact>;

  /** Declares the resources; throws at once on bad arguments or missing zips. */
  constructor(
    name: string,
    args: KinesisTelemetryArgs,
    opts?: pulumi.ComponentResourceOptions,
  ) {
    // Checked before super(): a refused argument must not leave a
    // half-registered component behind.
    const settings = resolveTelemetryArgs(args);
    const artifacts = readLayerArtifacts(settings.layerDir);
    super(KINESIS_TELEMETRY_TYPE, name, {}, opts);
    this.settings = settings;
    this.artifacts = artifacts;
    const names = physicalNames(settings.namePrefix, settings.region);
    const parent = { parent: this };
    const provisioned = settings.shardCount > 0;

    this.stream = new aws.kinesis.Stream(`${name}-stream`, {
      name: names.stream,
      streamModeDetails: {
        streamMode: provisioned ? "PROVISIONED" : "ON_DEMAND",
      },
      shardCount: provisioned ? settings.shardCount : undefined,
      retentionPeriod: settings.retentionHours,
      encryptionType: "KMS",
      kmsKeyId: settings.kmsKeyArn ?? AWS_MANAGED_KINESIS_KEY,
      // Only sent when raised: 1024 is Kinesis' own default.
      maxRecordSizeInKib:
        settings.maxRecordSizeKiB > LIMITS.maxRecordSizeKiB.min
          ? settings.maxRecordSizeKiB
          : undefined,
      // Kinesis' own default, said out loud: deleting a stream that still
      // has enhanced fan-out consumers fails rather than dropping them.
      enforceConsumerDeletion: false,
      tags: settings.tags,
    }, { parent: this, protect: settings.protectStream });
    this.streamProtected = settings.protectStream;
    this.streamName = this.stream.name;
    this.streamArn = this.stream.arn;

    const layerOf = (architecture: Architecture) =>
      new aws.lambda.LayerVersion(`${name}-layer-${architecture}`, {
        layerName: names.layer(architecture),
        description: layerDescription(artifacts[architecture]),
        code: new pulumi.asset.FileArchive(artifacts[architecture].zipPath),
        // The zip's hash, not its path: a rebuilt zip publishes a new version.
        sourceCodeHash: artifacts[architecture].sha256Base64,
        compatibleArchitectures: [architecture],
        compatibleRuntimes: settings.compatibleRuntimes,
        skipDestroy: settings.keepOldLayerVersions,
      }, parent);
    this.layers = { x86_64: layerOf("x86_64"), arm64: layerOf("arm64") };
    this.layerArns = {
      x86_64: this.layers.x86_64.arn,
      arm64: this.layers.arm64.arn,
    };
    this.layerUnversionedArns = {
      x86_64: this.layers.x86_64.layerArn,
      arm64: this.layers.arm64.layerArn,
    };
    // Lambda numbers versions 1, 2, ...; the provider hands them over as text.
    this.layerVersions = {
      x86_64: this.layers.x86_64.version.apply(Number),
      arm64: this.layers.arm64.version.apply(Number),
    };

    // One grant per layer version and principal. Its layerName and
    // versionNumber come from the version's own outputs, so a new zip (a new
    // version) replaces the grants with it; a kept version keeps its grants.
    this.layerPermissions = ARCHITECTURES.flatMap((architecture) =>
      settings.shareWith.map((principal) => {
        const organization = isOrganizationId(principal);
        return new aws.lambda.LayerVersionPermission(
          `${name}-share-${architecture}-${principal}`,
          {
            layerName: this.layers[architecture].layerArn,
            versionNumber: this.layers[architecture].version.apply(Number),
            action: "lambda:GetLayerVersion",
            principal: organization ? "*" : principal,
            organizationId: organization ? principal : undefined,
            statementId: `share-${principal}`,
            skipDestroy: settings.keepOldLayerVersions,
          },
          parent,
        );
      })
    );

    this.policy = new aws.iam.Policy(`${name}-policy`, {
      name: names.policy,
      description:
        `Lets a Lambda function's kinesis-telemetry extension write to the ${names.stream} stream.`,
      policy: this.stream.arn.apply((arn) =>
        JSON.stringify(putRecordsPolicy(arn, settings.kmsKeyArn))
      ),
      tags: settings.tags,
    }, parent);
    this.policyArn = this.policy.arn;

    const variables: Record<string, pulumi.Input<string>> = {
      [`${EXTENSION_ENV_PREFIX}STREAM`]: this.stream.arn,
      [`${EXTENSION_ENV_PREFIX}FORMAT`]: settings.recordFormat,
    };
    if (settings.maxRecordSizeKiB > LIMITS.maxRecordSizeKiB.min) {
      variables[`${EXTENSION_ENV_PREFIX}MAX_RECORD_BYTES`] = String(
        settings.maxRecordSizeKiB * 1024,
      );
    }
    this.environment = pulumi.output(variables);

    const values: Record<SsmParameterKey, pulumi.Input<string>> = {
      streamName: this.stream.name,
      streamArn: this.stream.arn,
      policyArn: this.policy.arn,
      layerArnX86_64: this.layers.x86_64.arn,
      layerArnArm64: this.layers.arm64.arn,
      recordFormat: settings.recordFormat,
    };
    const parameterOf = (key: SsmParameterKey) =>
      new aws.ssm.Parameter(`${name}-param-${SSM_PARAMETER_NAMES[key]}`, {
        name: `${settings.ssmPrefix}${SSM_PARAMETER_NAMES[key]}`,
        type: "String",
        // insecureValue: these are plain ARNs and names other teams read;
        // `value` would be stored and shown as a secret.
        insecureValue: values[key],
        description: `kinesis-telemetry ${
          SSM_PARAMETER_NAMES[key]
        } of ${settings.namePrefix}`,
        tags: settings.tags,
      }, parent);
    this.parameters = {
      streamName: parameterOf("streamName"),
      streamArn: parameterOf("streamArn"),
      policyArn: parameterOf("policyArn"),
      layerArnX86_64: parameterOf("layerArnX86_64"),
      layerArnArm64: parameterOf("layerArnArm64"),
      recordFormat: parameterOf("recordFormat"),
    };

    this.registerOutputs({
      streamName: this.streamName,
      streamArn: this.streamArn,
      policyArn: this.policyArn,
      layerArns: this.layerArns,
      layerUnversionedArns: this.layerUnversionedArns,
      layerVersions: this.layerVersions,
      environment: this.environment,
    });
  }
}

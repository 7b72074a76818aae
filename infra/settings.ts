/**
 * The stack's settings: every key the program reads from stack config, its
 * type, default and meaning (the same block is declared in `Pulumi.yaml`),
 * and the parser that turns config strings into checked, typed values.
 *
 * @module
 */
import type { ResolvedTelemetryArgs } from "./component.ts";
import { type Architecture, parseArchitecture } from "./runtimes.ts";
import {
  checkChoice,
  checkIntegerRange,
  checkKmsKeyArn,
  checkLogRetentionDays,
  checkNamePrefix,
  checkRegion,
  checkSecurityGroupIds,
  checkShardCount,
  checkShareWith,
  checkSsmPrefix,
  checkSubnetIds,
  LIMITS,
  SettingError,
} from "./validation.ts";
import { defaultNamePrefix, defaultSsmPrefix } from "./names.ts";

/** Record formats the extension writes (KINESIS_TELEMETRY_FORMAT). */
export type RecordFormat = "kpl" | "json" | "ndjson";

/** Record formats, in the order the docs list them. */
export const RECORD_FORMATS: readonly RecordFormat[] = [
  "kpl",
  "json",
  "ndjson",
];

/** Declaration of one stack setting, as `Pulumi.yaml`'s `config:` block holds it. */
export interface SettingDeclaration {
  /** Pulumi config type. */
  type: "string" | "integer" | "boolean";
  /** What the setting does, shown by `pulumi config`. */
  description: string;
  /** Value used when the stack does not set one. */
  default: string | number | boolean;
}

/**
 * Every setting the program reads, keyed by its name inside the project's
 * config namespace. `Pulumi.yaml` declares the same entries (a test keeps
 * the two equal).
 */
export const SETTING_DECLARATIONS = {
  layerDir: {
    type: "string",
    description:
      "Folder, relative to the project root, holding the build's kinesis-telemetry-x86_64.zip and kinesis-telemetry-arm64.zip.",
    default: "dist",
  },
  namePrefix: {
    type: "string",
    description:
      "Stem of every resource's physical name; empty means <project>-<stack>-<hash of both>. IAM names add the region.",
    default: "",
  },
  ssmPrefix: {
    type: "string",
    description:
      "SSM parameter path the stack publishes its ARNs under; empty means /<project>/<stack>/.",
    default: "",
  },
  shardCount: {
    type: "integer",
    description:
      "Stream capacity: 0 for on-demand, or the number of shards for provisioned mode.",
    default: 0,
  },
  retentionHours: {
    type: "integer",
    description: "How long the stream keeps records, 24 to 8760 hours.",
    default: 24,
  },
  kmsKeyArn: {
    type: "string",
    description:
      "ARN of a customer managed KMS key that encrypts the stream; empty means the AWS managed key alias/aws/kinesis.",
    default: "",
  },
  maxRecordSizeKiB: {
    type: "integer",
    description:
      "Largest Kinesis record, 1024 to 10240 KiB; above 1024 opts the stream into large records and raises the extension's record limit to match.",
    default: 1024,
  },
  recordFormat: {
    type: "string",
    description:
      "Record format the extension writes: kpl (KPL aggregation), json (one event per record) or ndjson.",
    default: "kpl",
  },
  keepOldLayerVersions: {
    type: "boolean",
    description:
      "Keep a layer version when a new zip replaces it (skipDestroy), so functions pinned to its ARN still deploy; false deletes replaced versions.",
    default: true,
  },
  protectStream: {
    type: "boolean",
    description:
      "Protect the stream (Pulumi protect): a rename, a replacing change or pulumi destroy stops instead of deleting it with its records.",
    default: true,
  },
  shareWith: {
    type: "string",
    description:
      "Account ids and/or an organization id (o-...), comma-separated, that may add the layer versions to their functions; empty shares with no one.",
    default: "",
  },
  demoEnabled: {
    type: "boolean",
    description:
      "Deploy the Node.js 22 demo function that runs with the layer.",
    default: true,
  },
  demoArchitecture: {
    type: "string",
    description: "Architecture of the demo function: arm64 or x86_64.",
    default: "arm64",
  },
  demoLogRetentionDays: {
    type: "integer",
    description:
      "Retention of the demo function's log group, in days (a value CloudWatch Logs accepts).",
    default: 14,
  },
  managedInstancesDemo: {
    type: "boolean",
    description:
      "Also deploy the demo function on Lambda Managed Instances: a capacity provider in the subnets below and a Node.js 22 function with the layer on it.",
    default: false,
  },
  managedInstancesSubnetIds: {
    type: "string",
    description:
      "VPC subnet ids (subnet-..., comma-separated) the Managed Instances demo's capacity provider runs instances in; required when managedInstancesDemo is true.",
    default: "",
  },
  managedInstancesSecurityGroupIds: {
    type: "string",
    description:
      "Security group ids (sg-..., comma-separated) of those instances, allowing outbound HTTPS to Kinesis; required when managedInstancesDemo is true.",
    default: "",
  },
} as const satisfies Record<string, SettingDeclaration>;

/** Name of one setting. */
export type SettingName = keyof typeof SETTING_DECLARATIONS;

/**
 * The stack's settings, checked and with defaults applied: the component's
 * resolved arguments it configures (`layerDir` as configured, relative to the
 * project root unless absolute), plus the demo function's.
 */
export type StackSettings =
  & Pick<
    ResolvedTelemetryArgs,
    | "region"
    | "layerDir"
    | "namePrefix"
    | "ssmPrefix"
    | "shardCount"
    | "retentionHours"
    | "kmsKeyArn"
    | "maxRecordSizeKiB"
    | "recordFormat"
    | "keepOldLayerVersions"
    | "protectStream"
    | "shareWith"
  >
  & {
    /** Deploy the demo function. */
    demoEnabled: boolean;
    /** Demo function architecture. */
    demoArchitecture: Architecture;
    /** Demo log group retention in days. */
    demoLogRetentionDays: number;
    /** Deploy the demo on Lambda Managed Instances too. */
    managedInstancesDemo: boolean;
    /** Subnets of its capacity provider (empty unless enabled). */
    managedInstancesSubnetIds: string[];
    /** Security groups of its capacity provider (empty unless enabled). */
    managedInstancesSecurityGroupIds: string[];
  };

/** Reads one raw config value by its key (without namespace); undefined when unset. */
export type ConfigReader = (key: SettingName) => string | undefined;

/** Where the settings come from. */
export interface SettingsSource {
  /** Raw config values. */
  read: ConfigReader;
  /** Project name: the config namespace, and part of derived names. */
  project: string;
  /** Stack name: part of derived names and of the default SSM prefix. */
  stack: string;
  /** The AWS provider's region (`aws:region`, else `AWS_REGION`); undefined when unset. */
  region: string | undefined;
}

/**
 * Parses and checks the stack's settings. Throws
 * {@linkcode SettingError} naming the full config key (`<project>:<key>`)
 * and the accepted values.
 */
export function readStackSettings(source: SettingsSource): StackSettings {
  const key = (name: SettingName) => `${source.project}:${name}`;
  const raw = (name: SettingName): string | undefined => {
    const value = source.read(name)?.trim();
    return value === "" ? undefined : value;
  };
  const text = (name: SettingName): string => {
    const fallback = SETTING_DECLARATIONS[name].default;
    return raw(name) ?? String(fallback);
  };
  const integer = (name: SettingName): number => {
    const value = raw(name);
    if (value === undefined) return Number(SETTING_DECLARATIONS[name].default);
    if (!/^-?\d+$/.test(value)) {
      throw new SettingError(
        key(name),
        `must be a whole number, got "${value}"`,
      );
    }
    return Number(value);
  };
  const boolean = (name: SettingName): boolean => {
    const value = raw(name);
    if (value === undefined) return Boolean(SETTING_DECLARATIONS[name].default);
    if (value !== "true" && value !== "false") {
      throw new SettingError(
        key(name),
        `must be true or false, got "${value}"`,
      );
    }
    return value === "true";
  };

  const region = source.region?.trim();
  if (!region) {
    throw new SettingError(
      "aws:region",
      "no AWS region: IAM names carry it and every resource lives in it; " +
        "run `pulumi config set aws:region <region>` (or set AWS_REGION)",
    );
  }
  checkRegion("aws:region", region);

  const namePrefix = raw("namePrefix") ??
    defaultNamePrefix(source.project, source.stack);
  checkNamePrefix(key("namePrefix"), namePrefix);

  const ssmPrefix = raw("ssmPrefix") ??
    defaultSsmPrefix(source.project, source.stack);
  checkSsmPrefix(
    raw("ssmPrefix") === undefined
      ? `${key("ssmPrefix")} (derived from project and stack)`
      : key("ssmPrefix"),
    ssmPrefix,
  );

  const shardCount = integer("shardCount");
  checkShardCount(key("shardCount"), shardCount);

  const retentionHours = integer("retentionHours");
  checkIntegerRange(
    key("retentionHours"),
    retentionHours,
    LIMITS.retentionHours.min,
    LIMITS.retentionHours.max,
    "hours",
  );

  const kmsKeyArn = raw("kmsKeyArn");
  if (kmsKeyArn !== undefined) checkKmsKeyArn(key("kmsKeyArn"), kmsKeyArn);

  const maxRecordSizeKiB = integer("maxRecordSizeKiB");
  checkIntegerRange(
    key("maxRecordSizeKiB"),
    maxRecordSizeKiB,
    LIMITS.maxRecordSizeKiB.min,
    LIMITS.maxRecordSizeKiB.max,
    "KiB",
  );

  const recordFormat = checkChoice(
    key("recordFormat"),
    text("recordFormat"),
    RECORD_FORMATS,
  );

  // Lists are one string (`pulumi config set shareWith "a,b"`), split on
  // commas and blanks, without duplicates.
  const list = (name: SettingName): string[] => [
    ...new Set((raw(name) ?? "").split(/[\s,]+/).filter(Boolean)),
  ];
  const shareWith = list("shareWith");
  checkShareWith(key("shareWith"), shareWith);

  const managedInstancesDemo = boolean("managedInstancesDemo");
  const managedInstancesSubnetIds = list("managedInstancesSubnetIds");
  const managedInstancesSecurityGroupIds = list(
    "managedInstancesSecurityGroupIds",
  );
  if (managedInstancesDemo) {
    checkSubnetIds(key("managedInstancesSubnetIds"), managedInstancesSubnetIds);
    checkSecurityGroupIds(
      key("managedInstancesSecurityGroupIds"),
      managedInstancesSecurityGroupIds,
    );
  }

  let demoArchitecture: Architecture;
  try {
    demoArchitecture = parseArchitecture(text("demoArchitecture"));
  } catch (error) {
    throw new SettingError(key("demoArchitecture"), (error as Error).message);
  }

  const demoLogRetentionDays = integer("demoLogRetentionDays");
  checkLogRetentionDays(key("demoLogRetentionDays"), demoLogRetentionDays);

  return {
    region,
    layerDir: text("layerDir"),
    namePrefix,
    ssmPrefix,
    shardCount,
    retentionHours,
    kmsKeyArn,
    maxRecordSizeKiB,
    recordFormat,
    keepOldLayerVersions: boolean("keepOldLayerVersions"),
    protectStream: boolean("protectStream"),
    shareWith,
    demoEnabled: boolean("demoEnabled"),
    demoArchitecture,
    demoLogRetentionDays,
    managedInstancesDemo,
    managedInstancesSubnetIds,
    managedInstancesSecurityGroupIds,
  };
}

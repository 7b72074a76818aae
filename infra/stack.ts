/**
 * The program of one stack: the `KinesisTelemetry` component and, unless
 * disabled, the demo function, built from checked settings; returns the
 * stack outputs (everything a user needs to attach the layer).
 *
 * @module
 */
import type * as pulumi from "@pulumi/pulumi";
import { isAbsolute, join } from "node:path";
import {
  AWS_MANAGED_KINESIS_KEY,
  KinesisTelemetry,
  SSM_PARAMETER_NAMES,
} from "./component.ts";
import { DemoFunction } from "./demo_function.ts";
import { ManagedInstancesDemo } from "./managed_instances_demo.ts";
import { physicalNames } from "./names.ts";
import type { Architecture } from "./runtimes.ts";
import type { StackSettings } from "./settings.ts";

/** Where the program runs from. */
export interface StackContext {
  /** Folder holding `Pulumi.yaml`; relative `layerDir`s start here. */
  projectRoot: string;
  /** Folder with the demo function's handler. */
  demoCodeDir: string;
  /** Pulumi project name, tagged on resources. */
  project: string;
  /** Pulumi stack name, tagged on resources. */
  stack: string;
}

/** The demo function's outputs. */
export interface DemoOutputs {
  /** Function name. */
  functionName: pulumi.Output<string>;
  /** Function ARN. */
  functionArn: pulumi.Output<string>;
  /** Architecture it runs on. */
  architecture: string;
  /** Its log group. */
  logGroupName: pulumi.Output<string>;
}

/** The Managed Instances demo's outputs. */
export interface ManagedInstancesOutputs {
  /** Function name. */
  functionName: pulumi.Output<string>;
  /** Function ARN. */
  functionArn: pulumi.Output<string>;
  /** ARN of the version published on the capacity provider (what to invoke). */
  publishedVersionArn: pulumi.Output<string>;
  /** The capacity provider. */
  capacityProviderArn: pulumi.Output<string>;
  /** Its log group. */
  logGroupName: pulumi.Output<string>;
}

/** The stack's outputs. */
export interface StackOutputs {
  /** Stream name. */
  streamName: pulumi.Output<string>;
  /** Stream ARN (the value of KINESIS_TELEMETRY_STREAM). */
  streamArn: pulumi.Output<string>;
  /** `ON_DEMAND` or `PROVISIONED`. */
  streamMode: string;
  /** Whether the stream is protected from deletion and replacement. */
  streamProtected: boolean;
  /** Key the stream is encrypted with (ARN, or the AWS managed alias). */
  streamKmsKey: string;
  /** Managed policy to attach to a function's role. */
  policyArn: pulumi.Output<string>;
  /** Layer version ARN per architecture. */
  layerArns: Record<Architecture, pulumi.Output<string>>;
  /** Layer ARN without version per architecture. */
  layerUnversionedArns: Record<Architecture, pulumi.Output<string>>;
  /** Layer version number per architecture. */
  layerVersions: Record<Architecture, pulumi.Output<number>>;
  /** Runtimes the layers declare. */
  compatibleRuntimes: string[];
  /** Variables to set on every attached function. */
  extensionEnvironment: pulumi.Output<Record<string, string>>;
  /** SSM path prefix. */
  ssmPrefix: string;
  /** Full SSM parameter names, by what they hold. */
  ssmParameters: Record<keyof typeof SSM_PARAMETER_NAMES, string>;
  /** The demo function, when deployed. */
  demo: DemoOutputs | undefined;
  /** The demo on Lambda Managed Instances, when deployed. */
  managedInstancesDemo: ManagedInstancesOutputs | undefined;
}

/** Declares the stack's resources and returns its outputs. */
export function defineStack(
  settings: StackSettings,
  context: StackContext,
): StackOutputs {
  const tags = {
    "kinesis-telemetry:project": context.project,
    "kinesis-telemetry:stack": context.stack,
  };
  const layerDir = isAbsolute(settings.layerDir)
    ? settings.layerDir
    : join(context.projectRoot, settings.layerDir);
  const telemetry = new KinesisTelemetry("kinesis-telemetry", {
    namePrefix: settings.namePrefix,
    region: settings.region,
    layerDir,
    ssmPrefix: settings.ssmPrefix,
    shardCount: settings.shardCount,
    retentionHours: settings.retentionHours,
    kmsKeyArn: settings.kmsKeyArn,
    maxRecordSizeKiB: settings.maxRecordSizeKiB,
    recordFormat: settings.recordFormat,
    keepOldLayerVersions: settings.keepOldLayerVersions,
    protectStream: settings.protectStream,
    shareWith: settings.shareWith,
    tags,
  });

  const names = physicalNames(settings.namePrefix, settings.region);
  // What both demos share: the handler, the layer source, logs and tags.
  const demoArgs = {
    architecture: settings.demoArchitecture,
    codeDir: context.demoCodeDir,
    telemetry,
    logRetentionDays: settings.demoLogRetentionDays,
    tags,
  };
  const functionOutputs = (deployed: DemoFunction) => ({
    functionName: deployed.function.name,
    functionArn: deployed.function.arn,
    logGroupName: deployed.logGroup.name,
  });

  let demo: DemoOutputs | undefined;
  if (settings.demoEnabled) {
    const demoFunction = new DemoFunction("demo", {
      ...demoArgs,
      functionName: names.demoFunction,
      roleName: names.demoRole,
    });
    demo = {
      ...functionOutputs(demoFunction),
      architecture: settings.demoArchitecture,
    };
  }

  let managedInstances: ManagedInstancesOutputs | undefined;
  if (settings.managedInstancesDemo) {
    const lmi = new ManagedInstancesDemo("lmi", {
      ...demoArgs,
      functionName: names.managedInstancesFunction,
      roleName: names.managedInstancesRole,
      operatorRoleName: names.managedInstancesOperatorRole,
      capacityProviderName: names.managedInstancesFunction,
      subnetIds: settings.managedInstancesSubnetIds,
      securityGroupIds: settings.managedInstancesSecurityGroupIds,
    });
    managedInstances = {
      ...functionOutputs(lmi.demo),
      publishedVersionArn: lmi.demo.function.qualifiedArn,
      capacityProviderArn: lmi.capacityProvider.arn,
    };
  }

  const ssmParameters = Object.fromEntries(
    Object.entries(SSM_PARAMETER_NAMES).map((
      [key, name],
    ) => [key, `${settings.ssmPrefix}${name}`]),
  ) as Record<keyof typeof SSM_PARAMETER_NAMES, string>;

  return {
    streamName: telemetry.streamName,
    streamArn: telemetry.streamArn,
    streamMode: settings.shardCount > 0 ? "PROVISIONED" : "ON_DEMAND",
    streamProtected: telemetry.streamProtected,
    streamKmsKey: settings.kmsKeyArn ?? AWS_MANAGED_KINESIS_KEY,
    policyArn: telemetry.policyArn,
    layerArns: telemetry.layerArns,
    layerUnversionedArns: telemetry.layerUnversionedArns,
    layerVersions: telemetry.layerVersions,
    compatibleRuntimes: telemetry.settings.compatibleRuntimes,
    extensionEnvironment: telemetry.environment,
    ssmPrefix: settings.ssmPrefix,
    ssmParameters,
    demo,
    managedInstancesDemo: managedInstances,
  };
}

/**
 * Attaching the extension to a function: given the function's runtime and
 * architecture, picks the layer of that architecture and returns it with
 * the environment variables and the policy to attach. Refuses what would
 * crash at init: an Amazon Linux 2 (or older) runtime, or a layer built for
 * the other architecture.
 *
 * Depends on `@pulumi/pulumi` only, so another program can copy this file
 * with `runtimes.ts`.
 *
 * @module
 */
import * as pulumi from "@pulumi/pulumi";
import {
  type Architecture,
  ARCHITECTURES,
  checkRuntime,
  IncompatibleTargetError,
  parseArchitecture,
} from "./runtimes.ts";

/** Prefix of every variable the extension reads. */
export const EXTENSION_ENV_PREFIX = "KINESIS_TELEMETRY_";

/** What a stack publishes for functions to attach (the component is one). */
export interface TelemetrySource {
  /** Layer version ARN per architecture (a source may publish only some). */
  layerArns: Partial<Record<Architecture, pulumi.Input<string>>>;
  /** ARN of the managed policy granting PutRecords on the stream. */
  policyArn: pulumi.Input<string>;
  /** Extension variables every attached function gets (the stream, the record format, ...). */
  environment: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/** The function the layer is attached to. */
export interface AttachTarget {
  /** Lambda runtime identifier of the function, e.g. `python3.13`. */
  runtime: string;
  /** The function's architecture (Lambda's default is `x86_64`). */
  architecture: string;
  /** Extension variables for this function only (e.g. `KINESIS_TELEMETRY_LOG_LEVEL`); they win over the source's. */
  environment?: Record<string, pulumi.Input<string>>;
}

/** What to put on the function. */
export interface TelemetryAttachment {
  /** Architecture the layer was chosen for. */
  architecture: Architecture;
  /** Layer version ARN to add to the function's `layers`. */
  layerArn: pulumi.Output<string>;
  /** Managed policy ARN to attach to the function's role. */
  policyArn: pulumi.Output<string>;
  /** Variables to merge into the function's environment. */
  environment: pulumi.Output<Record<string, string>>;
}

/**
 * Returns the layer, policy and environment for `target`. Throws
 * {@linkcode IncompatibleTargetError} at once for a runtime that is not on
 * Amazon Linux 2023, an unknown architecture, a source without a layer for
 * the architecture, or variables that are not the extension's; and, once
 * the ARN is known, for a layer whose name says it is built for the other
 * architecture.
 */
export function attachTelemetry(
  source: TelemetrySource,
  target: AttachTarget,
): TelemetryAttachment {
  checkRuntime(target.runtime);
  const architecture = parseArchitecture(target.architecture);
  const layerArn = source.layerArns[architecture];
  if (layerArn === undefined) {
    const published = ARCHITECTURES.filter((arch) =>
      source.layerArns[arch] !== undefined
    );
    throw new IncompatibleTargetError(
      `No kinesis-telemetry layer for ${architecture}: the source publishes ` +
        `${
          published.length ? published.join(", ") : "no layer"
        } only. A layer of ` +
        `another architecture would fail with "exec format error".`,
    );
  }
  const ownVariables = target.environment ?? {};
  for (const name of Object.keys(ownVariables)) {
    if (!name.startsWith(EXTENSION_ENV_PREFIX)) {
      throw new IncompatibleTargetError(
        `Variable ${name} is not one of the extension's (they start with ${EXTENSION_ENV_PREFIX}); ` +
          `set the function's own variables on the function.`,
      );
    }
  }
  return {
    architecture,
    layerArn: pulumi.output(layerArn).apply((arn) =>
      checkLayerArchitecture(arn, architecture)
    ),
    policyArn: pulumi.output(source.policyArn),
    environment: pulumi.all([
      pulumi.output(source.environment),
      pulumi.output(ownVariables),
    ]).apply(([shared, own]) => ({ ...shared, ...own })),
  };
}

/**
 * Returns `layerArn` unchanged unless its layer name ends with the other
 * architecture's suffix (as this project's layers are named), which means
 * the ARNs were mixed up, e.g. the wrong SSM parameter was read.
 */
export function checkLayerArchitecture(
  layerArn: string,
  architecture: Architecture,
): string {
  const layerName = /:layer:([^:]+)/.exec(layerArn)?.[1];
  const other = ARCHITECTURES.find((arch) =>
    arch !== architecture && layerName?.endsWith(`-${arch}`)
  );
  if (other !== undefined) {
    throw new IncompatibleTargetError(
      `Layer ${layerArn} is built for ${other}, but the function runs on ${architecture}: ` +
        `it would fail with "exec format error". Use the ${architecture} layer.`,
    );
  }
  return layerArn;
}

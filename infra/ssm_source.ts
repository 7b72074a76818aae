/**
 * Reads what a kinesis-telemetry stack published under its SSM prefix, as a
 * {@linkcode TelemetrySource} for `attachTelemetry`: how another team's
 * Pulumi program finds the layer without a stack reference.
 *
 * @module
 */
import * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";
import { EXTENSION_ENV_PREFIX, type TelemetrySource } from "./attach.ts";
import { SSM_PARAMETER_NAMES } from "./component.ts";

/**
 * Looks the stack's parameters up under `prefix` (e.g.
 * `/kinesis-telemetry/prod/`), in the region of `opts.provider` or the
 * program's default.
 */
export function telemetrySourceFromSsm(
  prefix: string,
  opts?: pulumi.InvokeOutputOptions,
): TelemetrySource {
  // insecureValue: these are plain String parameters; `value` would mark
  // every ARN secret and hide it in previews and outputs.
  const read = (name: string) =>
    aws.ssm.getParameterOutput({ name: `${prefix}${name}` }, opts)
      .insecureValue;
  return {
    layerArns: {
      x86_64: read(SSM_PARAMETER_NAMES.layerArnX86_64),
      arm64: read(SSM_PARAMETER_NAMES.layerArnArm64),
    },
    policyArn: read(SSM_PARAMETER_NAMES.policyArn),
    environment: {
      [`${EXTENSION_ENV_PREFIX}STREAM`]: read(SSM_PARAMETER_NAMES.streamArn),
      [`${EXTENSION_ENV_PREFIX}FORMAT`]: read(SSM_PARAMETER_NAMES.recordFormat),
    },
  };
}

/**
 * Example of another team's Pulumi program: a Python 3.13 function on arm64
 * that ships its telemetry with the layer a kinesis-telemetry stack
 * published, found through that stack's SSM parameters. The README quotes
 * it; tests/infra/examples runs it against mocks.
 *
 * @module
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { attachTelemetry } from "../attach.ts";
import { telemetrySourceFromSsm } from "../ssm_source.ts";

/** What the example declares. */
export interface PythonFunctionExample {
  /** The function. */
  function: aws.lambda.Function;
  /** Its role. */
  role: aws.iam.Role;
}

/**
 * Declares an `orders` function (Python 3.13, arm64; code in `codeDir`)
 * with the layer, policy and variables of the stack under `ssmPrefix`.
 */
export function pythonFunctionExample(
  codeDir: string,
  ssmPrefix = "/kinesis-telemetry/prod/",
): PythonFunctionExample {
  const telemetry = attachTelemetry(telemetrySourceFromSsm(ssmPrefix), {
    runtime: "python3.13",
    architecture: "arm64",
    environment: { KINESIS_TELEMETRY_LOG_LEVEL: "warn" },
  });

  const role = new aws.iam.Role("orders", {
    assumeRolePolicy: aws.iam.assumeRolePolicyForPrincipal({
      Service: "lambda.amazonaws.com",
    }),
  });
  new aws.iam.RolePolicyAttachment("orders-logs", {
    role: role.name,
    policyArn: aws.iam.ManagedPolicy.AWSLambdaBasicExecutionRole,
  });
  new aws.iam.RolePolicyAttachment("orders-telemetry", {
    role: role.name,
    policyArn: telemetry.policyArn,
  });

  const fn = new aws.lambda.Function("orders", {
    runtime: "python3.13",
    architectures: [telemetry.architecture],
    handler: "app.handler",
    code: new pulumi.asset.FileArchive(codeDir),
    role: role.arn,
    layers: [telemetry.layerArn],
    environment: {
      variables: telemetry.environment.apply((extension) => ({
        ...extension,
        ORDERS_TABLE: "orders",
      })),
    },
  });
  return { function: fn, role };
}

/**
 * `DemoFunction`: the Node.js 22 function from `infra/demo-function/` with
 * the extension attached the way any team would attach it — the layer of
 * its architecture, basic execution plus the extension's policy on its
 * role, JSON logs into a log group with a retention.
 *
 * @module
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { attachTelemetry, type TelemetrySource } from "./attach.ts";
import { lambdaServiceRole } from "./lambda_role.ts";
import type { Architecture } from "./runtimes.ts";
import { checkLogRetentionDays } from "./validation.ts";

/** Pulumi type token of the component. */
export const DEMO_FUNCTION_TYPE = "kinesis-telemetry:index:DemoFunction";

/** Runtime of the demo function. */
export const DEMO_RUNTIME = "nodejs22.x";

/** Handler file the demo folder must hold (`index.mjs` exporting `handler`). */
export const DEMO_HANDLER_FILE = "index.mjs";

/** AWS managed policy (path and name) that lets a function write its own logs. */
export const BASIC_EXECUTION_POLICY =
  "service-role/AWSLambdaBasicExecutionRole";

/** Least memory Lambda gives a function on Managed Instances. */
export const MANAGED_INSTANCES_MIN_MEMORY_MB = 2048;

/** The demo function's handler folder is missing. */
export class DemoCodeMissingError extends Error {
  /** Creates the error; the message says how to proceed. */
  constructor(message: string) {
    super(message);
    this.name = "DemoCodeMissingError";
  }
}

/** Arguments of {@linkcode DemoFunction}. */
export interface DemoFunctionArgs {
  /** Function name; also the log group's last segment. */
  functionName: string;
  /** Execution role's name (default: the function's name). */
  roleName?: string;
  /** Architecture the function runs on. */
  architecture: Architecture;
  /** Folder with the handler, zipped as the function's code. */
  codeDir: string;
  /** Where the layer, policy and variables come from. */
  telemetry: TelemetrySource;
  /** Log group retention in days. */
  logRetentionDays: number;
  /**
   * Run on Lambda Managed Instances: the ARN of the capacity provider whose
   * EC2 instances host the function. Such functions run published versions
   * only (so each deploy publishes one) and need at least 2048 MB.
   */
  capacityProviderArn?: pulumi.Input<string>;
  /** Memory in MB (default 256; 2048 on Managed Instances). */
  memorySizeMb?: number;
  /** Timeout in seconds (default 15). */
  timeoutSeconds?: number;
  /** Tags for every taggable resource. */
  tags?: Record<string, string>;
}

/** The demo function with its role, policy attachments and log group. */
export class DemoFunction extends pulumi.ComponentResource {
  /** The function's execution role. */
  readonly role: aws.iam.Role;
  /** Attachment of AWSLambdaBasicExecutionRole. */
  readonly basicExecution: aws.iam.RolePolicyAttachment;
  /** Attachment of the extension's PutRecords policy. */
  readonly extensionPolicy: aws.iam.RolePolicyAttachment;
  /** The function's log group. */
  readonly logGroup: aws.cloudwatch.LogGroup;
  /** The function. */
  readonly function: aws.lambda.Function;

  /** Declares the resources; throws at once when the handler folder is missing. */
  constructor(
    name: string,
    args: DemoFunctionArgs,
    opts?: pulumi.ComponentResourceOptions,
  ) {
    checkLogRetentionDays("logRetentionDays", args.logRetentionDays);
    if (!existsSync(join(args.codeDir, DEMO_HANDLER_FILE))) {
      throw new DemoCodeMissingError(
        `The demo function's handler ${
          join(args.codeDir, DEMO_HANDLER_FILE)
        } is missing; ` +
          `restore infra/demo-function/ or set the stack's demoEnabled to false.`,
      );
    }
    const attachment = attachTelemetry(args.telemetry, {
      runtime: DEMO_RUNTIME,
      architecture: args.architecture,
    });
    super(DEMO_FUNCTION_TYPE, name, {}, opts);
    const parent = { parent: this };
    const tags = args.tags ?? {};

    const execution = lambdaServiceRole(name, {
      roleName: args.roleName ?? args.functionName,
      description: `Execution role of ${args.functionName}`,
      managedPolicy: BASIC_EXECUTION_POLICY,
      attachmentSuffix: "basic-execution",
      tags,
    }, parent);
    this.role = execution.role;
    this.basicExecution = execution.attachment;
    this.extensionPolicy = new aws.iam.RolePolicyAttachment(
      `${name}-extension-policy`,
      { role: this.role.name, policyArn: attachment.policyArn },
      parent,
    );
    this.logGroup = new aws.cloudwatch.LogGroup(`${name}-logs`, {
      name: `/aws/lambda/${args.functionName}`,
      retentionInDays: args.logRetentionDays,
      tags,
    }, parent);

    const managed = args.capacityProviderArn !== undefined;
    this.function = new aws.lambda.Function(`${name}-function`, {
      name: args.functionName,
      description:
        "kinesis-telemetry demo: a Node.js function whose telemetry the extension ships to Kinesis",
      runtime: DEMO_RUNTIME,
      handler: "index.handler",
      code: new pulumi.asset.FileArchive(args.codeDir),
      architectures: [attachment.architecture],
      layers: [attachment.layerArn],
      role: this.role.arn,
      memorySize: args.memorySizeMb ??
        (managed ? MANAGED_INSTANCES_MIN_MEMORY_MB : 256),
      ...(managed
        ? {
          capacityProviderConfig: {
            lambdaManagedInstancesCapacityProviderConfig: {
              capacityProviderArn: args.capacityProviderArn!,
            },
          },
          publish: true,
        }
        : {}),
      timeout: args.timeoutSeconds ?? 15,
      loggingConfig: { logFormat: "JSON", logGroup: this.logGroup.name },
      environment: { variables: attachment.environment },
      tags,
    }, {
      parent: this,
      // Without the attachments in place the first invocations cannot write
      // logs or records; without the group Lambda would create its own
      // group, with no retention, first.
      dependsOn: [this.basicExecution, this.extensionPolicy, this.logGroup],
    });

    this.registerOutputs({
      functionName: this.function.name,
      functionArn: this.function.arn,
      logGroupName: this.logGroup.name,
    });
  }
}

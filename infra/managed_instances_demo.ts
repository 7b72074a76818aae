/**
 * `ManagedInstancesDemo`: the demo function once more, on Lambda Managed
 * Instances (LMI) — a capacity provider that runs EC2 instances in the
 * user's VPC subnets, Lambda's operator role for it, and the Node.js 22
 * function with the layer on it. There the extension registers for SHUTDOWN
 * only and ships in the background (README: "Lambda Managed Instances").
 *
 * @module
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { DemoFunction, type DemoFunctionArgs } from "./demo_function.ts";
import { lambdaServiceRole } from "./lambda_role.ts";
import { checkSecurityGroupIds, checkSubnetIds } from "./validation.ts";

/** Pulumi type token of the component. */
export const MANAGED_INSTANCES_DEMO_TYPE =
  "kinesis-telemetry:index:ManagedInstancesDemo";

/** AWS managed policy Lambda's operator role needs to run the instances. */
export const OPERATOR_POLICY = "AWSLambdaManagedEC2ResourceOperator";

/** Arguments of {@linkcode ManagedInstancesDemo}. */
export interface ManagedInstancesDemoArgs
  extends Omit<DemoFunctionArgs, "capacityProviderArn"> {
  /** Name of the capacity provider. */
  capacityProviderName: string;
  /** Name of the role Lambda assumes to manage the instances. */
  operatorRoleName: string;
  /** VPC subnets the instances run in (at least one). */
  subnetIds: string[];
  /** Security groups of the instances (at least one; outbound HTTPS to Kinesis). */
  securityGroupIds: string[];
}

/** The capacity provider, its operator role and the function on it. */
export class ManagedInstancesDemo extends pulumi.ComponentResource {
  /** Role Lambda assumes to launch and manage the instances. */
  readonly operatorRole: aws.iam.Role;
  /** Attachment of AWSLambdaManagedEC2ResourceOperator to it. */
  readonly operatorPolicy: aws.iam.RolePolicyAttachment;
  /** The capacity provider. */
  readonly capacityProvider: aws.lambda.CapacityProvider;
  /** The function with the layer, on the capacity provider. */
  readonly demo: DemoFunction;

  /** Declares the resources; throws at once on missing subnets or security groups. */
  constructor(
    name: string,
    args: ManagedInstancesDemoArgs,
    opts?: pulumi.ComponentResourceOptions,
  ) {
    checkSubnetIds("subnetIds", args.subnetIds);
    checkSecurityGroupIds("securityGroupIds", args.securityGroupIds);
    super(MANAGED_INSTANCES_DEMO_TYPE, name, {}, opts);
    const parent = { parent: this };
    const tags = args.tags ?? {};

    const operator = lambdaServiceRole(`${name}-operator`, {
      roleName: args.operatorRoleName,
      description:
        `Lets Lambda run the EC2 instances of capacity provider ${args.capacityProviderName}`,
      managedPolicy: OPERATOR_POLICY,
      attachmentSuffix: "policy",
      tags,
    }, parent);
    this.operatorRole = operator.role;
    this.operatorPolicy = operator.attachment;
    this.capacityProvider = new aws.lambda.CapacityProvider(
      `${name}-capacity-provider`,
      {
        name: args.capacityProviderName,
        vpcConfig: {
          subnetIds: args.subnetIds,
          securityGroupIds: args.securityGroupIds,
        },
        permissionsConfig: {
          capacityProviderOperatorRoleArn: this.operatorRole.arn,
        },
        // Instances of the function's architecture: its layer is built for it.
        instanceRequirements: [{
          architectures: [args.architecture],
          allowedInstanceTypes: [],
          excludedInstanceTypes: [],
        }],
        tags,
      },
      // Without the policy in place Lambda cannot launch the first instance.
      { parent: this, dependsOn: [this.operatorPolicy] },
    );
    const { capacityProviderName: _, operatorRoleName: __, ...demoArgs } = args;
    this.demo = new DemoFunction(`${name}-function`, {
      ...demoArgs,
      capacityProviderArn: this.capacityProvider.arn,
    }, parent);

    this.registerOutputs({
      capacityProviderArn: this.capacityProvider.arn,
      functionArn: this.demo.function.arn,
    });
  }
}

/**
 * A role the Lambda service assumes, with one AWS managed policy attached:
 * what the demo function's execution role and the Managed Instances
 * operator role both are.
 *
 * @module
 */
import * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";
import { awsManagedPolicyArn } from "./partition.ts";

/** Trust policy that lets the Lambda service assume a role. */
export const LAMBDA_TRUST_POLICY = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{
    Effect: "Allow",
    Principal: { Service: "lambda.amazonaws.com" },
    Action: "sts:AssumeRole",
  }],
});

/** What {@linkcode lambdaServiceRole} declares. */
export interface LambdaServiceRole {
  /** The role. */
  role: aws.iam.Role;
  /** Attachment of the AWS managed policy to it. */
  attachment: aws.iam.RolePolicyAttachment;
}

/**
 * Declares the role `<name>-role` (IAM name `roleName`) that Lambda may
 * assume, and `<name>-<attachmentSuffix>` attaching the AWS managed policy
 * `managedPolicy` (path and name) in the deployment's partition.
 */
export function lambdaServiceRole(
  name: string,
  args: {
    roleName: string;
    description: string;
    managedPolicy: string;
    attachmentSuffix: string;
    tags: Record<string, string>;
  },
  opts: pulumi.CustomResourceOptions & pulumi.InvokeOutputOptions,
): LambdaServiceRole {
  const role = new aws.iam.Role(`${name}-role`, {
    name: args.roleName,
    description: args.description,
    assumeRolePolicy: LAMBDA_TRUST_POLICY,
    tags: args.tags,
  }, opts);
  const attachment = new aws.iam.RolePolicyAttachment(
    `${name}-${args.attachmentSuffix}`,
    {
      role: role.name,
      policyArn: awsManagedPolicyArn(args.managedPolicy, opts),
    },
    opts,
  );
  return { role, attachment };
}

/**
 * ARNs of AWS managed policies in the partition the program deploys to
 * (`aws`, `aws-cn`, `aws-us-gov`), asked from the provider's partition data
 * source rather than written as `arn:aws:`.
 *
 * @module
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/**
 * The ARN of the AWS managed policy `name` (with its path, e.g.
 * `service-role/AWSLambdaBasicExecutionRole`) in the partition of
 * `opts.provider`, or of the default provider.
 */
export function awsManagedPolicyArn(
  name: string,
  opts?: pulumi.InvokeOutputOptions,
): pulumi.Output<string> {
  const { partition } = aws.getPartitionOutput({}, opts);
  return pulumi.interpolate`arn:${partition}:iam::aws:policy/${name}`;
}

/**
 * The least-privilege IAM policy a function needs to run the extension:
 * write records to this one stream, and use the stream's customer managed
 * key when there is one. Nothing else (the function's own role already
 * writes its logs).
 *
 * @module
 */

/** Kinesis actions the extension calls. */
export const KINESIS_ACTIONS: readonly string[] = [
  "kinesis:PutRecord",
  "kinesis:PutRecords",
];

/**
 * KMS action a producer needs on a customer managed key; the AWS managed
 * key `alias/aws/kinesis` needs no grant in the caller's policy.
 */
export const KMS_ACTIONS: readonly string[] = ["kms:GenerateDataKey"];

/** One IAM policy statement. */
export interface PolicyStatement {
  /** Statement id. */
  Sid: string;
  /** Always Allow. */
  Effect: "Allow";
  /** Actions granted. */
  Action: string[];
  /** The single resource they are granted on. */
  Resource: string;
}

/** An IAM policy document. */
export interface PolicyDocument {
  /** IAM policy language version. */
  Version: "2012-10-17";
  /** Statements. */
  Statement: PolicyStatement[];
}

/**
 * Builds the policy document for `streamArn`, plus `kms:GenerateDataKey` on
 * `kmsKeyArn` when the stream uses a customer managed key.
 */
export function putRecordsPolicy(
  streamArn: string,
  kmsKeyArn: string | undefined,
): PolicyDocument {
  const statements: PolicyStatement[] = [{
    Sid: "PutTelemetryRecords",
    Effect: "Allow",
    Action: [...KINESIS_ACTIONS],
    Resource: streamArn,
  }];
  if (kmsKeyArn !== undefined) {
    statements.push({
      Sid: "EncryptWithStreamKey",
      Effect: "Allow",
      Action: [...KMS_ACTIONS],
      Resource: kmsKeyArn,
    });
  }
  return { Version: "2012-10-17", Statement: statements };
}

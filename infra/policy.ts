/**
 * The least-privilege IAM policy a function needs to run the extension:
 * write records to this one stream, and use the stream's customer managed
 * key for this stream's records when there is one. Nothing else (the
 * function's own role already writes its logs).
 *
 * @module
 */

/** Kinesis actions the extension calls: it only ever sends PutRecords. */
export const KINESIS_ACTIONS: readonly string[] = ["kinesis:PutRecords"];

/**
 * KMS condition key Kinesis fills with the stream's ARN when it asks the key
 * for a data key on a producer's behalf.
 */
export const KINESIS_ENCRYPTION_CONTEXT_KEY =
  "kms:EncryptionContext:aws:kinesis:arn";

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
  /** Conditions that narrow the grant further. */
  Condition?: Record<string, Record<string, string>>;
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
 * `kmsKeyArn` when the stream uses a customer managed key — only for data
 * keys whose encryption context names this stream, so the role cannot use
 * the key for anything else it protects.
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
      Condition: {
        StringEquals: { [KINESIS_ENCRYPTION_CONTEXT_KEY]: streamArn },
      },
    });
  }
  return { Version: "2012-10-17", Statement: statements };
}

/**
 * Range and format checks shared by the stack settings and the component's
 * arguments, so a value is refused with the same words wherever it comes
 * from. Each check names the setting it reads.
 *
 * @module
 */

/** A setting or argument is out of range or badly formed. */
export class SettingError extends Error {
  /** The setting (stack config key or argument name) at fault. */
  readonly setting: string;
  /** Creates the error; the message starts with the setting's name. */
  constructor(setting: string, problem: string) {
    super(`${setting}: ${problem}`);
    this.name = "SettingError";
    this.setting = setting;
  }
}

/** Kinesis and Lambda limits the checks apply. */
export const LIMITS = {
  /** Kinesis retention period bounds, in hours. */
  retentionHours: { min: 24, max: 8760 },
  /** Kinesis per-record size bounds, in KiB (above 1024 is opt-in). */
  maxRecordSizeKiB: { min: 1024, max: 10240 },
  /** Longest physical name stem that keeps `<stem>-demo` within Lambda's and IAM's 64 characters. */
  namePrefixLength: 58,
} as const;

/** Retention values CloudWatch Logs accepts, in days. */
export const LOG_RETENTION_DAYS: readonly number[] = [
  1,
  3,
  5,
  7,
  14,
  30,
  60,
  90,
  120,
  150,
  180,
  365,
  400,
  545,
  731,
  1096,
  1827,
  2192,
  2557,
  2922,
  3288,
  3653,
];

/** Throws unless `value` is an integer in `[min, max]`. */
export function checkIntegerRange(
  setting: string,
  value: number,
  min: number,
  max: number,
  unit = "",
): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    const suffix = unit ? ` ${unit}` : "";
    throw new SettingError(
      setting,
      `must be a whole number from ${min} to ${max}${suffix}, got ${value}`,
    );
  }
}

/** Throws unless `value` is 0 (on-demand) or a positive whole shard count. */
export function checkShardCount(setting: string, value: number): void {
  if (!Number.isInteger(value) || value < 0) {
    throw new SettingError(
      setting,
      `must be 0 (on-demand capacity) or a whole number of shards ≥ 1 (provisioned), got ${value}`,
    );
  }
}

const KMS_KEY_ARN =
  /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/;

/**
 * Throws unless `value` is a KMS key ARN. Aliases and bare key ids are
 * refused: the IAM policy must name the key itself, and an alias ARN in a
 * policy's Resource does not grant use of the key behind it.
 */
export function checkKmsKeyArn(setting: string, value: string): void {
  if (!KMS_KEY_ARN.test(value)) {
    throw new SettingError(
      setting,
      `must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key-id>), got "${value}"; ` +
        `leave it empty to use the AWS managed key alias/aws/kinesis`,
    );
  }
}

const SSM_PREFIX = /^(?:\/[a-zA-Z0-9_.-]+)+\/$/;

/**
 * Throws unless `value` is an SSM parameter path prefix: starts and ends
 * with `/`, segments of letters, digits, `_`, `.`, `-`, not under `/aws` or
 * `/ssm` (reserved by AWS).
 */
export function checkSsmPrefix(setting: string, value: string): void {
  if (!SSM_PREFIX.test(value)) {
    throw new SettingError(
      setting,
      `must be a path like /kinesis-telemetry/prod/ (starting and ending with "/", ` +
        `segments of letters, digits, "_", ".", "-"), got "${value}"`,
    );
  }
  if (/^\/(aws|ssm)\//i.test(value)) {
    throw new SettingError(
      setting,
      `must not start with /aws/ or /ssm/ (reserved by AWS), got "${value}"`,
    );
  }
}

const NAME_PREFIX = /^[a-zA-Z0-9][a-zA-Z0-9_-]*$/;

/**
 * Throws unless `value` can stem every physical name: letters, digits, `_`
 * and `-` (the characters Lambda layer and function names allow), at most
 * {@linkcode LIMITS.namePrefixLength} characters.
 */
export function checkNamePrefix(setting: string, value: string): void {
  if (!NAME_PREFIX.test(value)) {
    throw new SettingError(
      setting,
      `must start with a letter or digit and hold only letters, digits, "_" and "-", got "${value}"`,
    );
  }
  if (value.length > LIMITS.namePrefixLength) {
    throw new SettingError(
      setting,
      `must be at most ${LIMITS.namePrefixLength} characters (Lambda and IAM names end with "-demo" ` +
        `and are capped at 64), got ${value.length}`,
    );
  }
}

const ACCOUNT_ID = /^\d{12}$/;
const ORGANIZATION_ID = /^o-[a-z0-9]{10,32}$/;

/** Whether `principal` is an AWS Organizations id (`o-...`) rather than an account id. */
export function isOrganizationId(principal: string): boolean {
  return ORGANIZATION_ID.test(principal);
}

/**
 * Throws unless every entry is a 12-digit account id or an organization id;
 * `*` (every AWS account) is refused: a public layer is not a default.
 */
export function checkShareWith(
  setting: string,
  values: readonly string[],
): void {
  for (const value of values) {
    if (!ACCOUNT_ID.test(value) && !ORGANIZATION_ID.test(value)) {
      throw new SettingError(
        setting,
        `each entry must be a 12-digit account id or an organization id (o- and 10 to 32 ` +
          `lower-case letters or digits), got "${value}"`,
      );
    }
  }
}

/** Throws unless `ids` holds at least one id, each matching `pattern`. */
function checkIds(
  setting: string,
  ids: readonly string[],
  pattern: RegExp,
  example: string,
): void {
  if (ids.length === 0) {
    throw new SettingError(setting, `must name at least one, like ${example}`);
  }
  for (const id of ids) {
    if (!pattern.test(id)) {
      throw new SettingError(
        setting,
        `must be ids like ${example}, got "${id}"`,
      );
    }
  }
}

/** Throws unless `ids` lists one or more VPC subnet ids (`subnet-...`). */
export function checkSubnetIds(setting: string, ids: readonly string[]): void {
  checkIds(setting, ids, /^subnet-[0-9a-f]{8,17}$/, "subnet-0123456789abcdef0");
}

/** Throws unless `ids` lists one or more security group ids (`sg-...`). */
export function checkSecurityGroupIds(
  setting: string,
  ids: readonly string[],
): void {
  checkIds(setting, ids, /^sg-[0-9a-f]{8,17}$/, "sg-0123456789abcdef0");
}

const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d+$/;

/** Throws unless `value` looks like an AWS region code (`eu-west-1`, `us-gov-west-1`). */
export function checkRegion(setting: string, value: string): void {
  if (!REGION.test(value)) {
    throw new SettingError(
      setting,
      `must be an AWS region code like eu-west-1, got "${value}"`,
    );
  }
}

/** Throws unless `value` is a retention CloudWatch Logs accepts. */
export function checkLogRetentionDays(setting: string, value: number): void {
  if (!LOG_RETENTION_DAYS.includes(value)) {
    throw new SettingError(
      setting,
      `must be one of CloudWatch Logs' retention periods (${
        LOG_RETENTION_DAYS.join(", ")
      }) days, got ${value}`,
    );
  }
}

/** Throws unless `value` is one of `choices`; returns it narrowed. */
export function checkChoice<T extends string>(
  setting: string,
  value: string,
  choices: readonly T[],
): T {
  const found = choices.find((choice) => choice === value);
  if (found === undefined) {
    throw new SettingError(
      setting,
      `must be one of ${
        choices.map((c) => `"${c}"`).join(", ")
      }, got "${value}"`,
    );
  }
  return found;
}

/**
 * Physical names derived from the project, the stack and the region, so that
 * no two stacks of this program in one account reach for the same name:
 * regional names (stream, layers, functions, log groups, SSM parameters)
 * differ per project and stack, IAM names (account-wide, case-insensitive)
 * also per region.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { checkNamePrefix, LIMITS } from "./validation.ts";

/** Hex digits of the hash that keeps a derived or shortened name unique. */
const HASH_LENGTH = 8;

/** Longest name IAM accepts for a role (policies take 128). */
export const IAM_ROLE_NAME_LIMIT = 64;

/** Longest name IAM accepts for a managed policy. */
export const IAM_POLICY_NAME_LIMIT = 128;

/** Longest Lambda function name. */
export const FUNCTION_NAME_LIMIT = 64;

function shortHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, HASH_LENGTH);
}

/**
 * The stem of every physical name: `<project>-<stack>` in lower case, with
 * the characters Lambda names refuse (Pulumi allows `.` in both) turned into
 * `-`, cut to fit, then `-` and 8 hex digits of the hash of the exact
 * project and stack. The readable part can be shared (`dev.eu` and `dev-eu`,
 * `Dev` and `dev`, project `a-b` with stack `c` and project `a` with stack
 * `b-c`); the hash cannot.
 */
export function defaultNamePrefix(project: string, stack: string): string {
  const readable = `${project}-${stack}`.toLowerCase()
    .replace(/[^a-z0-9_-]/g, "-")
    // Project names may start with "_" or "."; stems may not.
    .replace(/^[^a-z0-9]+/, "")
    .slice(0, LIMITS.namePrefixLength - HASH_LENGTH - 1)
    .replace(/[-_]+$/, "");
  return `${readable || "kt"}-${shortHash(`${project}\n${stack}`)}`;
}

/**
 * The SSM path every parameter of a stack lives under: `/<project>/<stack>/`
 * (for the project as shipped, `/kinesis-telemetry/<stack>/`). Neither name
 * can hold `/`, so two stacks never share a path.
 */
export function defaultSsmPrefix(project: string, stack: string): string {
  return `/${project}/${stack}/`;
}

/**
 * Returns `name` when it fits in `limit` characters, else its first part and
 * `-` with 8 hex digits of the hash of the whole name: still unique, still
 * recognisable.
 */
export function fitName(name: string, limit: number): string {
  if (name.length <= limit) return name;
  const head = name.slice(0, limit - HASH_LENGTH - 1).replace(/-+$/, "");
  return `${head}-${shortHash(name)}`;
}

/** Names of the resources one stack creates, from its stem and region. */
export interface PhysicalNames {
  /** Kinesis stream (regional). */
  stream: string;
  /** Lambda layer name for one architecture (versions accumulate under it). */
  layer(architecture: string): string;
  /** IAM managed policy granting PutRecords (account-wide: carries the region). */
  policy: string;
  /** Demo function and (under /aws/lambda/) its log group. */
  demoFunction: string;
  /** Demo function's execution role (account-wide: carries the region). */
  demoRole: string;
  /** Managed Instances demo function and its capacity provider. */
  managedInstancesFunction: string;
  /** Managed Instances demo function's execution role. */
  managedInstancesRole: string;
  /** Role Lambda assumes to run the capacity provider's EC2 instances. */
  managedInstancesOperatorRole: string;
}

/**
 * Derives every physical name from a validated stem and the stack's region.
 * Throws a SettingError when the stem is not valid.
 */
export function physicalNames(prefix: string, region: string): PhysicalNames {
  checkNamePrefix("namePrefix", prefix);
  const iam = (suffix: string, limit: number) =>
    fitName(`${prefix}-${region}-${suffix}`, limit);
  return {
    stream: prefix,
    layer: (architecture) => `${prefix}-${architecture}`,
    policy: iam("put-records", IAM_POLICY_NAME_LIMIT),
    demoFunction: `${prefix}-demo`,
    demoRole: iam("demo", IAM_ROLE_NAME_LIMIT),
    managedInstancesFunction: fitName(`${prefix}-lmi`, FUNCTION_NAME_LIMIT),
    managedInstancesRole: iam("lmi", IAM_ROLE_NAME_LIMIT),
    managedInstancesOperatorRole: iam("lmi-operator", IAM_ROLE_NAME_LIMIT),
  };
}

/**
 * Physical names derived from the project and the stack, so that two stacks
 * of this program in one account and region never reach for the same name.
 *
 * @module
 */
import { checkNamePrefix } from "./validation.ts";

/**
 * The stem of every physical name: `<project>-<stack>`, with the characters
 * Lambda names refuse (Pulumi allows `.` in both) turned into `-`. Throws a
 * SettingError naming `setting` when the result is too long.
 */
export function defaultNamePrefix(
  project: string,
  stack: string,
  setting: string,
): string {
  const stem = `${project}-${stack}`.replace(/[^a-zA-Z0-9_-]/g, "-");
  checkNamePrefix(
    `${setting} (derived from project and stack "${stem}")`,
    stem,
  );
  return stem;
}

/**
 * The SSM path every parameter of a stack lives under:
 * `/kinesis-telemetry/<stack>/`. Fixed rather than derived from the project
 * name, so other teams find it without knowing how this project is named.
 */
export function defaultSsmPrefix(stack: string): string {
  return `/kinesis-telemetry/${stack}/`;
}

/** Names of the resources one component instance creates, from its stem. */
export interface PhysicalNames {
  /** Kinesis stream. */
  stream: string;
  /** Lambda layer name for one architecture (versions accumulate under it). */
  layer(architecture: string): string;
  /** IAM managed policy granting PutRecords. */
  policy: string;
  /** Demo function, its role, and (under /aws/lambda/) its log group. */
  demoFunction: string;
}

/** Derives every physical name from a validated stem. */
export function physicalNames(prefix: string): PhysicalNames {
  return {
    stream: prefix,
    layer: (architecture) => `${prefix}-${architecture}`,
    policy: `${prefix}-put-records`,
    demoFunction: `${prefix}-demo`,
  };
}

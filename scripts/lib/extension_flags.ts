/**
 * The Deno permissions the extension runs with: the same list for `deno run`
 * from source (local sandbox, tests, bench), for `deno compile` (compiled
 * layers) and for the launcher of the portable layers, so what is tested is
 * what ships.
 *
 * Measured with Deno 2.9 and `@aws-sdk/client-kinesis` 3.x, region and
 * credentials passed explicitly to the client: a read of an environment
 * variable that is not allowed, even through node's `process.env` inside an
 * npm package, throws `NotCapable` instead of returning `undefined`, so every
 * variable the SDK touches on the PutRecords path must be listed.
 *
 * @module
 */
import { SPILL_ROOT } from "../../extension/config.ts";
import {
  SMALLEST_FUNCTION_MEMORY_MB,
  v8FlagsFor,
} from "../../extension/memory_budget.ts";

/**
 * Environment variables the extension (and the AWS SDK inside it) may read.
 *
 * - `AWS_*`, `KINESIS_TELEMETRY_*`: Lambda's variables, credentials and the
 *   extension's own configuration.
 * - `_X_AMZN_TRACE_ID`: the SDK's recursion-detection middleware reads it on
 *   every request when `AWS_LAMBDA_FUNCTION_NAME` is set.
 * - `HOME`, `USERPROFILE`, `HOMEPATH`, `HOMEDRIVE`: the SDK's shared-config
 *   loader (used for settings such as `authSchemePreference` even when region
 *   and credentials are explicit) reads all four at once to locate
 *   `~/.aws/config`. The file read itself is denied (reads are allowed only
 *   in the spill folder) and the SDK treats that as "no file".
 */
export const EXTENSION_ENV_ALLOW = [
  "AWS_*",
  "KINESIS_TELEMETRY_*",
  "_X_AMZN_TRACE_ID",
  "HOME",
  "USERPROFILE",
  "HOMEPATH",
  "HOMEDRIVE",
] as const;

/**
 * System information the SDK asks for.
 *
 * - `osRelease`: the SDK's default user agent includes `os.release()`.
 * - `uid`, `homedir`: when none of the home variables is set (Lambda does not
 *   set `HOME` for extensions), the shared-config loader falls back to
 *   `os.homedir()`, cached per `process.geteuid()`.
 */
export const EXTENSION_SYS_ALLOW = ["osRelease", "uid", "homedir"] as const;

/**
 * Deno permission flags for `deno run` / `deno compile` of
 * `extension/main.ts`: network (runtime API, listener, Kinesis), the
 * variables and system information above, its disk overflow folder in /tmp
 * (`SPILL_ROOT`, extension/spill.ts), and nothing else (no other files, no
 * subprocesses, no FFI).
 */
export const EXTENSION_PERMISSION_FLAGS: readonly string[] = [
  "--allow-net",
  `--allow-env=${EXTENSION_ENV_ALLOW.join(",")}`,
  `--allow-sys=${EXTENSION_SYS_ALLOW.join(",")}`,
  `--allow-read=${SPILL_ROOT}`,
  `--allow-write=${SPILL_ROOT}`,
  "--no-prompt",
];

/**
 * The extension's Deno flags for a function of `memoryMB`: the permissions
 * and the V8 heap limits of {@linkcode v8FlagsFor} (extension/memory_budget.ts).
 */
export function extensionDenoFlags(memoryMB: number): string[] {
  return [...EXTENSION_PERMISSION_FLAGS, `--v8-flags=${v8FlagsFor(memoryMB)}`];
}

/**
 * The extension's Deno flags for the smallest function (128 MB): what the
 * compiled binary bakes in (its V8 flags are fixed at build time, so they
 * must fit every function it may run in) and what source runs use by
 * default.
 */
export const EXTENSION_DENO_FLAGS: readonly string[] = extensionDenoFlags(
  SMALLEST_FUNCTION_MEMORY_MB,
);

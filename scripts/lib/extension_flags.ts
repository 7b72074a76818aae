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
 *   `~/.aws/config`. The file read itself is denied (no `--allow-read`) and
 *   the SDK treats that as "no file".
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

/** V8 heap limit (MiB) that suits small Lambda functions. */
export const EXTENSION_MAX_HEAP_MIB = 64;

/**
 * Deno flags for `deno run` / `deno compile` of `extension/main.ts`: network
 * (runtime API, listener, Kinesis), the variables and system information
 * above, and nothing else (no file system, no subprocesses, no FFI).
 */
export const EXTENSION_DENO_FLAGS: readonly string[] = [
  "--allow-net",
  `--allow-env=${EXTENSION_ENV_ALLOW.join(",")}`,
  `--allow-sys=${EXTENSION_SYS_ALLOW.join(",")}`,
  // A 4 MiB young generation: under a small old-space limit V8 picks a tiny
  // one, and bursts then spend a third of their CPU in scavenges (bench).
  `--v8-flags=--max-old-space-size=${EXTENSION_MAX_HEAP_MIB},--max-semi-space-size=4`,
  "--no-prompt",
];

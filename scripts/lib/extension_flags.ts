/**
 * The Deno permissions the extension runs with: the same list for `deno run`
 * from source (local sandbox, tests, bench) and for `deno compile` (layers),
 * so what is tested is what ships.
 *
 * @module
 */

/** Environment variables the extension (and the AWS SDK inside it) may read. */
export const EXTENSION_ENV_ALLOW = [
  "AWS_*",
  "KINESIS_TELEMETRY_*",
  "_X_AMZN_TRACE_ID",
  "HOME",
] as const;

/** V8 heap limit (MiB) that suits small Lambda functions. */
export const EXTENSION_MAX_HEAP_MIB = 64;

/** Deno flags for `deno run` / `deno compile` of `extension/main.ts`. */
export const EXTENSION_DENO_FLAGS: readonly string[] = [
  "--allow-net",
  `--allow-env=${EXTENSION_ENV_ALLOW.join(",")}`,
  `--v8-flags=--max-old-space-size=${EXTENSION_MAX_HEAP_MIB}`,
  "--no-prompt",
];

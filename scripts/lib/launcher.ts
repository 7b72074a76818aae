/**
 * The launcher of a portable layer: `/opt/extensions/kinesis-telemetry`, a
 * POSIX sh script that `exec`s the Deno binary shipped in the layer on the
 * bundled extension, with the extension's permission flags.
 *
 * It uses only shell built-ins (no `dirname`, no `readlink`): the OS-only
 * runtime images are minimal, and every fork adds to the shared init budget.
 *
 * @module
 */
import {
  HEAP_RULES,
  type HeapRule,
  LARGEST_FUNCTION_MEMORY_MB,
  SMALLEST_FUNCTION_MEMORY_MB,
} from "../../extension/memory_budget.ts";
import {
  EXTENSION_PERMISSION_FLAGS,
  extensionDenoFlags,
} from "./extension_flags.ts";

/** Folder of the layer (under `/opt`) holding the Deno binary and the bundle. */
export const PORTABLE_PAYLOAD_DIR = "kinesis-telemetry";
/** Path of the Deno binary inside a portable layer. */
export const PORTABLE_DENO_PATH = `${PORTABLE_PAYLOAD_DIR}/deno`;
/** Path of the bundled extension inside a portable layer. */
export const PORTABLE_BUNDLE_PATH = `${PORTABLE_PAYLOAD_DIR}/extension.js`;
/** Path of the extension's executable inside every layer (its file name is its name). */
export const LAYER_EXTENSION_PATH = "extensions/kinesis-telemetry";
/**
 * Deno's cache folder at run time: one that can never be created (a path
 * under a device file), so the stock binary keeps its dependency-analysis
 * caches in memory. An execution environment starts its extension once, so
 * caches written to `/tmp` were never read again; creating them (SQLite
 * files) cost about 4 ms of every init (measured with Deno 2.9: spawn →
 * exit of the bundle, 29.5 ms with an empty `/tmp` folder, 25.8 ms with
 * this one).
 */
export const PORTABLE_DENO_DIR = "/dev/null/kinesis-telemetry-deno";

/**
 * `deno run` options that keep the stock binary from looking for a
 * configuration, a lock file, remote modules or npm packages: the bundle is
 * self-contained, and nothing may touch the network before the extension
 * registers.
 */
export const PORTABLE_RUN_OPTIONS: readonly string[] = [
  "--no-config",
  "--no-lock",
  "--no-remote",
  "--no-npm",
  "--node-modules-dir=none",
  // The code cache would be written to /tmp on the one start an execution
  // environment ever makes: pure cost.
  "--no-code-cache",
];

/** Quotes a word for POSIX sh (single quotes; embedded ones closed and escaped). */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The `deno` arguments the launcher passes, before the bundle's path, in a
 * function of `memoryMB`, with read access to `payloadDir` (the layer's
 * payload folder): the bundle's chunks are imported at run time
 * (scripts/lib/bundle_imports.ts), outside the start-up module graph.
 */
export function portableDenoArguments(
  memoryMB: number = SMALLEST_FUNCTION_MEMORY_MB,
  payloadDir?: string,
): string[] {
  return [
    "run",
    ...PORTABLE_RUN_OPTIONS,
    ...extensionDenoFlags(memoryMB),
    ...(payloadDir ? [`--allow-read=${payloadDir}`] : []),
  ];
}

/**
 * Shell lines that set \`old_space\` and \`semi_space\` (MiB) from
 * \`AWS_LAMBDA_FUNCTION_MEMORY_SIZE\` with the arithmetic of
 * {@linkcode HEAP_RULES}, built-ins only; a value Lambda would not set
 * counts as the smallest size.
 */
function heapArithmetic(): string {
  const rule = (name: string, { divisor, min, max }: HeapRule) =>
    `${name}=$((memory_mb / ${divisor}))
[ "$${name}" -lt ${min} ] && ${name}=${min}
[ "$${name}" -gt ${max} ] && ${name}=${max}`;
  const smallest = SMALLEST_FUNCTION_MEMORY_MB;
  return `memory_mb=\${AWS_LAMBDA_FUNCTION_MEMORY_SIZE:-${smallest}}
case $memory_mb in
  '' | 0* | *[!0-9]* | ??????*) memory_mb=${smallest} ;;
esac
[ "$memory_mb" -lt ${smallest} ] && memory_mb=${smallest}
[ "$memory_mb" -gt ${LARGEST_FUNCTION_MEMORY_MB} ] && memory_mb=${smallest}
${rule("old_space", HEAP_RULES.oldSpace)}
${rule("semi_space", HEAP_RULES.semiSpace)}`;
}

/** The launcher script's text. */
export function renderLauncher(): string {
  const args = ["run", ...PORTABLE_RUN_OPTIONS, ...EXTENSION_PERMISSION_FLAGS]
    .map(shellQuote).join(" \\\n  ");
  return `#!/bin/sh
# kinesis-telemetry (portable layer): runs the bundled extension with the Deno
# binary shipped beside it. Written by scripts/build.ts; do not edit.
case "$0" in
  */*) launcher_dir=\${0%/*} ;;
  *) launcher_dir=. ;;
esac
# The layer root is the parent of extensions/, wherever it was unpacked. The
# registered name must be this file's name, which the bundle cannot see.
# cd and pwd in this shell, not in a $(...) subshell: a fork costs init time.
start_dir=$PWD
cd -P "$launcher_dir/.." || exit 1
layer_root=$PWD
cd "$start_dir" 2>/dev/null
# V8 heap limits from the function's memory (extension/memory_budget.ts).
${heapArithmetic()}
DENO_DIR=${PORTABLE_DENO_DIR}
DENO_NO_UPDATE_CHECK=1
DENO_NO_PROMPT=1
export DENO_DIR DENO_NO_UPDATE_CHECK DENO_NO_PROMPT
exec "$layer_root/${PORTABLE_DENO_PATH}" \\
  ${args} \\
  "--v8-flags=--max-old-space-size=$old_space,--max-semi-space-size=$semi_space" \\
  "--allow-read=$layer_root/${PORTABLE_PAYLOAD_DIR}" \\
  "$layer_root/${PORTABLE_BUNDLE_PATH}" "--extension-name=\${0##*/}" "$@"
`;
}

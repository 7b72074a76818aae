/**
 * Command lines of the extensions the sandbox runs: the project's extension
 * from source, an executable from an unpacked layer, and the bare floor
 * extension.
 *
 * @module
 */
import { EXTENSION_DENO_FLAGS } from "../lib/extension_flags.ts";
import { BARE_EXTENSION_NAME } from "./bare_extension.ts";
import type { ExtensionSpec } from "./sandbox.ts";

/** Name the project's extension registers with. */
export const EXTENSION_NAME = "kinesis-telemetry";

const PROJECT_ROOT = new URL("../../", import.meta.url).pathname;

/** An extension run from source with `deno run`. */
export function sourceExtension(
  name: string,
  entry: string,
  denoFlags: readonly string[],
  env: Record<string, string> = {},
  args: readonly string[] = [],
): ExtensionSpec {
  return {
    name,
    argv: [Deno.execPath(), "run", ...denoFlags, entry, ...args],
    env,
    cwd: PROJECT_ROOT,
  };
}

/** kinesis-telemetry from source (`extension/main.ts`) with the shipped permission flags. */
export function projectExtension(env: Record<string, string>): ExtensionSpec {
  return sourceExtension(
    EXTENSION_NAME,
    `${PROJECT_ROOT}extension/main.ts`,
    EXTENSION_DENO_FLAGS,
    env,
  );
}

/** An executable of an unpacked layer (`<dir>/extensions/<name>`); its file name is its name. */
export function layerExtension(
  executable: string,
  env: Record<string, string> = {},
): ExtensionSpec {
  const name = executable.split("/").pop() ?? executable;
  return { name, argv: [executable], env };
}

/** The bare floor extension (`bare_extension.ts`). */
export function bareExtension(bufferTimeoutMs = 25): ExtensionSpec {
  return sourceExtension(
    BARE_EXTENSION_NAME,
    new URL("./bare_extension.ts", import.meta.url).pathname,
    ["--allow-net", "--allow-env=AWS_LAMBDA_RUNTIME_API", "--no-prompt"],
    {},
    [String(bufferTimeoutMs)],
  );
}

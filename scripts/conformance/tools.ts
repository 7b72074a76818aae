/**
 * The tools a conformance run needs, installed by `scripts/setup/rie.sh`
 * into the project's `.tools/` folder when missing: AWS's emulator
 * (`aws-lambda-rie`) and AWS's Python runtime interface client
 * (`awslambdaric`), plus `python3`, `unshare` and root for the mount
 * namespace. A tool that cannot be had fails the run with a message.
 *
 * @module
 */
import { join } from "node:path";

/** The repository root. */
const PROJECT_ROOT = new URL("../../", import.meta.url).pathname;

/** The installer script. */
export const SETUP_SCRIPT = join(PROJECT_ROOT, "scripts", "setup", "rie.sh");

/** Paths of the installed tools. */
export interface ConformanceTools {
  /** `aws-lambda-rie` binary. */
  rie: string;
  /** Folder with the `awslambdaric` package (goes on PYTHONPATH). */
  awslambdaric: string;
  /** Absolute path of the Python interpreter. */
  python: string;
  /** Its installation prefix (`sys.prefix`), which the function must reach. */
  pythonPrefix: string;
}

/** A tool is missing and could not be installed. */
export class MissingToolError extends Error {
  /** Names this error class. */
  override name = "MissingToolError";
}

/** Where `scripts/setup/rie.sh` puts the tools under a project root. */
export function toolPaths(
  root: string,
): Omit<ConformanceTools, "python" | "pythonPrefix"> {
  return {
    rie: join(root, ".tools", "go", "bin", "aws-lambda-rie"),
    awslambdaric: join(root, ".tools", "awslambdaric"),
  };
}

function exists(path: string): Promise<boolean> {
  return Deno.stat(path).then(() => true, () => false);
}

/** What a finished command printed. */
export interface CommandOutput {
  /** Exit code (-1 when it could not start). */
  code: number;
  /** Its standard output. */
  stdout: string;
  /** Its standard error, or why it could not start. */
  stderr: string;
}

/** Runs a command to its end and returns its exit code and output as text. */
export async function runCommand(
  command: string,
  args: readonly string[] = [],
): Promise<CommandOutput> {
  try {
    const result = await new Deno.Command(command, {
      args: [...args],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).output();
    const decoder = new TextDecoder();
    return {
      code: result.code,
      stdout: decoder.decode(result.stdout),
      stderr: decoder.decode(result.stderr),
    };
  } catch (error) {
    return {
      code: -1,
      stdout: "",
      stderr: error instanceof Error ? error.message : String(error),
    };
  }
}

async function output(
  command: string,
  args: string[],
): Promise<{ ok: boolean; text: string }> {
  const result = await runCommand(command, args);
  return { ok: result.code === 0, text: result.stdout + result.stderr };
}

/**
 * Finds the tools, running the installer first when one is missing (its
 * output goes to `log`); throws {@linkcode MissingToolError} when a tool
 * still is not there or the machine cannot make a mount namespace.
 */
export async function ensureTools(
  log: (line: string) => void = () => {},
  root = PROJECT_ROOT,
): Promise<ConformanceTools> {
  if (Deno.build.os !== "linux") {
    throw new MissingToolError("the conformance run needs Linux");
  }
  const paths = toolPaths(root);
  const stamped =
    await exists(join(root, ".tools", "go", "aws-lambda-rie.version")) &&
    await exists(join(paths.awslambdaric, ".version"));
  if (!stamped || !await exists(paths.rie)) {
    const setup = await output("sh", [SETUP_SCRIPT]);
    for (const line of setup.text.trimEnd().split("\n")) log(line);
    if (!setup.ok) {
      throw new MissingToolError(
        `scripts/setup/rie.sh failed; the conformance run needs aws-lambda-rie and awslambdaric:\n${setup.text}`,
      );
    }
  }
  for (const path of [paths.rie, join(paths.awslambdaric, "awslambdaric")]) {
    if (!await exists(path)) {
      throw new MissingToolError(
        `${path} is missing after scripts/setup/rie.sh`,
      );
    }
  }
  const python = await output("python3", [
    "-c",
    "import os, sys; print(os.path.realpath(sys.executable)); print(os.path.realpath(sys.prefix))",
  ]);
  if (!python.ok) {
    throw new MissingToolError(`python3 cannot start: ${python.text}`);
  }
  const unshare = await output("unshare", [
    "--mount",
    "--propagation",
    "private",
    "true",
  ]);
  if (!unshare.ok) {
    throw new MissingToolError(
      `cannot make a private mount namespace (unshare --mount, needs root): ${unshare.text.trim()}`,
    );
  }
  const [executable, prefix] = python.text.trim().split("\n").slice(-2);
  return { ...paths, python: executable, pythonPrefix: prefix };
}

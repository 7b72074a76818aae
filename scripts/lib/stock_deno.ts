/**
 * The stock Deno binary for a layer architecture, from the npm registry
 * (`@deno/linux-x64-glibc`, `@deno/linux-arm64-glibc`) at one pinned version,
 * fetched with `npm pack` once and kept in a cache folder.
 *
 * @module
 */
import { join } from "node:path";
import {
  describeElfMachine,
  elfMachineOfFile,
  LAYER_TARGETS,
  type LayerArch,
} from "./layer_targets.ts";

/** The Deno version the portable layers ship (both architectures). */
export const STOCK_DENO_VERSION = "2.9.6";

/** npm package holding the Deno binary for each architecture. */
export const STOCK_DENO_PACKAGES: Readonly<Record<LayerArch, string>> = {
  x86_64: "@deno/linux-x64-glibc",
  arm64: "@deno/linux-arm64-glibc",
};

/**
 * The build's cache folder: `$BUILD_CACHE_DIR`, else
 * `$XDG_CACHE_HOME/kinesis-telemetry-build`, else `~/.cache/…`.
 */
export function defaultBuildCacheDir(): string {
  const explicit = Deno.env.get("BUILD_CACHE_DIR");
  if (explicit) return explicit;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "kinesis-telemetry-build");
  const home = Deno.env.get("HOME") ?? "/tmp";
  return join(home, ".cache", "kinesis-telemetry-build");
}

async function run(command: string, args: string[], cwd: string) {
  const output = await new Deno.Command(command, {
    args,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (!output.success) {
    throw new Error(
      `${command} ${args.join(" ")} failed (exit ${output.code}):\n` +
        decoder.decode(output.stderr).trim(),
    );
  }
  return decoder.decode(output.stdout);
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * Path of the stock Deno binary for `arch` at `version`, fetching it with
 * `npm pack` into `cacheDir` the first time. The cached file is checked to be
 * an ELF binary of the right architecture before it is returned.
 */
export async function fetchStockDeno(
  arch: LayerArch,
  cacheDir: string,
  version: string = STOCK_DENO_VERSION,
): Promise<string> {
  const target = LAYER_TARGETS[arch];
  const folder = join(cacheDir, `deno-${version}-${arch}`);
  const binary = join(folder, "deno");
  if (!(await isFile(binary))) {
    await Deno.mkdir(cacheDir, { recursive: true });
    const work = await Deno.makeTempDir({ dir: cacheDir, prefix: ".fetch-" });
    try {
      const spec = `${STOCK_DENO_PACKAGES[arch]}@${version}`;
      // npm verifies the tarball against the registry's integrity hash.
      const packed = JSON.parse(
        await run("npm", ["pack", spec, "--json", "--silent"], work),
      ) as { filename: string }[];
      const tarball = join(work, packed[0].filename);
      await run("tar", ["-xzf", tarball, "-C", work, "package/deno"], work);
      await Deno.chmod(join(work, "package", "deno"), 0o755);
      await Deno.mkdir(folder, { recursive: true });
      // Rename last, so an interrupted fetch never leaves a half binary.
      await Deno.rename(join(work, "package", "deno"), binary);
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  }
  const machine = await elfMachineOfFile(binary);
  if (machine !== target.elfMachine) {
    throw new Error(
      `${binary} is ${
        describeElfMachine(machine)
      }, expected ${arch}: delete it and build again`,
    );
  }
  return binary;
}

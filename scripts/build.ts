/**
 * Builds the Lambda layers: `dist/kinesis-telemetry-x86_64.zip`,
 * `dist/kinesis-telemetry-arm64.zip` and `dist/manifest.json`.
 *
 * - default (compiled): `deno compile` of `extension/main.ts` per target, the
 *   layer holds `extensions/kinesis-telemetry` only. Needs Deno's `denort`
 *   base binary: downloaded by Deno, or given with `DENORT_BIN_X86_64` /
 *   `DENORT_BIN_AARCH64` (or `DENORT_BIN` when it matches the target).
 * - `--portable`: `deno bundle` of the extension plus the stock Deno binary
 *   from the npm registry, started by a sh launcher.
 *
 * Every layer is started once against a throw-away Extensions API before it
 * is written (natively, or under qemu for the other architecture when one is
 * found); zips are built in a staging folder and renamed into place only
 * when every requested layer is good.
 *
 * Usage: `deno task build [--portable] [--arch x86_64|arm64|all] [--out dist]
 * [--entry extension/main.ts] [--cache-dir DIR]`
 *
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { EXTENSION_DENO_FLAGS } from "./lib/extension_flags.ts";
import {
  LAYER_EXTENSION_PATH,
  PORTABLE_BUNDLE_PATH,
  PORTABLE_DENO_PATH,
  PORTABLE_PAYLOAD_DIR,
  portableDenoArguments,
  renderLauncher,
} from "./lib/launcher.ts";
import {
  describeElfMachine,
  elfMachineOfFile,
  hostLayerArch,
  LAYER_TARGETS,
  type LayerArch,
  type LayerTarget,
  parseArchList,
} from "./lib/layer_targets.ts";
import {
  deferNodeRequire,
  deferRelativeDynamicImports,
} from "./lib/bundle_imports.ts";
import { emulatedCommand, findAarch64Emulator } from "./lib/qemu.ts";
import { probeRegistration } from "./lib/register_probe.ts";
import {
  defaultBuildCacheDir,
  fetchStockDeno,
  STOCK_DENO_VERSION,
} from "./lib/stock_deno.ts";
import { createZip, type ZipEntry } from "./lib/zip.ts";

/** How the extension is turned into an executable. */
export type BuildMode = "compiled" | "portable";

/** How a layer was shown to start before it was written. */
export type LayerVerification = "ran" | "ran-under-qemu" | "static";

/** One file inside a layer, as listed in the manifest. */
export interface LayerFileInfo {
  /** Path inside the zip (and under `/opt`). */
  path: string;
  /** Size in bytes. */
  size: number;
  /** Unix permission bits, octal text (`"755"`). */
  mode: string;
}

/** The manifest's description of one layer zip. */
export interface LayerManifestEntry {
  /** Zip file name inside the output folder. */
  file: string;
  /** Lambda architecture. */
  arch: LayerArch;
  /** Target triple of its binary. */
  target: LayerTarget["target"];
  /** compiled or portable. */
  mode: BuildMode;
  /** Deno version of the runtime inside the layer. */
  denoVersion: string;
  /** Hex SHA-256 of the zip. */
  sha256: string;
  /** Zip size in bytes. */
  size: number;
  /** Sum of the unpacked file sizes. */
  unpackedSize: number;
  /** The files, in zip order. */
  files: LayerFileInfo[];
  /** How the layer was shown to start. */
  verified: LayerVerification;
}

/** `dist/manifest.json`. */
export interface BuildManifest {
  /** One entry per zip present in the output folder, ordered by file name. */
  layers: LayerManifestEntry[];
}

/** What to build and where. */
export interface BuildOptions {
  /** compiled (default) or portable. */
  mode: BuildMode;
  /** Architectures to build. */
  arches: LayerArch[];
  /** Output folder (`dist/`). */
  outDir: string;
  /** Extension entry point. */
  entry: string;
  /** Cache folder for the stock Deno binaries. */
  cacheDir: string;
  /** deno.json giving the import map. */
  configPath: string;
  /** Progress lines go here. */
  log?: (line: string) => void;
}

/** A build failure with a message meant for the person running the build. */
export class BuildError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "BuildError";
  }
}

/** Name of the manifest file in the output folder. */
export const MANIFEST_FILE = "manifest.json";

/** The repository root (this file lives in `scripts/`). */
export const PROJECT_ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

const NATIVE_PROBE_TIMEOUT_MS = 30_000;
const EMULATED_PROBE_TIMEOUT_MS = 240_000;
const COMPILE_TIMEOUT_MS = 300_000;
/**
 * Text of `deno compile --help`: present in the full Deno binary, absent
 * from denort. A "denort" that contains it is the full CLI, which would make
 * a layer that only opens a REPL.
 */
const FULL_DENO_MARKER = "Compile the script into a self contained executable";

/** The explanation printed when `deno compile` cannot get a denort. */
export function denortMissingMessage(
  target: LayerTarget,
  denoVersion: string,
  detail: string,
): string {
  return [
    `deno compile could not get the denort base binary for ${target.target}.`,
    "It downloads denort-<target>.zip from Deno's release host at build time,",
    "and that failed here. Do one of these:",
    `  1. Set ${target.denortVariable}=/path/to/denort: the denort binary of Deno ${denoVersion}`,
    `     for ${target.target} (unzip denort-${target.target}.zip of the`,
    `     v${denoVersion} release on a machine that can download it).`,
    `     DENORT_BIN works too when it is a ${target.arch} binary. The full \`deno\``,
    "     binary is no substitute (it builds a file that only opens a REPL).",
    "  2. Build where that download works: Deno then caches the zip in DENO_DIR.",
    "  3. Build the portable layers, which need only the npm registry:",
    "     npx -y deno@2 task build --portable",
    "No layer was written.",
    detail ? `deno compile said:\n${detail}` : "",
  ].filter((line) => line !== "").join("\n");
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Hex SHA-256 of some bytes. */
export async function sha256Hex(data: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data as BufferSource);
  return Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

async function fileContains(path: string, marker: string): Promise<boolean> {
  const needle = new TextEncoder().encode(marker);
  const data = await Deno.readFile(path);
  // Buffer#indexOf is a native search: a 100 MB binary takes milliseconds.
  const { Buffer } = await import("node:buffer");
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).indexOf(
    needle,
  ) >= 0;
}

/**
 * The denort to hand `deno compile` for a target: its own variable first,
 * then `DENORT_BIN` if that is a binary for this target. Undefined means
 * "let Deno download it". Invalid settings are reported before any work.
 */
export async function resolveDenort(
  target: LayerTarget,
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): Promise<string | undefined> {
  const specific = env(target.denortVariable);
  const generic = env("DENORT_BIN");
  const chosen = specific || generic;
  if (!chosen) return undefined;
  const variable = specific ? target.denortVariable : "DENORT_BIN";
  if (!(await pathExists(chosen))) {
    throw new BuildError(
      `${variable}=${chosen}: no such file. Point it at the denort binary for ${target.target}, or unset it.`,
    );
  }
  const machine = await elfMachineOfFile(chosen);
  if (machine !== target.elfMachine) {
    if (!specific) {
      // DENORT_BIN is for another architecture: this target needs its own.
      return undefined;
    }
    throw new BuildError(
      `${variable}=${chosen} is ${
        describeElfMachine(machine)
      }, not a ${target.arch} binary.`,
    );
  }
  if (await fileContains(chosen, FULL_DENO_MARKER)) {
    throw new BuildError(
      `${variable}=${chosen} is the full deno CLI, not denort: a layer built on it would only open a REPL. Use the denort binary of the Deno release (denort-${target.target}.zip).`,
    );
  }
  return chosen;
}

interface CommandResult {
  success: boolean;
  code: number;
  stdout: string;
  stderr: string;
}

async function runCommand(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; timeoutMs: number; cwd?: string },
): Promise<CommandResult> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs);
  try {
    const output = await new Deno.Command(command, {
      args,
      cwd: options.cwd,
      // Plain text: these messages are shown to people and matched on.
      env: { ...options.env, NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: controller.signal,
    }).output();
    const decoder = new TextDecoder();
    return {
      success: output.success,
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

function tail(text: string, lines = 15): string {
  return text.trim().split("\n").slice(-lines).join("\n");
}

/** Removes staging folders left by a build that was killed. */
async function removeStaleStaging(outDir: string): Promise<void> {
  for await (const entry of Deno.readDir(outDir)) {
    if (entry.isDirectory && entry.name.startsWith(".staging-")) {
      await Deno.remove(join(outDir, entry.name), { recursive: true });
    }
  }
}

/** A layer's files on disk, ready to probe and zip. */
interface StagedLayer {
  target: LayerTarget;
  root: string;
  files: { path: string; mode: number }[];
  denoVersion: string;
  verified?: LayerVerification;
}

async function stageFile(
  root: string,
  path: string,
  data: Uint8Array,
  mode: number,
): Promise<void> {
  const full = join(root, path);
  await Deno.mkdir(dirname(full), { recursive: true });
  await Deno.writeFile(full, data, { mode });
  await Deno.chmod(full, mode);
}

/** Type-checks the entry point (a layer is never built from code that fails it). */
async function typeCheck(options: BuildOptions): Promise<void> {
  options.log?.(`check ${options.entry}`);
  const result = await runCommand(
    Deno.execPath(),
    ["check", "--config", options.configPath, options.entry],
    { timeoutMs: COMPILE_TIMEOUT_MS, cwd: PROJECT_ROOT },
  );
  if (!result.success) {
    throw new BuildError(
      `type check of ${options.entry} failed:\n${tail(result.stderr)}`,
    );
  }
}

/**
 * Bundles the extension with code splitting: the entry file holds what
 * start-up runs, and the AWS SDK, imported only at the first flush, stays
 * in chunks that are read only then (measured: 44 ms to the first
 * /event/next instead of 71 ms for one file that evaluates the SDK at start).
 */
async function bundleExtension(
  options: BuildOptions,
  outDir: string,
): Promise<void> {
  const result = await runCommand(
    Deno.execPath(),
    [
      "bundle",
      "--platform=deno",
      "--code-splitting",
      "--config",
      options.configPath,
      "--outdir",
      outDir,
      options.entry,
    ],
    { timeoutMs: COMPILE_TIMEOUT_MS, cwd: PROJECT_ROOT },
  );
  if (!result.success) {
    throw new BuildError(
      `deno bundle of ${options.entry} failed:\n${tail(result.stderr)}`,
    );
  }
}

async function stagePortable(
  options: BuildOptions,
  staging: string,
): Promise<StagedLayer[]> {
  const bundleDir = join(staging, "bundle");
  options.log?.(`bundle ${options.entry}`);
  await bundleExtension(options, bundleDir);
  const entryOutput = basename(options.entry).replace(/\.[cm]?[jt]sx?$/, ".js");
  const readDeferred = async (name: string) => {
    const lazy = deferNodeRequire(
      deferRelativeDynamicImports(
        await Deno.readTextFile(join(bundleDir, name)),
      ).text,
    );
    // Any other static import of node:module would start Deno's Node.js
    // layer before the extension registers (~23 ms of init): a bundler
    // change the rewrite does not know must fail the build, not slow init.
    if (/\bfrom\s*["']node:module["']/.test(lazy.text)) {
      throw new BuildError(
        `${name} imports node:module statically in a form the build does not rewrite (scripts/lib/bundle_imports.ts)`,
      );
    }
    return new TextEncoder().encode(lazy.text);
  };
  const bundle = await readDeferred(entryOutput);
  const chunks: { path: string; data: Uint8Array }[] = [];
  for await (const file of Deno.readDir(bundleDir)) {
    if (!file.isFile || file.name === entryOutput) continue;
    chunks.push({
      path: `${PORTABLE_PAYLOAD_DIR}/${file.name}`,
      data: file.name.endsWith(".js")
        ? await readDeferred(file.name)
        : await Deno.readFile(join(bundleDir, file.name)),
    });
  }
  chunks.sort((a, b) => a.path < b.path ? -1 : 1);
  const launcher = new TextEncoder().encode(renderLauncher());
  const layers: StagedLayer[] = [];
  for (const arch of options.arches) {
    const target = LAYER_TARGETS[arch];
    options.log?.(`fetch deno ${STOCK_DENO_VERSION} for ${arch}`);
    let denoBinary: string;
    try {
      denoBinary = await fetchStockDeno(arch, options.cacheDir);
    } catch (error) {
      throw new BuildError(
        `could not get the Deno binary for ${arch} from the npm registry: ${
          (error as Error).message
        }`,
      );
    }
    const root = join(staging, arch);
    await stageFile(root, LAYER_EXTENSION_PATH, launcher, 0o755);
    await stageFile(
      root,
      PORTABLE_DENO_PATH,
      await Deno.readFile(denoBinary),
      0o755,
    );
    await stageFile(root, PORTABLE_BUNDLE_PATH, bundle, 0o644);
    for (const chunk of chunks) {
      await stageFile(root, chunk.path, chunk.data, 0o644);
    }
    layers.push({
      target,
      root,
      denoVersion: STOCK_DENO_VERSION,
      files: [
        { path: LAYER_EXTENSION_PATH, mode: 0o755 },
        { path: PORTABLE_BUNDLE_PATH, mode: 0o644 },
        ...chunks.map((chunk) => ({ path: chunk.path, mode: 0o644 })),
        { path: PORTABLE_DENO_PATH, mode: 0o755 },
      ],
    });
  }
  return layers;
}

async function stageCompiled(
  options: BuildOptions,
  staging: string,
): Promise<StagedLayer[]> {
  const denoVersion = Deno.version.deno;
  // Check every DENORT setting before the first (slow) compile.
  const denorts = new Map<LayerArch, string | undefined>();
  for (const arch of options.arches) {
    denorts.set(arch, await resolveDenort(LAYER_TARGETS[arch]));
  }
  const layers: StagedLayer[] = [];
  for (const arch of options.arches) {
    const target = LAYER_TARGETS[arch];
    const root = join(staging, arch);
    const output = join(root, LAYER_EXTENSION_PATH);
    await Deno.mkdir(dirname(output), { recursive: true });
    const env: Record<string, string> = { ...Deno.env.toObject() };
    delete env.DENORT_BIN;
    const denort = denorts.get(arch);
    if (denort) env.DENORT_BIN = denort;
    options.log?.(
      `compile ${options.entry} for ${target.target}` +
        (denort ? ` (denort: ${denort})` : " (denort: download)"),
    );
    const result = await runCommand(
      Deno.execPath(),
      [
        "compile",
        // --v8-flags applies to the compiling process as well as the binary,
        // and type checking does not fit the extension's heap (that of a
        // 128 MB function: the binary's V8 flags are fixed here, so they must
        // fit the smallest): the check runs first, on its own (typeCheck).
        "--no-check",
        "--target",
        target.target,
        "--config",
        options.configPath,
        "--output",
        output,
        ...EXTENSION_DENO_FLAGS,
        options.entry,
      ],
      { env, timeoutMs: COMPILE_TIMEOUT_MS, cwd: PROJECT_ROOT },
    );
    if (!result.success) {
      const detail = tail(result.stderr);
      if (/base binary|denort|dl\.deno\.land/i.test(detail)) {
        throw new BuildError(denortMissingMessage(target, denoVersion, detail));
      }
      throw new BuildError(
        `deno compile for ${target.target} failed:\n${detail}`,
      );
    }
    await Deno.chmod(output, 0o755);
    const machine = await elfMachineOfFile(output);
    if (machine !== target.elfMachine) {
      throw new BuildError(
        `deno compile for ${target.target} wrote a ${
          describeElfMachine(machine)
        } file`,
      );
    }
    layers.push({
      target,
      root,
      denoVersion,
      files: [{ path: LAYER_EXTENSION_PATH, mode: 0o755 }],
    });
  }
  return layers;
}

async function verifyLayer(
  layer: StagedLayer,
  mode: BuildMode,
  options: BuildOptions,
): Promise<LayerVerification> {
  const extension = join(layer.root, LAYER_EXTENSION_PATH);
  const expectedName = basename(LAYER_EXTENSION_PATH);
  const denoDir = await Deno.makeTempDir({ prefix: "kt-probe-deno-" });
  try {
    let command: { command: string; args: string[] } | undefined;
    let verification: LayerVerification = "ran";
    let timeoutMs = NATIVE_PROBE_TIMEOUT_MS;
    if (layer.target.arch === hostLayerArch()) {
      command = { command: extension, args: [] };
    } else if (layer.target.arch === "arm64") {
      const emulator = mode === "compiled"
        ? await findAarch64Emulator(options.cacheDir)
        : undefined;
      if (emulator) {
        command = emulatedCommand(emulator, extension, []);
        verification = "ran-under-qemu";
        timeoutMs = EMULATED_PROBE_TIMEOUT_MS;
      }
    }
    if (!command) {
      // Portable: the stock binary is checked by ELF machine and the bundle is
      // the one the host-architecture layer ran (or runs below). Compiled:
      // denort was checked by resolveDenort and the output's ELF machine.
      if (mode === "portable" && !options.arches.includes(hostLayerArch()!)) {
        await probeOrThrow(
          layer,
          {
            command: Deno.execPath(),
            args: [
              ...portableDenoArguments(
                undefined,
                join(layer.root, PORTABLE_PAYLOAD_DIR),
              ),
              join(layer.root, PORTABLE_BUNDLE_PATH),
            ],
          },
          NATIVE_PROBE_TIMEOUT_MS,
          denoDir,
          expectedName,
        );
      }
      return "static";
    }
    options.log?.(`start ${layer.target.arch} layer (${verification})`);
    await probeOrThrow(layer, command, timeoutMs, denoDir, expectedName);
    return verification;
  } finally {
    await Deno.remove(denoDir, { recursive: true });
  }
}

async function probeOrThrow(
  layer: StagedLayer,
  command: { command: string; args: string[] },
  timeoutMs: number,
  denoDir: string,
  expectedName: string,
): Promise<void> {
  const result = await probeRegistration({
    ...command,
    env: { DENO_DIR: denoDir },
    timeoutMs,
  });
  if (!result.registered) {
    const why = result.timedOut
      ? `did not register within ${timeoutMs / 1000} s`
      : `exited with code ${result.exitCode} without registering`;
    throw new BuildError(
      `the ${layer.target.arch} layer does not run: its extension ${why}. No layer was written.\n` +
        `output:\n${tail(result.output)}`,
    );
  }
  if (result.extensionName !== expectedName) {
    throw new BuildError(
      `the ${layer.target.arch} layer registered as "${result.extensionName}", but Lambda requires the file name "${expectedName}"`,
    );
  }
}

async function zipLayer(
  layer: StagedLayer,
  mode: BuildMode,
  staging: string,
): Promise<{ entry: LayerManifestEntry; zipPath: string }> {
  const files = [...layer.files].sort((a, b) =>
    a.path < b.path ? -1 : a.path > b.path ? 1 : 0
  );
  const entries: ZipEntry[] = [];
  for (const file of files) {
    entries.push({
      path: file.path,
      data: await Deno.readFile(join(layer.root, file.path)),
      mode: file.mode,
    });
  }
  const archive = createZip(entries);
  const zipPath = join(staging, layer.target.zipName);
  await Deno.writeFile(zipPath, archive);
  return {
    zipPath,
    entry: {
      file: layer.target.zipName,
      arch: layer.target.arch,
      target: layer.target.target,
      mode,
      denoVersion: layer.denoVersion,
      sha256: await sha256Hex(archive),
      size: archive.length,
      unpackedSize: entries.reduce((sum, e) => sum + e.data.length, 0),
      files: entries.map((e) => ({
        path: e.path,
        size: e.data.length,
        mode: (e.mode ?? 0o644).toString(8),
      })),
      verified: layer.verified ?? "static",
    },
  };
}

/**
 * Manifest entries of zips this build did not touch, kept when the zip on
 * disk is still the one they describe.
 */
async function untouchedEntries(
  outDir: string,
  rebuilt: Set<string>,
): Promise<LayerManifestEntry[]> {
  let previous: BuildManifest;
  try {
    previous = JSON.parse(
      await Deno.readTextFile(join(outDir, MANIFEST_FILE)),
    ) as BuildManifest;
  } catch {
    return [];
  }
  const kept: LayerManifestEntry[] = [];
  for (const entry of previous.layers ?? []) {
    if (rebuilt.has(entry.file)) continue;
    try {
      const data = await Deno.readFile(join(outDir, entry.file));
      if ((await sha256Hex(data)) === entry.sha256) kept.push(entry);
    } catch {
      // The zip is gone: so is its entry.
    }
  }
  return kept;
}

/** Builds the requested layers into `options.outDir`; returns the manifest. */
export async function buildLayers(
  options: BuildOptions,
): Promise<BuildManifest> {
  if (!(await pathExists(options.entry))) {
    throw new BuildError(`entry point ${options.entry} does not exist`);
  }
  await Deno.mkdir(options.outDir, { recursive: true });
  await removeStaleStaging(options.outDir);
  const staging = await Deno.makeTempDir({
    dir: options.outDir,
    prefix: ".staging-",
  });
  try {
    await typeCheck(options);
    const layers = options.mode === "portable"
      ? await stagePortable(options, staging)
      : await stageCompiled(options, staging);
    for (const layer of layers) {
      layer.verified = await verifyLayer(layer, options.mode, options);
    }
    const built: { entry: LayerManifestEntry; zipPath: string }[] = [];
    for (const layer of layers) {
      options.log?.(`zip ${layer.target.zipName}`);
      built.push(await zipLayer(layer, options.mode, staging));
    }
    const rebuilt = new Set(built.map((b) => b.entry.file));
    const manifest: BuildManifest = {
      layers: [
        ...(await untouchedEntries(options.outDir, rebuilt)),
        ...built.map((b) => b.entry),
      ].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0)),
    };
    // Everything is good: only now do the zips replace the previous ones.
    for (const { entry, zipPath } of built) {
      await Deno.rename(zipPath, join(options.outDir, entry.file));
    }
    const manifestPath = join(staging, MANIFEST_FILE);
    await Deno.writeTextFile(
      manifestPath,
      JSON.stringify(manifest, null, 2) + "\n",
    );
    await Deno.rename(manifestPath, join(options.outDir, MANIFEST_FILE));
    return manifest;
  } finally {
    await Deno.remove(staging, { recursive: true });
  }
}

function formatMiB(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

const USAGE =
  `usage: deno task build [--portable] [--arch x86_64|arm64|all] [--out DIR]
                       [--entry FILE] [--cache-dir DIR]`;

/** Command-line entry: parses flags, builds, prints a summary. */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        portable: { type: "boolean", default: false },
        arch: { type: "string", default: "all" },
        out: { type: "string", default: join(PROJECT_ROOT, "dist") },
        entry: {
          type: "string",
          default: join(PROJECT_ROOT, "extension", "main.ts"),
        },
        "cache-dir": { type: "string", default: defaultBuildCacheDir() },
        help: { type: "boolean", default: false },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  let arches: LayerArch[];
  try {
    arches = parseArchList(parsed.values.arch);
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const started = performance.now();
  try {
    const manifest = await buildLayers({
      mode: parsed.values.portable ? "portable" : "compiled",
      arches,
      outDir: resolve(parsed.values.out),
      entry: resolve(parsed.values.entry),
      cacheDir: resolve(parsed.values["cache-dir"]),
      configPath: join(PROJECT_ROOT, "deno.json"),
      log: (line) => console.error(`build: ${line}`),
    });
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    for (const layer of manifest.layers) {
      console.log(
        `${layer.file}  ${layer.mode}  deno ${layer.denoVersion}  ` +
          `zip ${formatMiB(layer.size)}  unpacked ${
            formatMiB(layer.unpackedSize)
          }  ` +
          `verified: ${layer.verified}  sha256 ${layer.sha256}`,
      );
    }
    console.log(`built in ${seconds} s into ${resolve(parsed.values.out)}`);
    return 0;
  } catch (error) {
    if (error instanceof BuildError) {
      console.error(`build failed: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}

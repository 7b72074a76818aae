/**
 * Finds and checks the layer zips the build writes, before any resource is
 * declared: a missing or broken zip must stop `pulumi up` at once with the
 * command that makes it, not with a provider error halfway through.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Architecture, ARCHITECTURES } from "./runtimes.ts";

/** Path of the extension inside a layer zip (unpacked under `/opt`). */
export const EXTENSION_ENTRY = "extensions/kinesis-telemetry";

/** The command that writes the zips, named in every error. */
export const BUILD_COMMAND = "npx -y deno@2 task build";

/**
 * Largest zip Lambda takes in a direct upload (`CodeSizeZipped`, 50 MiB);
 * this program publishes layers that way, not through S3.
 */
export const MAX_DIRECT_UPLOAD_BYTES = 50 * 1024 * 1024;

/** Name of the build's manifest beside the zips. */
export const MANIFEST_FILE = "manifest.json";

/** What the build's manifest says about one zip (the fields read here). */
export interface ManifestLayer {
  /** Zip file name. */
  file: string;
  /** Architecture it was built for. */
  arch: string;
  /** Hex SHA-256 of the zip. */
  sha256: string;
  /** `compiled` or `portable`. */
  mode?: string;
  /** Deno version inside the layer. */
  denoVersion?: string;
}

/** One layer zip, ready to publish. */
export interface LayerArtifact {
  /** Architecture the zip was built for. */
  architecture: Architecture;
  /** Absolute or project-relative path of the zip. */
  zipPath: string;
  /** Base64 SHA-256 of the zip, Lambda's `sourceCodeHash` format. */
  sha256Base64: string;
  /** Size of the zip in bytes. */
  sizeBytes: number;
  /** The manifest's entry for the zip, when the folder has a manifest. */
  manifest: ManifestLayer | undefined;
}

/** The zips are missing, unreadable, or not layers of this extension. */
export class LayerArtifactError extends Error {
  /** Creates the error; the message says how to rebuild. */
  constructor(message: string) {
    super(message);
    this.name = "LayerArtifactError";
  }
}

/** File name of the zip for one architecture, as the build names it. */
export function layerZipName(architecture: Architecture): string {
  return `kinesis-telemetry-${architecture}.zip`;
}

/**
 * Reads both layer zips from `layerDir`, checks that each holds an
 * executable `extensions/kinesis-telemetry`, and hashes them. When the
 * build's `manifest.json` is beside them, each zip must be the one it
 * describes (same SHA-256, same architecture): a zip copied over from
 * another build, or renamed to the other architecture, is refused. Throws
 * {@linkcode LayerArtifactError} naming the build command otherwise.
 */
export function readLayerArtifacts(
  layerDir: string,
): Record<Architecture, LayerArtifact> {
  const missing = ARCHITECTURES.map((arch) =>
    join(layerDir, layerZipName(arch))
  )
    .filter((zipPath) => !existsSync(zipPath));
  if (missing.length > 0) {
    throw new LayerArtifactError(
      `Layer zip${missing.length > 1 ? "s" : ""} not found: ${
        missing.join(", ")
      }. ` +
        `Build them first with \`${BUILD_COMMAND}\` (or \`${BUILD_COMMAND} --portable\` ` +
        `where Deno's denort download is unreachable), or set the stack's layerDir ` +
        `to the folder that holds them.`,
    );
  }
  const manifest = readManifest(join(layerDir, MANIFEST_FILE));
  const [x86_64, arm64] = ARCHITECTURES.map((arch) =>
    readOneArtifact(arch, join(layerDir, layerZipName(arch)), manifest)
  );
  return { x86_64, arm64 };
}

function readManifest(path: string): ManifestLayer[] | undefined {
  if (!existsSync(path)) return undefined;
  let layers: unknown;
  try {
    layers = JSON.parse(readFileSync(path, "utf8")).layers;
  } catch (error) {
    throw new LayerArtifactError(
      `${path} is not valid JSON (${
        (error as Error).message
      }). Rebuild with \`${BUILD_COMMAND}\`.`,
    );
  }
  const wellFormed = Array.isArray(layers) &&
    layers.every((entry) =>
      typeof entry?.file === "string" && typeof entry?.arch === "string" &&
      typeof entry?.sha256 === "string"
    );
  if (!wellFormed) {
    throw new LayerArtifactError(
      `${path} has no "layers" list of {file, arch, sha256}. Rebuild with \`${BUILD_COMMAND}\`.`,
    );
  }
  return layers as ManifestLayer[];
}

function readOneArtifact(
  architecture: Architecture,
  zipPath: string,
  manifest: ManifestLayer[] | undefined,
): LayerArtifact {
  const bytes = readFileSync(zipPath);
  const digest = createHash("sha256").update(bytes).digest();
  if (bytes.byteLength > MAX_DIRECT_UPLOAD_BYTES) {
    throw new LayerArtifactError(
      `${zipPath} is ${
        (bytes.byteLength / 1024 / 1024).toFixed(1)
      } MiB, over the 50 MiB Lambda ` +
        `takes in a direct upload; publish it through S3 instead of this program.`,
    );
  }
  const entries = listZipEntries(bytes);
  if (!entries) {
    throw new LayerArtifactError(
      `${zipPath} is not a zip archive. Rebuild it with \`${BUILD_COMMAND}\`.`,
    );
  }
  const extension = entries.find((entry) => entry.path === EXTENSION_ENTRY);
  if (!extension) {
    throw new LayerArtifactError(
      `${zipPath} has no ${EXTENSION_ENTRY}, so Lambda would not start the extension. ` +
        `Rebuild it with \`${BUILD_COMMAND}\`.`,
    );
  }
  // Zips made on Windows carry no Unix mode (0): Lambda then keeps the file
  // as it is, so only a mode that is present and lacks execute bits is wrong.
  if (extension.mode !== 0 && (extension.mode & 0o111) === 0) {
    throw new LayerArtifactError(
      `${zipPath}: ${EXTENSION_ENTRY} is not executable (mode ${
        extension.mode.toString(8)
      }), so Lambda could not start it. Rebuild it with \`${BUILD_COMMAND}\`.`,
    );
  }
  const sha256Hex = digest.toString("hex");
  const entry = manifest?.find((layer) =>
    layer.file === layerZipName(architecture)
  );
  if (manifest && !entry) {
    throw new LayerArtifactError(
      `${MANIFEST_FILE} beside ${zipPath} does not list it: the zip is not from that build. ` +
        `Rebuild both layers with \`${BUILD_COMMAND}\`.`,
    );
  }
  if (entry && entry.arch !== architecture) {
    throw new LayerArtifactError(
      `${zipPath} was built for ${entry.arch} (says ${MANIFEST_FILE}), not ${architecture}: ` +
        `a function would fail with "exec format error". Rebuild with \`${BUILD_COMMAND}\`.`,
    );
  }
  if (entry && entry.sha256.toLowerCase() !== sha256Hex) {
    throw new LayerArtifactError(
      `${zipPath} is not the zip ${MANIFEST_FILE} describes (SHA-256 ${sha256Hex}, manifest ${entry.sha256}): ` +
        `it was replaced or the build was interrupted. Rebuild with \`${BUILD_COMMAND}\`.`,
    );
  }
  return {
    architecture,
    zipPath,
    sha256Base64: digest.toString("base64"),
    sizeBytes: bytes.byteLength,
    manifest: entry,
  };
}

/** One entry of a zip's central directory. */
export interface ZipEntryInfo {
  /** Path inside the archive. */
  path: string;
  /** Unix permission bits (0 when the zip was not made on Unix). */
  mode: number;
}

const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const CENTRAL_DIRECTORY_HEADER = 0x02014b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;

/**
 * Lists a zip's entries from its central directory (names and Unix modes
 * only; nothing is inflated). Returns undefined when `bytes` is not a zip.
 */
export function listZipEntries(bytes: Uint8Array): ZipEntryInfo[] | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lowest = Math.max(0, bytes.byteLength - EOCD_SIZE - MAX_COMMENT);
  let eocd = -1;
  for (let at = bytes.byteLength - EOCD_SIZE; at >= lowest; at--) {
    if (view.getUint32(at, true) === END_OF_CENTRAL_DIRECTORY) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) return undefined;
  const count = view.getUint16(eocd + 10, true);
  let at = view.getUint32(eocd + 16, true);
  const decoder = new TextDecoder();
  const entries: ZipEntryInfo[] = [];
  for (let i = 0; i < count; i++) {
    if (
      at + 46 > eocd || view.getUint32(at, true) !== CENTRAL_DIRECTORY_HEADER
    ) {
      return undefined;
    }
    const madeOnUnix = view.getUint8(at + 5) === 3;
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    const externalAttributes = view.getUint32(at + 38, true);
    const name = decoder.decode(bytes.subarray(at + 46, at + 46 + nameLength));
    entries.push({
      path: name,
      mode: madeOnUnix ? (externalAttributes >>> 16) & 0o7777 : 0,
    });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

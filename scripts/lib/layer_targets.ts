/**
 * The two layer architectures and what each one means to the build: Rust
 * target triple for `deno compile`, ELF machine of its binaries, the zip name
 * the infra program reads, and the environment variable naming its denort.
 *
 * @module
 */

/** Lambda architecture names, as the layer zips and the infra call them. */
export type LayerArch = "x86_64" | "arm64";

/** Everything the build needs to know about one architecture. */
export interface LayerTarget {
  /** Lambda's name for the architecture. */
  arch: LayerArch;
  /** Target triple for `deno compile --target`. */
  target: "x86_64-unknown-linux-gnu" | "aarch64-unknown-linux-gnu";
  /** `e_machine` of an ELF binary for this architecture. */
  elfMachine: number;
  /** File name of the layer zip under `dist/`. */
  zipName: string;
  /** Variable that points at a denort binary for this target. */
  denortVariable: string;
}

/** Every supported architecture, in build order. */
export const LAYER_TARGETS: Readonly<Record<LayerArch, LayerTarget>> = {
  x86_64: {
    arch: "x86_64",
    target: "x86_64-unknown-linux-gnu",
    elfMachine: 62,
    zipName: "kinesis-telemetry-x86_64.zip",
    denortVariable: "DENORT_BIN_X86_64",
  },
  arm64: {
    arch: "arm64",
    target: "aarch64-unknown-linux-gnu",
    elfMachine: 183,
    zipName: "kinesis-telemetry-arm64.zip",
    denortVariable: "DENORT_BIN_AARCH64",
  },
};

/** All architectures. */
export const ALL_LAYER_ARCHES: readonly LayerArch[] = ["x86_64", "arm64"];

/** Parses `x86_64`, `arm64` or `all` (also accepts `amd64` and `aarch64`). */
export function parseArchList(value: string): LayerArch[] {
  switch (value) {
    case "all":
      return [...ALL_LAYER_ARCHES];
    case "x86_64":
    case "amd64":
      return ["x86_64"];
    case "arm64":
    case "aarch64":
      return ["arm64"];
    default:
      throw new Error(
        `unknown architecture "${value}" (expected x86_64, arm64 or all)`,
      );
  }
}

/** The layer architecture this process runs on, if it is a Linux one. */
export function hostLayerArch(): LayerArch | undefined {
  if (Deno.build.os !== "linux") return undefined;
  if (Deno.build.arch === "x86_64") return "x86_64";
  if (Deno.build.arch === "aarch64") return "arm64";
  return undefined;
}

/**
 * `e_machine` of a 64-bit little-endian ELF file, or undefined when the bytes
 * are not one (a script, a zip, a big-endian binary).
 */
export function elfMachineOf(header: Uint8Array): number | undefined {
  const isElf = header.length >= 20 && header[0] === 0x7f &&
    header[1] === 0x45 && header[2] === 0x4c && header[3] === 0x46;
  // EI_CLASS 2 = 64-bit, EI_DATA 1 = little-endian.
  if (!isElf || header[4] !== 2 || header[5] !== 1) return undefined;
  return header[18] | (header[19] << 8);
}

/** Reads the ELF machine of a file (first 20 bytes only). */
export async function elfMachineOfFile(
  path: string,
): Promise<number | undefined> {
  const file = await Deno.open(path, { read: true });
  try {
    const header = new Uint8Array(20);
    let filled = 0;
    while (filled < header.length) {
      const n = await file.read(header.subarray(filled));
      if (n === null) break;
      filled += n;
    }
    return elfMachineOf(header.subarray(0, filled));
  } finally {
    file.close();
  }
}

/** Human name of an ELF machine number, for error messages. */
export function describeElfMachine(machine: number | undefined): string {
  for (const target of Object.values(LAYER_TARGETS)) {
    if (target.elfMachine === machine) return `${target.arch} ELF`;
  }
  return machine === undefined
    ? "not a 64-bit little-endian ELF"
    : `ELF machine ${machine}`;
}

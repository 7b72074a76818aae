/**
 * Finds a way to run arm64 Linux binaries on an x86_64 builder: Debian's
 * `qemu-aarch64-static` (user mode) with an aarch64 glibc as its sysroot.
 * `scripts/ci_setup_qemu.sh` unpacks both into the build cache folder.
 *
 * @module
 */
import { join } from "node:path";
import { defaultBuildCacheDir } from "./stock_deno.ts";

/** A qemu-user emulator and the folder its `-L` option needs. */
export interface Aarch64Emulator {
  /** Path of `qemu-aarch64-static`. */
  qemu: string;
  /** Sysroot holding `lib/ld-linux-aarch64.so.1` and the aarch64 libc. */
  sysroot: string;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Folder where `scripts/ci_setup_qemu.sh` unpacks the Debian packages. */
export function qemuCacheDir(cacheDir = defaultBuildCacheDir()): string {
  return join(cacheDir, "qemu");
}

/**
 * Looks for qemu, in order: `$QEMU_AARCH64` with `$QEMU_AARCH64_SYSROOT`,
 * the build cache folder, then a system-wide install (`apt-get install
 * qemu-user-static libc6-arm64-cross`). Undefined when there is none.
 */
export async function findAarch64Emulator(
  cacheDir = defaultBuildCacheDir(),
): Promise<Aarch64Emulator | undefined> {
  const candidates: Aarch64Emulator[] = [];
  const fromEnv = Deno.env.get("QEMU_AARCH64");
  if (fromEnv) {
    candidates.push({
      qemu: fromEnv,
      sysroot: Deno.env.get("QEMU_AARCH64_SYSROOT") ?? "/usr/aarch64-linux-gnu",
    });
  }
  const cached = qemuCacheDir(cacheDir);
  candidates.push({
    qemu: join(cached, "usr", "bin", "qemu-aarch64-static"),
    sysroot: join(cached, "usr", "aarch64-linux-gnu"),
  });
  candidates.push({
    qemu: "/usr/bin/qemu-aarch64-static",
    sysroot: "/usr/aarch64-linux-gnu",
  });
  for (const candidate of candidates) {
    const loader = join(candidate.sysroot, "lib", "ld-linux-aarch64.so.1");
    if ((await exists(candidate.qemu)) && (await exists(loader))) {
      return candidate;
    }
  }
  return undefined;
}

/** The command line that runs an aarch64 `binary` with `args` under qemu. */
export function emulatedCommand(
  emulator: Aarch64Emulator,
  binary: string,
  args: readonly string[],
): { command: string; args: string[] } {
  return {
    command: emulator.qemu,
    args: ["-L", emulator.sysroot, binary, ...args],
  };
}

/**
 * A POSIX sh wrapper that runs `binary` under qemu with the arguments it was
 * given: put in place of an arm64 executable, it lets an x86_64 host start
 * that executable by path (the sandbox does).
 */
export function renderEmulatorWrapper(
  emulator: Aarch64Emulator,
  binary: string,
): string {
  const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;
  return `#!/bin/sh\nexec ${quote(emulator.qemu)} -L ${
    quote(emulator.sysroot)
  } ${quote(binary)} "$@"\n`;
}

/**
 * A child process of the sandbox (an extension or a function runtime) in its
 * own process group, so freezing, thawing and killing reach every process it
 * started (a layer's launcher script and the binary it runs, for example).
 *
 * @module
 */
import { forEachLine } from "./lines.ts";

/** Which stream of the child a line came from. */
export type OutputStream = "stdout" | "stderr";

/** How to start a child. */
export interface ProcessSpec {
  /** Label used in errors and logs (the extension name, or "runtime"). */
  label: string;
  /** Executable and arguments. */
  argv: readonly string[];
  /** The complete environment (nothing is inherited). */
  env: Record<string, string>;
  /** Working directory. */
  cwd?: string;
  /** Called for every output line, in order per stream. */
  onLine(line: string, stream: OutputStream): void;
}

/** How a child ended. */
export interface ProcessExit {
  /** Exit code (128 + signal number when killed by a signal). */
  code: number;
  /** The signal that ended it, if any. */
  signal: string | null;
  /** performance.now() when the sandbox saw it end. */
  at: number;
}

/** A started child. */
export interface ManagedProcess {
  /** Label from the spec. */
  readonly label: string;
  /** Process id (also the id of its process group). */
  readonly pid: number;
  /** Resolves when the process ended and both output streams were read to the end. */
  readonly exited: Promise<ProcessExit>;
  /** Set once the process ended. */
  readonly exit: ProcessExit | null;
  /** Sends a signal to the whole process group; ignored once it ended. */
  signal(signal: Deno.Signal): void;
  /** Peak resident memory of the main process in KiB (VmHWM), 0 when unknown. */
  peakMemoryKiB(): Promise<number>;
  /**
   * Resolves once the main process is stopped (SIGSTOP is delivered
   * asynchronously), it ended, or `timeoutMs` passed; true when stopped.
   */
  waitStopped(timeoutMs: number): Promise<boolean>;
}

/** Starts a child with piped output in a new process group. */
export function startProcess(spec: ProcessSpec): ManagedProcess {
  const [executable, ...args] = spec.argv;
  if (!executable) throw new Error(`${spec.label}: empty command`);
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(executable, {
      args,
      env: spec.env,
      clearEnv: true,
      cwd: spec.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      // A new session (and so process group) per child: signals reach the
      // whole tree and the sandbox's own terminal signals do not.
      detached: true,
    }).spawn();
  } catch (error) {
    throw new Error(
      `${spec.label}: cannot start ${executable}: ${
        error instanceof Error ? error.message : error
      }`,
    );
  }
  const stdoutDone = forEachLine(
    child.stdout,
    (line) => spec.onLine(line, "stdout"),
  );
  const stderrDone = forEachLine(
    child.stderr,
    (line) => spec.onLine(line, "stderr"),
  );
  let exit: ProcessExit | null = null;
  let statusSeen = false;
  const exited = child.status.then(async (status) => {
    statusSeen = true;
    const at = performance.now();
    // The group may hold children that still write to our pipes: end them so
    // reading the pipes to the end cannot hang.
    signalGroup(child.pid, "SIGKILL");
    await Promise.allSettled([stdoutDone, stderrDone]);
    exit = {
      code: status.code,
      signal: status.signal ?? null,
      at,
    };
    return exit;
  });
  return {
    label: spec.label,
    pid: child.pid,
    exited,
    get exit() {
      return exit;
    },
    signal(signal) {
      if (!statusSeen) signalGroup(child.pid, signal);
    },
    async waitStopped(timeoutMs) {
      const deadline = performance.now() + timeoutMs;
      while (!statusSeen) {
        const state = await processState(child.pid);
        if (state === "T" || state === "t") return true;
        if (state === null || state === "Z") return false;
        if (performance.now() > deadline) return false;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      return false;
    },
    async peakMemoryKiB() {
      const status = await readProcStatus(child.pid);
      const match = status && /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
      return match ? Number(match[1]) : 0;
    },
  };
}

/** The scheduler state letter of a process (`T` when stopped), or null when gone. */
export async function processState(pid: number): Promise<string | null> {
  const status = await readProcStatus(pid);
  return (status && /^State:\s+(\S)/m.exec(status)?.[1]) ?? null;
}

/**
 * `/proc/<pid>/status`, or null when the process is gone. Deno grants
 * `/proc/<pid>` only with --allow-all; without it `cat` reads it (--allow-run).
 */
export async function readProcStatus(pid: number): Promise<string | null> {
  const path = `/proc/${pid}/status`;
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotCapable)) return null;
  }
  try {
    const { success, stdout } = await new Deno.Command("cat", {
      args: [path],
      stdout: "piped",
      stderr: "null",
    }).output();
    return success ? new TextDecoder().decode(stdout) : null;
  } catch {
    return null;
  }
}

function signalGroup(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

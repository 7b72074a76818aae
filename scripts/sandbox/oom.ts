/**
 * OOM kills as Lambda reports them: a process of the environment that the
 * memory cgroup killed fails the invocation with `Runtime.OutOfMemory` (the
 * runtime) or `Extension.Crash` (an extension), and the environment resets.
 *
 * @module
 */
import type { SandboxCgroup } from "./cgroup.ts";
import type { ShutdownReport } from "./sandbox.ts";

/** Which process the memory limit killed, with Lambda's error type for it. */
export interface OutOfMemoryCause {
  /** `runtime` or the extension's name. */
  process: string;
  /** `Runtime.OutOfMemory` or `Extension.Crash`. */
  errorType: "Runtime.OutOfMemory" | "Extension.Crash";
  /** OOM kills the cgroup counted. */
  oomKills: number;
}

/** The environment was reset after an OOM kill; the invocation failed. */
export class EnvironmentResetError extends Error {
  constructor(
    /** What was killed. */
    readonly oom: OutOfMemoryCause,
    /** The invocation that failed. */
    readonly requestId: string,
    /** The SHUTDOWN (reason FAILURE) of the reset, when it ran. */
    readonly shutdown: ShutdownReport | null,
    cause: unknown,
  ) {
    super(
      `${oom.errorType}: ${oom.process} was OOM-killed by the memory limit (${oom.oomKills} kill(s)); the environment was reset`,
      { cause },
    );
    this.name = "EnvironmentResetError";
  }
}

/** A process-ended error (carried as `cause`) with the label of the process. */
interface EndedProcess {
  label: string;
  exit: { signal: string | null };
}

function endedProcess(error: unknown): EndedProcess | null {
  const cause = (error as { cause?: unknown } | null)?.cause as
    | Partial<EndedProcess>
    | undefined;
  return cause && typeof cause.label === "string" && cause.exit
    ? cause as EndedProcess
    : null;
}

/**
 * The OOM behind `error`, or null: a process ended by SIGKILL while the
 * cgroup counted an OOM kill.
 */
export async function outOfMemoryCause(
  error: unknown,
  cgroup: SandboxCgroup | null,
): Promise<OutOfMemoryCause | null> {
  if (!cgroup) return null;
  const ended = endedProcess(error);
  if (!ended || ended.exit.signal !== "SIGKILL") return null;
  const oomKills = await cgroup.oomKills();
  if (oomKills === 0) return null;
  return {
    process: ended.label,
    errorType: ended.label === "runtime"
      ? "Runtime.OutOfMemory"
      : "Extension.Crash",
    oomKills,
  };
}

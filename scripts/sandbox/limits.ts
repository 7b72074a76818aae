/**
 * Lambda's CPU share and memory limit for one sandbox: opens its cgroup
 * when the machine allows it, and says once per process, loudly, when it
 * does not (the sandbox then runs unconstrained and reports so).
 *
 * @module
 */
import {
  type CgroupProbe,
  createSandboxCgroup,
  probeCgroups,
  type SandboxCgroup,
} from "./cgroup.ts";

/** How a sandbox holds its processes to Lambda's limits. */
export interface LambdaLimitsOptions {
  /**
   * Hold the INIT phase to the CPU quota too (false). Lambda does not
   * document it; community measurements say init runs unthrottled.
   */
  cpuQuotaDuringInit?: boolean;
  /** Fail instead of running unconstrained when cgroups cannot be used (false). */
  required?: boolean;
}

/** What limits a sandbox runs under. */
export interface LimitsStatus {
  /** True when the cgroup with quota and limit is in force. */
  enforced: boolean;
  /** M, the function's memory in MB. */
  memoryMB: number;
  /** Why not, when not enforced (`disabled` when the caller turned them off). */
  reason?: string;
  /** cgroup version and folders, when enforced. */
  cgroup?: string;
  /** CPU quota in µs per 100 ms period, when enforced. */
  cpuQuotaUs?: number;
  /** Whether init ran under the quota. */
  cpuQuotaDuringInit: boolean;
  /** `cgroup` freezer or `signal` (SIGSTOP per process group). */
  freezer: "cgroup" | "signal";
}

let probe: Promise<CgroupProbe> | null = null;
let warned = false;

/** The machine's cgroup support, probed once per process. */
export function cgroupSupport(): Promise<CgroupProbe> {
  probe ??= probeCgroups();
  return probe;
}

/** Prints the "running without limits" warning the first time only. */
export function warnUnconstrainedOnce(
  reason: string,
  print: (line: string) => void = console.error,
): void {
  if (warned) return;
  warned = true;
  print(
    `sandbox: WITHOUT Lambda's CPU share and memory limit (${reason}); figures are unconstrained`,
  );
}

/** Opens the cgroup of a sandbox, or says why it runs without one. */
export async function openLimits(
  memoryMB: number,
  options: LambdaLimitsOptions | false,
): Promise<{ cgroup: SandboxCgroup | null; status: LimitsStatus }> {
  const unconstrained = (reason: string) => ({
    cgroup: null,
    status: {
      enforced: false,
      memoryMB,
      reason,
      cpuQuotaDuringInit: false,
      freezer: "signal" as const,
    },
  });
  if (options === false) return unconstrained("disabled");
  const support = await cgroupSupport();
  if (!support.ok) {
    if (options.required) {
      throw new Error(`sandbox: Lambda limits required but ${support.reason}`);
    }
    warnUnconstrainedOnce(support.reason);
    return unconstrained(support.reason);
  }
  const cpuQuotaDuringInit = options.cpuQuotaDuringInit ?? false;
  const cgroup = await createSandboxCgroup(support.layout, {
    memoryMB,
    cpuQuotaFromStart: cpuQuotaDuringInit,
  });
  return {
    cgroup,
    status: {
      enforced: true,
      memoryMB,
      cgroup: `v${cgroup.version} ${cgroup.description}`,
      cpuQuotaUs: cgroup.quotaUs,
      cpuQuotaDuringInit,
      freezer: "cgroup",
    },
  };
}

/**
 * The `/proc/<pid>/status` state letter of a frozen process: `T` when
 * stopped by SIGSTOP, `D` when held by the cgroup freezer.
 */
export const FROZEN_STATE: Record<LimitsStatus["freezer"], string> = {
  cgroup: "D",
  signal: "T",
};

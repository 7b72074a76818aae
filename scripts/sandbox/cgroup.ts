/**
 * One cgroup per execution environment, as Lambda has: the function runtime
 * and every extension share a CPU quota of M/1,769 of one vCPU and a memory
 * limit of M MB, and are frozen between invocations by the cgroup freezer.
 *
 * cgroup v1 (separate `cpu`, `memory` and `freezer` hierarchies under
 * `/sys/fs/cgroup`) and v2 (one unified hierarchy with the `cpu` and
 * `memory` controllers enabled) are both handled. Processes enter the cgroup
 * before they `exec` (see {@linkcode SandboxCgroup.wrap}), so nothing they
 * start escapes it and their init is accounted too.
 *
 * @module
 */

/** Memory of one vCPU in Lambda: M MB of memory buys M/1,769 of a vCPU. */
export const MB_PER_VCPU = 1_769;

/** CFS period used for the quota (the kernel's default, 100 ms). */
export const CFS_PERIOD_US = 100_000;

/** Root of the cgroup filesystems. */
const CGROUP_ROOT = "/sys/fs/cgroup";

/** Which cgroup layout the machine has. */
export type CgroupLayout =
  | { version: 1; cpu: string; memory: string; freezer: string }
  | { version: 2; root: string };

/** Whether cgroups can be used here, and if not, why. */
export type CgroupProbe =
  | { ok: true; layout: CgroupLayout }
  | { ok: false; reason: string };

/** The CPU quota of an M MB function, in µs per {@linkcode CFS_PERIOD_US}. */
export function cpuQuotaUs(memoryMB: number): number {
  // The kernel refuses quotas under 1 ms.
  return Math.max(1_000, Math.round(memoryMB / MB_PER_VCPU * CFS_PERIOD_US));
}

/**
 * Parses `/proc/self/cgroup` into controller → path (v1 lines
 * `N:cpu,cpuacct:/path`; the v2 line `0::/path` under the key "").
 */
export function parseProcCgroup(text: string): Map<string, string> {
  const paths = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line.trim());
    if (!match) continue;
    const [, controllers, path] = match;
    if (controllers === "") paths.set("", path);
    for (const controller of controllers.split(",")) {
      if (controller) paths.set(controller, path);
    }
  }
  return paths;
}

/** Finds a usable cgroup layout, or says why there is none. */
export async function probeCgroups(): Promise<CgroupProbe> {
  if (Deno.build.os !== "linux") {
    return { ok: false, reason: `cgroups are Linux only (${Deno.build.os})` };
  }
  if (Deno.uid() !== 0) {
    return {
      ok: false,
      reason: `creating cgroups needs root (running as uid ${Deno.uid()})`,
    };
  }
  try {
    await Deno.stat(CGROUP_ROOT);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      return {
        ok: false,
        reason: `Deno opens ${CGROUP_ROOT} only with --allow-all (-A)`,
      };
    }
  }
  const text = await readOwnCgroups();
  if (typeof text !== "string") return { ok: false, reason: text.error };
  const own = parseProcCgroup(text);
  // v1: one hierarchy per controller, each mounted in its own folder.
  const v1: Record<string, string> = {};
  const missing: string[] = [];
  for (const controller of ["cpu", "memory", "freezer"]) {
    const mount = `${CGROUP_ROOT}/${controller}`;
    if (await exists(`${mount}/cgroup.procs`) && own.has(controller)) {
      // Below our own cgroup, so limits set above us still hold.
      v1[controller] = join(mount, own.get(controller)!);
    } else missing.push(controller);
  }
  if (missing.length === 0) {
    return {
      ok: true,
      layout: {
        version: 1,
        cpu: v1.cpu,
        memory: v1.memory,
        freezer: v1.freezer,
      },
    };
  }
  // v2: the unified hierarchy, at the root or beside v1 controllers.
  for (const mount of [CGROUP_ROOT, `${CGROUP_ROOT}/unified`]) {
    const controllers = await readOr(`${mount}/cgroup.controllers`, null);
    if (controllers === null) continue;
    const have = controllers.trim().split(/\s+/);
    if (have.includes("cpu") && have.includes("memory")) {
      return {
        ok: true,
        layout: { version: 2, root: join(mount, own.get("") ?? "/") },
      };
    }
  }
  return {
    ok: false,
    reason: `cgroup v1 controllers missing (${
      missing.join(", ")
    }) and no cgroup v2 hierarchy with cpu and memory`,
  };
}

/**
 * `/proc/self/cgroup`. Deno grants `/proc/self` only with --allow-all;
 * without it a `cat` child (same cgroups as this process) reads it.
 */
async function readOwnCgroups(): Promise<string | { error: string }> {
  try {
    return await Deno.readTextFile("/proc/self/cgroup");
  } catch (error) {
    if (!(error instanceof Deno.errors.NotCapable)) {
      return { error: `cannot read /proc/self/cgroup: ${error}` };
    }
  }
  try {
    const { success, stdout } = await new Deno.Command("cat", {
      args: ["/proc/self/cgroup"],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (success) return new TextDecoder().decode(stdout);
  } catch (error) {
    return { error: `cannot read /proc/self/cgroup: ${error}` };
  }
  return { error: "cannot read /proc/self/cgroup" };
}

/** Settings of one environment's cgroup. */
export interface CgroupLimits {
  /** M: the function's memory in MB (the memory limit, and M/1,769 vCPU). */
  memoryMB: number;
  /** Apply the CPU quota from the start (else only once {@linkcode SandboxCgroup.applyCpuQuota} is called). */
  cpuQuotaFromStart: boolean;
}

/** A live cgroup of one execution environment. */
export interface SandboxCgroup {
  /** cgroup version in use. */
  readonly version: 1 | 2;
  /** A name for messages: the folder(s) it lives in. */
  readonly description: string;
  /** The quota in µs per {@linkcode CFS_PERIOD_US}. */
  readonly quotaUs: number;
  /** The memory limit in bytes. */
  readonly limitBytes: number;
  /** `argv` prefixed so the process joins the cgroup and then execs `argv`. */
  wrap(argv: readonly string[]): string[];
  /** Sets the CPU quota (when it was not set from the start). */
  applyCpuQuota(): Promise<void>;
  /** Freezes every process of the cgroup; resolves once the kernel says FROZEN. */
  freeze(timeoutMs: number): Promise<boolean>;
  /** Thaws every process of the cgroup. */
  thaw(): Promise<void>;
  /** OOM kills in the cgroup so far. */
  oomKills(): Promise<number>;
  /** Peak memory of the whole environment in bytes (0 when unknown). */
  peakMemoryBytes(): Promise<number>;
  /** Process ids in the cgroup now. */
  pids(): Promise<number[]>;
  /** Removes the cgroup (its processes must have ended). Idempotent. */
  remove(): Promise<void>;
}

/** Prefix of every cgroup the sandbox makes: `ktsb-<owner pid>-<n>`. */
const NAME_PREFIX = "ktsb-";
let created = 0;

/**
 * The shell that moves itself into the cgroup (one `cgroup.procs` file per
 * argument before `--`) and then execs the real command, so the command and
 * all it starts are inside from their first instruction.
 */
const ENTER_SCRIPT =
  'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';

/** Creates the cgroup of one environment with its limits. */
export async function createSandboxCgroup(
  layout: CgroupLayout,
  limits: CgroupLimits,
): Promise<SandboxCgroup> {
  const name = `${NAME_PREFIX}${Deno.pid}-${++created}`;
  const quotaUs = cpuQuotaUs(limits.memoryMB);
  const limitBytes = limits.memoryMB * 1024 * 1024;
  const cgroup = layout.version === 1
    ? await createV1(layout, name, quotaUs, limitBytes)
    : await createV2(layout, name, quotaUs, limitBytes);
  try {
    if (limits.cpuQuotaFromStart) await cgroup.applyCpuQuota();
  } catch (error) {
    await cgroup.remove();
    throw error;
  }
  return cgroup;
}

async function createV1(
  layout: Extract<CgroupLayout, { version: 1 }>,
  name: string,
  quotaUs: number,
  limitBytes: number,
): Promise<SandboxCgroup> {
  const dirs = {
    cpu: `${layout.cpu}/${name}`,
    memory: `${layout.memory}/${name}`,
    freezer: `${layout.freezer}/${name}`,
  };
  await sweepStale([layout.cpu, layout.memory, layout.freezer]);
  const made: string[] = [];
  const remove = async () => {
    for (const dir of made.splice(0)) await removeDir(dir);
  };
  try {
    for (const dir of Object.values(dirs)) {
      await Deno.mkdir(dir);
      made.push(dir);
    }
    await write(`${dirs.cpu}/cpu.cfs_period_us`, String(CFS_PERIOD_US));
    await write(`${dirs.memory}/memory.limit_in_bytes`, String(limitBytes));
    // Lambda has no swap: bound memory+swap too where the kernel accounts it.
    if (await exists(`${dirs.memory}/memory.memsw.limit_in_bytes`)) {
      await write(
        `${dirs.memory}/memory.memsw.limit_in_bytes`,
        String(limitBytes),
      ).catch(() => {});
    }
  } catch (error) {
    await remove();
    throw new Error(`cannot set up cgroup ${name}: ${error}`);
  }
  return {
    version: 1,
    description: Object.values(dirs).join(", "),
    quotaUs,
    limitBytes,
    wrap: (argv) => [
      "/bin/sh",
      "-c",
      ENTER_SCRIPT,
      "cgroup-enter",
      ...Object.values(dirs).map((dir) => `${dir}/cgroup.procs`),
      "--",
      ...argv,
    ],
    applyCpuQuota: () => write(`${dirs.cpu}/cpu.cfs_quota_us`, String(quotaUs)),
    freeze: async (timeoutMs) => {
      await write(`${dirs.freezer}/freezer.state`, "FROZEN");
      return await pollFor(
        async () =>
          (await readOr(`${dirs.freezer}/freezer.state`, "")).trim() ===
            "FROZEN",
        timeoutMs,
      );
    },
    thaw: () => write(`${dirs.freezer}/freezer.state`, "THAWED"),
    oomKills: async () =>
      keyedNumber(
        await readOr(`${dirs.memory}/memory.oom_control`, ""),
        "oom_kill",
      ),
    peakMemoryBytes: async () =>
      Number(await readOr(`${dirs.memory}/memory.max_usage_in_bytes`, "0")) ||
      0,
    pids: async () =>
      parsePids(await readOr(`${dirs.memory}/cgroup.procs`, "")),
    remove,
  };
}

async function createV2(
  layout: Extract<CgroupLayout, { version: 2 }>,
  name: string,
  quotaUs: number,
  limitBytes: number,
): Promise<SandboxCgroup> {
  const dir = `${layout.root}/${name}`;
  await sweepStale([layout.root]);
  // A child gets cpu and memory only where its parent hands them down.
  await write(`${layout.root}/cgroup.subtree_control`, "+cpu +memory").catch(
    () => {},
  );
  let made = false;
  try {
    await Deno.mkdir(dir);
    made = true;
    await write(`${dir}/memory.max`, String(limitBytes));
    await write(`${dir}/memory.swap.max`, "0").catch(() => {});
  } catch (error) {
    if (made) await removeDir(dir);
    throw new Error(`cannot set up cgroup ${dir}: ${error}`);
  }
  return {
    version: 2,
    description: dir,
    quotaUs,
    limitBytes,
    wrap: (argv) => [
      "/bin/sh",
      "-c",
      ENTER_SCRIPT,
      "cgroup-enter",
      `${dir}/cgroup.procs`,
      "--",
      ...argv,
    ],
    applyCpuQuota: () => write(`${dir}/cpu.max`, `${quotaUs} ${CFS_PERIOD_US}`),
    freeze: async (timeoutMs) => {
      await write(`${dir}/cgroup.freeze`, "1");
      return await pollFor(
        async () =>
          keyedNumber(await readOr(`${dir}/cgroup.events`, ""), "frozen") ===
            1,
        timeoutMs,
      );
    },
    thaw: () => write(`${dir}/cgroup.freeze`, "0"),
    oomKills: async () =>
      keyedNumber(await readOr(`${dir}/memory.events`, ""), "oom_kill"),
    peakMemoryBytes: async () =>
      Number(await readOr(`${dir}/memory.peak`, "0")) || 0,
    pids: async () => parsePids(await readOr(`${dir}/cgroup.procs`, "")),
    remove: async () => {
      if (made) await removeDir(dir);
      made = false;
    },
  };
}

/** `key N` from a flat keyed file (memory.oom_control, memory.events). */
export function keyedNumber(text: string, key: string): number {
  const match = new RegExp(`^${key}\\s+(\\d+)`, "m").exec(text);
  return match ? Number(match[1]) : 0;
}

/**
 * Removes empty cgroups a sandbox left behind when its process died without
 * cleaning up (its owner pid is gone).
 */
async function sweepStale(parents: string[]): Promise<void> {
  for (const parent of parents) {
    try {
      for await (const entry of Deno.readDir(parent)) {
        const owner = new RegExp(`^${NAME_PREFIX}(\\d+)-\\d+$`).exec(
          entry.name,
        );
        if (!entry.isDirectory || !owner) continue;
        if (await exists(`/proc/${owner[1]}`)) continue;
        await removeDir(`${parent}/${entry.name}`);
      }
    } catch {
      // Unreadable parent: nothing to sweep.
    }
  }
}

/** rmdir of a cgroup; waits a little for processes that are still exiting. */
async function removeDir(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      await Deno.remove(dir);
      return;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      // EBUSY while the last processes are reaped.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

async function pollFor(
  condition: () => Promise<boolean>,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (true) {
    if (await condition()) return true;
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

function parsePids(text: string): number[] {
  return text.split("\n").filter((line) => line.trim()).map(Number);
}

function join(mount: string, path: string): string {
  return path === "/" ? mount : `${mount}${path}`;
}

async function write(path: string, value: string): Promise<void> {
  await Deno.writeTextFile(path, value);
}

async function readOr<T>(path: string, fallback: T): Promise<string | T> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return fallback;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

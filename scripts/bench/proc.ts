/**
 * CPU time and memory of a process, read from Linux's /proc: what the
 * extension costs the function it runs beside.
 *
 * @module
 */

/** Memory figures of a process in KiB. */
export interface ProcessMemory {
  /** Resident set size now (VmRSS). */
  rssKiB: number;
  /** Peak resident set size since start (VmHWM). */
  peakRssKiB: number;
}

/**
 * Clock ticks per second of utime/stime in /proc/<pid>/stat. Linux reports
 * them in USER_HZ, which is 100 on every mainstream architecture.
 */
export const CLOCK_TICKS_PER_SECOND = 100;

/**
 * User plus system CPU seconds from the text of /proc/<pid>/stat. The
 * command name (field 2) may hold spaces and parentheses, so fields are
 * counted from the last `)`.
 *
 * @throws Error when the text is not a stat line.
 */
export function parseCpuSeconds(statText: string): number {
  const end = statText.lastIndexOf(")");
  if (end < 0) throw new Error("not a /proc/<pid>/stat line");
  // After ") " come field 3 (state) onwards; utime is field 14, stime 15.
  const fields = statText.slice(end + 2).trim().split(/\s+/);
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error("utime/stime missing from /proc/<pid>/stat line");
  }
  return (utime + stime) / CLOCK_TICKS_PER_SECOND;
}

/**
 * VmRSS and VmHWM in KiB from the text of /proc/<pid>/status.
 *
 * @throws Error when either line is missing (e.g. a zombie process).
 */
export function parseMemory(statusText: string): ProcessMemory {
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, "m").exec(
      statusText,
    );
    if (!match) throw new Error(`${name} missing from /proc/<pid>/status`);
    return Number(match[1]);
  };
  return { rssKiB: field("VmRSS"), peakRssKiB: field("VmHWM") };
}

/** CPU seconds used so far by process `pid`. */
export async function cpuSeconds(pid: number): Promise<number> {
  return parseCpuSeconds(await Deno.readTextFile(`/proc/${pid}/stat`));
}

/** Memory of process `pid` now. */
export async function processMemory(pid: number): Promise<ProcessMemory> {
  return parseMemory(await Deno.readTextFile(`/proc/${pid}/status`));
}

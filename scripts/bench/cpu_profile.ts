/**
 * CPU profiles of a running Deno process over the V8 inspector protocol
 * (start it with `--inspect=127.0.0.1:<port>`), reduced to the functions
 * and files that took the most self time: how the bench finds what limits
 * a figure.
 *
 * Used when a target is missed: add `--inspect=127.0.0.1:<port>` to the
 * extension's command line, `startProfiling("127.0.0.1:<port>")` once it
 * runs, drive the load, then `hotSpots(await session.stop())`.
 *
 * @module
 */

/** One V8 CPU profile node (the fields used here). */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

/** A V8 CPU profile (`Profiler.stop` result). */
export interface CpuProfile {
  /** Call-tree nodes. */
  nodes: ProfileNode[];
  /** Start time (µs). */
  startTime: number;
  /** End time (µs). */
  endTime: number;
  /** Node id per sample. */
  samples?: number[];
}

/** Self time of one function or file. */
export interface HotSpot {
  /** `function (file:line)` or a file. */
  name: string;
  /** Share of all samples, in percent. */
  percent: number;
}

/** Self-time shares by function and by file, highest first. */
export function hotSpots(
  profile: CpuProfile,
  top = 15,
): { functions: HotSpot[]; files: HotSpot[] } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const functionHits = new Map<string, number>();
  const fileHits = new Map<string, number>();
  let total = 0;
  const add = (map: Map<string, number>, key: string, hits: number) =>
    map.set(key, (map.get(key) ?? 0) + hits);
  const hitsOf = new Map<number, number>();
  if (profile.samples) {
    for (const id of profile.samples) hitsOf.set(id, (hitsOf.get(id) ?? 0) + 1);
  }
  for (const node of byId.values()) {
    const hits = hitsOf.get(node.id) ?? node.hitCount ?? 0;
    if (hits === 0) continue;
    total += hits;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.replace(/^.*\/(node_modules|\.deno)\//, "npm:")
      .replace(/^file:\/\/.*?\/(extension|scripts)\//, "$1/") || "(native)";
    add(
      functionHits,
      `${functionName || "(anonymous)"} (${file}:${lineNumber + 1})`,
      hits,
    );
    add(fileHits, file, hits);
  }
  const rank = (map: Map<string, number>) =>
    [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map((
      [name, hits],
    ) => ({ name, percent: Math.round((hits / total) * 1000) / 10 }));
  return { functions: rank(functionHits), files: rank(fileHits) };
}

/** A profiler session on a process's inspector. */
export interface ProfilerSession {
  /** Stops profiling and returns the profile. */
  stop(): Promise<CpuProfile>;
}

/** Connects to the inspector at `host:port` and starts profiling. */
export async function startProfiling(
  inspector: string,
  samplingIntervalUs = 500,
): Promise<ProfilerSession> {
  const targets = await (await fetch(`http://${inspector}/json`)).json();
  const socket = new WebSocket(targets[0].webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  let nextId = 1;
  const pending = new Map<number, (result: unknown) => void>();
  socket.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.id && pending.has(data.id)) {
      pending.get(data.id)!(data.result);
      pending.delete(data.id);
    }
  };
  const call = (method: string, params: unknown = {}) =>
    new Promise<unknown>((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      socket.send(JSON.stringify({ id, method, params }));
    });
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: samplingIntervalUs });
  await call("Profiler.start");
  // A process started with --inspect-wait needs this to go on.
  await call("Runtime.runIfWaitingForDebugger");
  return {
    async stop() {
      const result = await call("Profiler.stop") as { profile: CpuProfile };
      socket.close();
      return result.profile;
    },
  };
}

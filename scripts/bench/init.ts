/**
 * Init scenario: process start → registered → subscribed → first
 * `/event/next`, and resident memory at that moment, for one process.
 *
 * @module
 */
import { launchExtension } from "./extension_process.ts";
import { startBenchPlatform } from "./platform.ts";
import { cpuSeconds, processMemory } from "./proc.ts";
import { failOnExit, sleep, within } from "./run_helpers.ts";

/** One init, in ms from spawn, and memory once parked in `/event/next`. */
export interface InitSample {
  /** Spawn → `POST /register`. */
  registerMs: number;
  /** Spawn → `PUT /telemetry`. */
  subscribeMs: number;
  /** Spawn → first `GET /event/next`. */
  firstNextMs: number;
  /** Resident memory then (KiB). */
  rssKiB: number;
  /**
   * Resident memory {@linkcode SETTLED_MS} after the first `/event/next`
   * (KiB): the extension loads the AWS SDK once parked.
   */
  settledRssKiB: number;
  /** CPU from spawn to {@linkcode SETTLED_MS} after the first `/event/next` (ms). */
  settledCpuMs: number;
}

/** How long after the first `/event/next` the settled figures are read. */
export const SETTLED_MS = 200;

/** Starts `argv` against a fresh platform, measures its init, then shuts it down. */
export async function measureInit(
  argv: readonly string[],
  env: Record<string, string>,
): Promise<InitSample> {
  const platform = startBenchPlatform();
  const extension = launchExtension({
    argv,
    runtimeApi: platform.runtimeApi,
    env,
  });
  try {
    await within(
      Promise.race([
        platform.whenWaiting(),
        failOnExit(extension.exited, "extension", extension.lines),
      ]),
      10_000,
      "init did not reach /event/next within 10 s",
    );
    const { rssKiB } = await processMemory(extension.pid);
    await sleep(SETTLED_MS);
    const settled = await processMemory(extension.pid);
    const settledCpuMs = (await cpuSeconds(extension.pid)) * 1000;
    const { registeredAt, subscribedAt, firstNextAt } = platform.timeline;
    if (!registeredAt || !subscribedAt || !firstNextAt) {
      throw new Error(
        "init reached /event/next without registering or subscribing",
      );
    }
    platform.shutdown(2_000);
    await within(extension.exited, 5_000, "extension did not exit at SHUTDOWN");
    return {
      registerMs: registeredAt - extension.spawnedAt,
      subscribeMs: subscribedAt - extension.spawnedAt,
      firstNextMs: firstNextAt - extension.spawnedAt,
      rssKiB,
      settledRssKiB: settled.rssKiB,
      settledCpuMs,
    };
  } finally {
    extension.kill();
    await extension.exited;
    await platform.close();
  }
}

/**
 * Init scenario: process start → registered → subscribed → first
 * `/event/next`, and resident memory at that moment, for one process.
 *
 * @module
 */
import { launchExtension } from "./extension_process.ts";
import { startBenchPlatform } from "./platform.ts";
import { processMemory } from "./proc.ts";
import { failOnExit, within } from "./run_helpers.ts";

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
}

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
    };
  } finally {
    extension.kill();
    await extension.exited;
    await platform.close();
  }
}

/**
 * Posts Telemetry API bodies to an extension's listener the way Lambda
 * does: one POST at a time, in order, and a refused delivery (503, buffer
 * full) is retried after a short pause instead of being dropped.
 *
 * @module
 */
import type { TelemetryEvent } from "../../extension/types.ts";
import { sleep } from "./run_helpers.ts";

/** What a posting run saw. */
export interface PostingResult {
  /** Bodies posted (acknowledged). */
  posts: number;
  /** 503 answers that were retried. */
  refusals: number;
}

/** Pause before a refused body is offered again. */
const REFUSAL_PAUSE_MS = 2;

/** Posts one body; resolves on 200, retries on 503, throws on anything else. */
export async function postBody(
  listenerUrl: string,
  body: Uint8Array<ArrayBuffer>,
  client?: Deno.HttpClient,
  signal?: AbortSignal,
): Promise<number> {
  for (let refusals = 0;; refusals++) {
    signal?.throwIfAborted();
    const response = await fetch(listenerUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      client,
    });
    await response.body?.cancel();
    if (response.status === 200) return refusals;
    if (response.status !== 503) {
      throw new Error(`listener answered ${response.status}`);
    }
    await sleep(REFUSAL_PAUSE_MS);
  }
}

/** Posts every body in order; `signal` stops it between attempts. */
export async function postAll(
  listenerUrl: string,
  bodies: readonly Uint8Array<ArrayBuffer>[],
  signal?: AbortSignal,
): Promise<PostingResult> {
  const client = Deno.createHttpClient({});
  let refusals = 0;
  try {
    for (const body of bodies) {
      refusals += await postBody(listenerUrl, body, client, signal);
    }
  } finally {
    client.close();
  }
  return { posts: bodies.length, refusals };
}

/** Posts a few events (e.g. a report) as one body. */
export async function postEvents(
  listenerUrl: string,
  events: readonly TelemetryEvent[],
): Promise<void> {
  await postBody(listenerUrl, new TextEncoder().encode(JSON.stringify(events)));
}

/** The `platform.report` Lambda sends for `requestId` after it ended. */
export function reportEvent(
  requestId: string,
  at = Date.now(),
): TelemetryEvent {
  return {
    time: new Date(at).toISOString(),
    type: "platform.report",
    record: {
      requestId,
      status: "success",
      metrics: {
        durationMs: 1.5,
        billedDurationMs: 2,
        memorySizeMB: 128,
        maxMemoryUsedMB: 70,
      },
    },
  };
}

/**
 * Bad input at the telemetry listener: what cannot be used is answered
 * with a 4xx (never a 200 that hides a loss), elements that are not events
 * are counted as dropped, unknown event types are kept, an event larger
 * than a Kinesis record is shipped truncated, and a flood beyond the
 * buffer bound is refused with 503 (Lambda retries) and counted, with
 * memory staying bounded.
 */
import assert from "node:assert/strict";
import type { TelemetryEvent } from "../../extension/types.ts";
import {
  assertAccounting,
  assertAllDelivered,
  invocationEvents,
  withWarmRig,
} from "./_rig.ts";

const time = () => new Date().toISOString();

Deno.test("bad listener input: 4xx for unusable bodies, invalid elements counted, unknown types kept, oversized events truncated", async () => {
  await withWarmRig({
    env: { KINESIS_TELEMETRY_MAX_RECORD_BYTES: String(64 * 1024) },
  }, async (rig) => {
    const status = async (body: string | Uint8Array<ArrayBuffer>) => {
      const response = await rig.api.pushTelemetry(body);
      await response.body?.cancel();
      return response.status;
    };
    assert.equal(await status("this is not JSON"), 400);
    assert.equal(await status(JSON.stringify({ type: "function" })), 400);
    assert.equal(
      await status(new Uint8Array([0x5b, 0x22, 0xff, 0xfe, 0x22, 0x5d])),
      400,
      "invalid UTF-8",
    );
    const cap = 4 * 262_144;
    assert.equal(await status("[" + " ".repeat(cap) + "]"), 413);

    const kept: TelemetryEvent = {
      time: time(),
      type: "function",
      record: "kept next to null and numbers",
    };
    assert.equal(await status(JSON.stringify([null, 42, kept, 7.5])), 200);
    rig.acknowledged.push(kept);

    const unknown: TelemetryEvent = {
      time: time(),
      type: "platform.somethingNew",
      record: { requestId: "req-new", detail: [1, 2, 3] },
    };
    const hugeText = "x".repeat(200 * 1024);
    const huge: TelemetryEvent = {
      time: time(),
      type: "function",
      record: hugeText,
    };
    const ok = await rig.push([unknown, huge]);
    assert.equal(ok.status, 200);

    await rig.invoke("req-1", invocationEvents("req-1", 3));
    const exit = await rig.shutdown();
    assert.equal(exit.code, 0);
    assert.equal(exit.summary?.rejectedBodies, 4);
    assert.equal(exit.summary?.truncated, 1);

    const stored = await rig.stored();
    const truncated = stored.filter((envelope) => envelope.truncated);
    assert.equal(truncated.length, 1, "the oversized event was shipped once");
    const [marker] = truncated;
    assert.ok(typeof marker.record === "string");
    assert.ok(hugeText.startsWith(marker.record), "record is a prefix");
    assert.ok(marker.truncated!.originalBytes > 200 * 1024);
    // Match the truncated envelope to the event it came from.
    const restored = stored.map((envelope) =>
      envelope.truncated ? { ...envelope, record: hugeText } : envelope
    );
    assert.ok(
      stored.some((envelope) => envelope.type === "platform.somethingNew"),
      "unknown type kept",
    );
    assertAccounting(exit.summary, rig.acknowledged, restored, {
      exact: rig.outcomesKnown(exit.summary),
      allDelivered: true,
      invalidElements: 3,
    }, rig);
  });
});

Deno.test("a flood beyond the buffer bound and its disk overflow is refused with 503 and counted; memory stays bounded; accepted events delivered", async () => {
  const maxBufferBytes = 1024 * 1024;
  const maxSpillBytes = 4 * 1024 * 1024;
  await withWarmRig({
    env: {
      KINESIS_TELEMETRY_MAX_BUFFER_BYTES: String(maxBufferBytes),
      KINESIS_TELEMETRY_SPILL_BYTES: String(maxSpillBytes),
    },
  }, async (rig) => {
    // Kinesis stalls, so nothing drains while the flood arrives.
    rig.proxy.configure({ hangRequests: { select: { kind: "all" } } });
    const rssBefore = residentKiB(rig.child.pid);
    let refusedEvents = 0;
    let refusedDeliveries = 0;
    const line = "y".repeat(1000);
    for (let delivery = 0; delivery < 300; delivery++) {
      const events: TelemetryEvent[] = Array.from({ length: 100 }, (_, i) => ({
        time: time(),
        type: "function",
        record: `flood ${delivery} ${i} ${line}`,
      }));
      const response = await rig.push(events);
      if (response.status === 503) {
        refusedEvents += events.length;
        refusedDeliveries++;
      } else {
        assert.equal(response.status, 200);
      }
    }
    const rssAfter = residentKiB(rig.child.pid);
    // About 30 MB offered, 5 MiB taken (memory and disk): most refused.
    assert.ok(
      refusedDeliveries > 200,
      `${refusedDeliveries} deliveries refused`,
    );
    const acceptedBytes = rig.acknowledged.reduce(
      (sum, event) => sum + JSON.stringify(event).length,
      0,
    );
    assert.ok(
      acceptedBytes > maxBufferBytes,
      `the disk took more than memory alone: ${acceptedBytes} bytes`,
    );
    assert.ok(
      acceptedBytes <= maxBufferBytes + maxSpillBytes,
      "accepted within the bounds",
    );
    // About 30 MB was offered; the V8 heap is capped at 32 MiB old space by
    // the shipped flags (a 128 MB function), so an unbounded buffer would crash.
    assert.ok(
      rssAfter - rssBefore < 64 * 1024,
      `resident memory grew ${rssAfter - rssBefore} KiB`,
    );

    rig.proxy.configure({});
    const exit = await rig.shutdown();
    assert.equal(exit.code, 0);
    // Refusals counted per delivery; those refused unread (larger than the
    // free space) have no event count, so `refused` is at most the events.
    assert.equal(exit.summary?.refusedDeliveries, refusedDeliveries);
    assert.ok(Number(exit.summary?.refused) <= refusedEvents);
    assert.ok(Number(exit.summary?.spilled) > 0, "the overflow was used");
    await assertAllDelivered(rig, exit.summary, false);
  });
});

/** Resident set size of a process, from /proc (Linux). */
function residentKiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
  assert.ok(match, "VmRSS readable");
  return Number(match[1]);
}

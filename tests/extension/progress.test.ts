import assert from "node:assert/strict";
import { InvocationProgress, startupTimers } from "../../extension/progress.ts";
import { fakeTime } from "./_core_fixtures.ts";

Deno.test("progress: has() remembers noted events by type and request id", () => {
  const progress = new InvocationProgress(fakeTime().timers);
  progress.note("platform.report", "r1");
  assert.equal(progress.has("platform.report", "r1"), true);
  assert.equal(progress.has("platform.runtimeDone", "r1"), false);
  assert.equal(progress.has("platform.report", "r2"), false);
});

Deno.test("progress: only the latest 64 request ids per type are remembered", () => {
  const progress = new InvocationProgress(fakeTime().timers);
  for (let i = 0; i < 65; i++) progress.note("platform.runtimeDone", `r${i}`);
  assert.equal(progress.has("platform.runtimeDone", "r0"), false);
  assert.equal(progress.has("platform.runtimeDone", "r1"), true);
  assert.equal(progress.has("platform.runtimeDone", "r64"), true);
});

Deno.test("progress: waitFor resolves at once for a seen event or a spent budget", async () => {
  const time = fakeTime();
  const progress = new InvocationProgress(time.timers);
  progress.note("platform.report", "seen");
  assert.equal(await progress.waitFor("platform.report", "seen", 100), true);
  assert.equal(await progress.waitFor("platform.report", "other", 0), false);
  assert.equal(await progress.waitFor("platform.report", "other", -5), false);
  assert.equal(time.pending(), 0, "no timer left behind");
});

Deno.test("progress: waitFor resolves true on arrival and clears its timer", async () => {
  const time = fakeTime();
  const progress = new InvocationProgress(time.timers);
  let result: boolean | undefined;
  const waiting = progress.waitFor("platform.runtimeDone", "r1", 1000)
    .then((seen) => result = seen);
  const other = progress.waitFor("platform.report", "r1", 1000);
  await time.tick(400);
  assert.equal(result, undefined);
  progress.note("platform.report", "r2"); // other id: no effect
  progress.note("platform.runtimeDone", "r1");
  await waiting;
  assert.equal(result, true);
  assert.equal(time.pending(), 1, "only the other waiter's timer remains");
  await time.tick(600);
  assert.equal(await other, false);
  assert.equal(time.pending(), 0);
});

Deno.test("progress: waitFor resolves false exactly when its timeout fires", async () => {
  const time = fakeTime();
  const progress = new InvocationProgress(time.timers);
  let result: boolean | undefined;
  progress.waitFor("platform.report", "late", 250).then((seen) =>
    result = seen
  );
  await time.tick(249);
  assert.equal(result, undefined);
  await time.tick(1);
  assert.equal(result, false);
  // A late arrival after the timeout changes nothing for the settled waiter.
  progress.note("platform.report", "late");
  assert.equal(result, false);
});

Deno.test("progress: several waiters for the same event all resolve", async () => {
  const time = fakeTime();
  const progress = new InvocationProgress(time.timers);
  const waits = [
    progress.waitFor("platform.report", "r", 100),
    progress.waitFor("platform.report", "r", 200),
  ];
  progress.note("platform.report", "r");
  assert.deepEqual(await Promise.all(waits), [true, true]);
  assert.equal(time.pending(), 0);
});

Deno.test("progress: deliveries are tracked; waitForDelivery wakes on the next answered one or times out", async () => {
  const time = fakeTime();
  const progress = new InvocationProgress(time.timers);
  assert.equal(progress.lastDeliveryAt, undefined);
  const woken = progress.waitForDelivery(1_000);
  progress.deliveryStarted(time.now() + 5);
  assert.equal(progress.openDeliveries, 1);
  assert.equal(progress.lastDeliveryAt, undefined);
  progress.deliveryEnded(time.now() + 7);
  assert.equal(progress.openDeliveries, 0);
  assert.equal(progress.lastDeliveryAt, time.now() + 7);
  assert.equal(await woken, true);
  assert.equal(time.pending(), 0, "the timeout was cleared");
  // A refused delivery wakes waiters but is no sign of new telemetry.
  const refused = progress.waitForDelivery(1_000);
  progress.deliveryStarted(time.now() + 8);
  progress.deliveryEnded(time.now() + 9, false);
  assert.equal(await refused, true);
  assert.equal(progress.lastDeliveryAt, time.now() + 7);
  const timedOut = progress.waitForDelivery(50);
  await time.runAll();
  assert.equal(await timedOut, false);
  assert.equal(await progress.waitForDelivery(0), false);
});

Deno.test("startupTimers: a callback runs once its time has passed, and not when cleared first", async () => {
  const fired: string[] = [];
  const kept = startupTimers.setTimeout(() => fired.push("kept"), 5);
  const cleared = startupTimers.setTimeout(() => fired.push("cleared"), 5);
  startupTimers.clearTimeout(cleared);
  assert.deepEqual(fired, []);
  // A real timer keeps the test alive while the unref'd ones run out.
  await new Promise((resolve) => setTimeout(resolve, 40));
  assert.deepEqual(fired, ["kept"]);
  startupTimers.clearTimeout(kept);
  startupTimers.clearTimeout(undefined);
});

import assert from "node:assert/strict";
import { chargeOf, EventBuffer, sizeOf } from "../../extension/buffer.ts";
import { EVENT_OVERHEAD_BYTES } from "../../extension/memory_budget.ts";
import { eventOf, textOf } from "./_core_fixtures.ts";

/** What holding one event costs beyond its envelope. */
const O = EVENT_OVERHEAD_BYTES;

const texts = (events: readonly { data: Uint8Array }[]) =>
  events.map((event) => textOf(event as Parameters<typeof textOf>[0]));

Deno.test("buffer: sizeOf sums envelope bytes, not characters", () => {
  assert.equal(sizeOf([]), 0);
  assert.equal(sizeOf([eventOf("abc"), eventOf("é€")]), 3 + 2 + 3);
});

Deno.test("buffer: chargeOf adds the per-event overhead to the envelopes", () => {
  assert.equal(chargeOf([]), 0);
  assert.equal(chargeOf([eventOf("abc"), eventOf("é€")]), 3 + 5 + 2 * O);
});

Deno.test("buffer: offer is all-or-nothing against the byte bound, overhead included", () => {
  const buffer = new EventBuffer(10 + 3 * O);
  const first = [eventOf("aaaa"), eventOf("bbbb")];
  assert.equal(buffer.offer(first, sizeOf(first)), true);
  assert.equal(buffer.length, 2);
  assert.equal(buffer.queuedBytes, 8 + 2 * O);
  assert.equal(buffer.freeBytes, 2 + O);

  const tooMuch = [eventOf("c"), eventOf("dd")];
  assert.equal(
    buffer.offer(tooMuch, sizeOf(tooMuch)),
    false,
    "3 envelope bytes fit, not the second event's overhead",
  );
  assert.equal(buffer.length, 2, "nothing of a refused offer is kept");
  assert.equal(buffer.queuedBytes, 8 + 2 * O);

  const exact = [eventOf("ee")];
  assert.equal(buffer.offer(exact, 2), true, "filling to the byte fits");
  assert.equal(buffer.freeBytes, 0);
  assert.equal(buffer.offer([], 0), true, "an empty offer always fits");
  assert.equal(
    buffer.offer([eventOf("")], 0),
    false,
    "an empty envelope still costs its overhead",
  );
  assert.deepEqual(texts(buffer.takeAll()), ["aaaa", "bbbb", "ee"]);
});

Deno.test("buffer: taken events count against the bound until settled", () => {
  const buffer = new EventBuffer(10 + 2 * O);
  buffer.offer([eventOf("12345"), eventOf("678")], 8);
  const taken = buffer.takeAll();
  assert.equal(buffer.length, 0);
  assert.equal(buffer.queuedBytes, 0);
  assert.equal(buffer.takenBytes, 8 + 2 * O);
  assert.equal(buffer.freeBytes, 2);
  assert.equal(buffer.offer([eventOf("xyz")], 3), false);

  buffer.settle(taken.slice(0, 1));
  assert.equal(buffer.takenBytes, 3 + O);
  assert.equal(buffer.freeBytes, 7 + O);
  buffer.settle(taken.slice(1));
  assert.equal(buffer.takenBytes, 0);
  assert.equal(buffer.freeBytes, 10 + 2 * O);
});

Deno.test("buffer: requeue puts events back in front, in order, and moves their bytes", () => {
  const buffer = new EventBuffer(100 + 10 * O);
  buffer.offer([eventOf("a1"), eventOf("a2"), eventOf("a3")], 6);
  const taken = buffer.takeAll();
  buffer.offer([eventOf("b1")], 2);
  buffer.settle([taken[1]]);
  buffer.requeue([taken[0], taken[2]]);
  assert.equal(buffer.takenBytes, 0);
  assert.equal(buffer.queuedBytes, 6 + 3 * O);
  assert.equal(buffer.length, 3);
  assert.deepEqual(texts(buffer.takeAll()), ["a1", "a3", "b1"]);
  assert.equal(buffer.takenBytes, 6 + 3 * O);
});

Deno.test("buffer: requeue of nothing changes nothing", () => {
  const buffer = new EventBuffer(100 + O);
  buffer.offer([eventOf("a")], 1);
  buffer.requeue([]);
  assert.equal(buffer.length, 1);
  assert.equal(buffer.queuedBytes, 1 + O);
});

Deno.test("buffer: oldestReceivedAt is the head's arrival time", () => {
  const buffer = new EventBuffer(100 + 10 * O);
  assert.equal(buffer.oldestReceivedAt, undefined);
  buffer.offer([eventOf("x", "k", 5), eventOf("y", "k", 9)], 2);
  assert.equal(buffer.oldestReceivedAt, 5);
  const taken = buffer.takeAll();
  buffer.offer([eventOf("z", "k", 20)], 1);
  buffer.requeue(taken);
  assert.equal(buffer.oldestReceivedAt, 5);
});

Deno.test("buffer: an empty buffer takes a delivery larger than its bound, then refuses more", () => {
  const buffer = new EventBuffer(10 + O);
  const large = [eventOf("0123456789abcdef")];
  assert.equal(buffer.offer(large, 16), true, "progress over a stuck 503");
  assert.equal(buffer.freeBytes, -6);
  assert.equal(buffer.offer([eventOf("x")], 1), false);
  const taken = buffer.takeAll();
  assert.equal(
    buffer.offer([eventOf("y")], 1),
    false,
    "taken, unsettled events still count",
  );
  buffer.settle(taken);
  assert.equal(buffer.offer([eventOf("y")], 1), true);
});

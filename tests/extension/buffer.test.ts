import assert from "node:assert/strict";
import { chargeOf, EventBuffer, sizeOf } from "../../extension/buffer.ts";
import { EVENT_OVERHEAD_BYTES } from "../../extension/memory_budget.ts";
import { DENO_SPILL_FILES, SpillStore } from "../../extension/spill.ts";
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

Deno.test("buffer: events put back after later ones were put back go between them by arrival", () => {
  const buffer = new EventBuffer(100 + 10 * O);
  buffer.offer([eventOf("a", "k", 1), eventOf("b", "k", 2)], 2);
  const older = buffer.takeAll(); // carried
  buffer.offer([eventOf("c", "k", 3), eventOf("e", "k", 5)], 2);
  const newer = buffer.takeAll();
  buffer.offer([eventOf("d", "k", 4)], 1);
  buffer.requeue(newer); // d arrived between c and e
  buffer.requeue(older); // the carried request ends last
  assert.deepEqual(texts(buffer.takeAll()), ["a", "b", "c", "d", "e"]);
  const later = [eventOf("x", "k", 10), eventOf("z", "k", 30)];
  buffer.offer(later, 2);
  const both = buffer.takeAll();
  buffer.offer([eventOf("y", "k", 20)], 1);
  buffer.requeue(both.filter((e) => e.receivedAt >= 10));
  assert.deepEqual(
    texts(buffer.takeAll()),
    ["x", "y", "z"],
    "merged by arrival",
  );
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

/** A buffer of `maxBytes` in memory with a spill store in a fresh folder. */
function spillingBuffer(maxBytes: number, spillBytes = 1 << 20) {
  const dir = `${Deno.makeTempDirSync({ prefix: "kt-buffer-spill-" })}/store`;
  const spilled: number[] = [];
  const firsts: boolean[] = [];
  const lost: number[] = [];
  const failures: unknown[] = [];
  const store = new SpillStore({ dir, maxBytes: spillBytes });
  const buffer = new EventBuffer(maxBytes, store, {
    onSpilled: (events, first) => {
      spilled.push(events);
      firsts.push(first);
    },
    onLost: (events) => lost.push(events),
    onFailed: (error) => failures.push(error),
  });
  return { buffer, store, dir, spilled, firsts, lost, failures };
}

Deno.test("buffer: with a spill store, what does not fit goes to disk instead of being refused", () => {
  const { buffer, store, spilled, firsts } = spillingBuffer(8 + 2 * O);
  const first = [eventOf("aaaa"), eventOf("bbbb")];
  assert.equal(buffer.offer(first, sizeOf(first)), true);
  assert.equal(buffer.spilled, 0);
  assert.equal(buffer.refuses(1_000), false, "the disk can take it");

  const overflow = [eventOf("cccc", "k", 5), eventOf("dd", "k", 6)];
  assert.equal(buffer.offer(overflow, sizeOf(overflow)), true);
  assert.equal(store.events, 2);
  assert.equal(buffer.length, 4, "length counts memory and disk");
  assert.equal(buffer.spilled, 2);
  assert.equal(buffer.queuedBytes, 8 + 2 * O + 6, "queued counts disk too");
  assert.equal(buffer.freeBytes, 0, "the memory bound is unchanged");
  assert.deepEqual(spilled, [2]);
  assert.deepEqual(firsts, [true]);

  // Arrival order is kept: a small delivery that would fit in memory goes
  // behind what is already on disk.
  const small = [eventOf("e", "k", 7)];
  assert.equal(buffer.offer(small, 1), true);
  assert.deepEqual(firsts, [true, false]);
  assert.equal(store.events, 3);
});

Deno.test("buffer: takeAll reads spilled segments back as the memory bound allows, oldest first", () => {
  const { buffer } = spillingBuffer(8 + 2 * O);
  const batches = [
    [eventOf("aaaa"), eventOf("bbbb")],
    [eventOf("cccc"), eventOf("dddd")],
    [eventOf("eeee"), eventOf("ffff")],
  ];
  for (const batch of batches) {
    assert.equal(buffer.offer(batch, sizeOf(batch)), true);
  }
  assert.equal(buffer.spilled, 4);

  const taken = buffer.takeAll();
  assert.deepEqual(texts(taken), ["aaaa", "bbbb"], "no room for more yet");
  assert.equal(buffer.spilled, 4);
  buffer.settle(taken);

  const next = buffer.takeAll();
  assert.deepEqual(texts(next), ["cccc", "dddd"]);
  assert.equal(buffer.spilled, 2);
  // A failed send puts them back in front of what is still on disk.
  buffer.requeue(next);
  const again = buffer.takeAll();
  assert.deepEqual(texts(again), ["cccc", "dddd"]);
  buffer.settle(again);
  assert.deepEqual(texts(buffer.takeAll()), ["eeee", "ffff"]);
  assert.equal(buffer.length, 0);
  assert.equal(buffer.oldestReceivedAt, undefined);
});

Deno.test("buffer: the oldest arrival time comes from disk when memory is empty", () => {
  const { buffer } = spillingBuffer(4 + O);
  const first = [eventOf("aaaa", "k", 10)];
  buffer.offer(first, 4);
  buffer.offer([eventOf("bbbb", "k", 20)], 4);
  const taken = buffer.takeAll();
  assert.equal(buffer.oldestReceivedAt, 20, "what waits on disk is the oldest");
  buffer.settle(taken);
});

Deno.test("buffer: a full disk refuses as memory alone would, and a failing one falls back to memory", () => {
  // One segment of a 20-byte envelope is 48 bytes on disk (headers, key).
  const full = spillingBuffer(4 + O, 50);
  full.buffer.offer([eventOf("aaaa")], 4);
  assert.equal(full.buffer.offer([eventOf("b".repeat(20))], 20), true);
  assert.equal(full.buffer.refuses(30), true, "neither memory nor disk");
  assert.equal(full.buffer.offer([eventOf("c".repeat(20))], 20), false);

  const dir = `${Deno.makeTempDirSync({ prefix: "kt-buffer-spill-" })}/store`;
  const failures: unknown[] = [];
  const store = new SpillStore({
    dir,
    maxBytes: 1 << 20,
    files: {
      ...DENO_SPILL_FILES,
      write: () => {
        throw new Error("read-only file system");
      },
    },
  });
  const buffer = new EventBuffer(8 + 2 * O, store, {
    onFailed: (error) => failures.push(error),
  });
  buffer.offer([eventOf("aaaa")], 4);
  assert.equal(buffer.offer([eventOf("b".repeat(50))], 50), false);
  assert.equal(buffer.offer([eventOf("c".repeat(50))], 50), false);
  assert.equal(failures.length, 1, "reported once");
  assert.equal(
    buffer.offer([eventOf("dddd")], 4),
    true,
    "memory still takes what fits",
  );
  assert.equal(buffer.refuses(50), true);
});

Deno.test("buffer: a spilled segment that cannot be read back is reported as lost, the rest is kept", () => {
  const { buffer, dir, lost } = spillingBuffer(4 + O);
  buffer.offer([eventOf("aaaa")], 4);
  buffer.offer([eventOf("bbbb"), eventOf("cccc")], 8);
  buffer.offer([eventOf("dddd")], 4);
  Deno.removeSync(`${dir}/0.seg`);
  buffer.settle(buffer.takeAll());
  const next = buffer.takeAll();
  assert.deepEqual(texts(next), ["dddd"]);
  assert.deepEqual(lost, [2]);
  assert.equal(buffer.length, 0);
});

Deno.test("buffer: discardSpilled forgets what is on disk and counts it", () => {
  const { buffer, dir } = spillingBuffer(4 + O);
  buffer.offer([eventOf("aaaa")], 4);
  buffer.offer([eventOf("bbbb"), eventOf("cccc")], 8);
  assert.equal(buffer.discardSpilled(), 2);
  assert.equal(buffer.length, 1);
  assert.throws(() => Deno.statSync(dir), Deno.errors.NotFound);
  assert.equal(new EventBuffer(100).discardSpilled(), 0);
});

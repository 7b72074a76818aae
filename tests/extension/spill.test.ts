import assert from "node:assert/strict";
import {
  DENO_SPILL_FILES,
  type SpillFiles,
  SpillStore,
} from "../../extension/spill.ts";
import { eventOf, textOf } from "./_core_fixtures.ts";

/** A fresh folder of the test's own under /tmp. */
function tempSpillDir(): string {
  return `${Deno.makeTempDirSync({ prefix: "kt-spill-" })}/store`;
}

function filesIn(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((entry) => entry.name).sort();
}

Deno.test("spill: segments come back oldest first, byte for byte, with keys and arrival times", () => {
  const dir = tempSpillDir();
  const store = new SpillStore({ dir, maxBytes: 1 << 20 });
  const first = [
    eventOf('{"a":"é€😀"}', "req-1", 1000),
    eventOf("", "k", 1001),
  ];
  const second = [eventOf("x".repeat(70_000), "req-2", 2000.5)];
  assert.equal(store.append(first), true);
  assert.equal(store.append(second), true);
  assert.equal(store.events, 3);
  assert.equal(store.envelopeBytes, sizeOfAll([...first, ...second]));
  assert.equal(store.oldestReceivedAt, 1000);
  assert.deepEqual(filesIn(dir), ["0.seg", "1.seg"]);
  assert.deepEqual(store.peek(), {
    envelopeBytes: sizeOfAll(first),
    events: 2,
  });

  const back = store.shift();
  assert.ok(back?.events);
  assert.deepEqual(back.events.map(textOf), first.map(textOf));
  assert.deepEqual(back.events.map((event) => event.partitionKey), [
    "req-1",
    "k",
  ]);
  assert.deepEqual(back.events.map((event) => event.receivedAt), [1000, 1001]);
  assert.ok(back.events.every((event) => event.uncertain === false));
  assert.deepEqual(filesIn(dir), ["1.seg"], "a segment read is removed");
  assert.equal(store.oldestReceivedAt, 2000.5);

  const last = store.shift();
  assert.equal(last?.events?.[0].data.byteLength, 70_000);
  assert.equal(store.shift(), undefined);
  assert.equal(store.events, 0);
  assert.equal(store.fileBytes, 0);
  assert.equal(store.oldestReceivedAt, undefined);
});

Deno.test("spill: partition keys come back equal whatever their characters", () => {
  const store = new SpillStore({ dir: tempSpillDir(), maxBytes: 1 << 20 });
  const keys = ["r-1", "é€😀-ключ", "lone \ud800 surrogate", "k".repeat(256)];
  store.append(keys.map((key) => eventOf("{}", key)));
  assert.deepEqual(
    store.shift()?.events?.map((event) => event.partitionKey),
    keys,
  );
});

Deno.test("spill: a segment that would pass the bound is not written", () => {
  const dir = tempSpillDir();
  const store = new SpillStore({ dir, maxBytes: 200 });
  assert.equal(store.append([eventOf("a".repeat(100))]), true);
  assert.equal(store.accepts(100), false);
  assert.equal(store.append([eventOf("b".repeat(100))]), false);
  assert.equal(store.events, 1);
  assert.deepEqual(filesIn(dir), ["0.seg"]);
  store.shift();
  assert.equal(store.accepts(100), true, "room again once read back");
  assert.equal(store.append([eventOf("b".repeat(100))]), true);
});

Deno.test("spill: the folder is emptied at start and removed by discard", () => {
  const dir = tempSpillDir();
  Deno.mkdirSync(dir, { recursive: true });
  Deno.writeTextFileSync(`${dir}/7.seg`, "left by a crashed process");
  const store = new SpillStore({ dir, maxBytes: 1 << 20 });
  assert.deepEqual(filesIn(dir), []);
  store.append([eventOf("a"), eventOf("b")]);
  store.append([eventOf("c")]);
  assert.equal(store.discard(), 3);
  assert.equal(store.events, 0);
  assert.throws(() => Deno.statSync(dir), Deno.errors.NotFound);
});

Deno.test("spill: a failed write keeps nothing and stops the store for good", () => {
  const dir = tempSpillDir();
  let writes = 0;
  const files: SpillFiles = {
    ...DENO_SPILL_FILES,
    write: () => {
      writes++;
      throw new Deno.errors.PermissionDenied("no space left on device");
    },
  };
  const store = new SpillStore({ dir, maxBytes: 1 << 20, files });
  assert.equal(store.append([eventOf("a")]), false);
  assert.ok(store.failure instanceof Deno.errors.PermissionDenied);
  assert.equal(store.accepts(1), false);
  assert.equal(store.append([eventOf("b")]), false);
  assert.equal(writes, 1, "not tried again on every delivery");
  assert.equal(store.events, 0);
});

Deno.test("spill: a segment removed or damaged by someone else comes back as lost events", () => {
  const dir = tempSpillDir();
  const store = new SpillStore({ dir, maxBytes: 1 << 20 });
  store.append([eventOf("a"), eventOf("b")]);
  store.append([eventOf("c")]);
  store.append([eventOf("d")]);
  Deno.removeSync(`${dir}/0.seg`);
  Deno.writeTextFileSync(`${dir}/1.seg`, "overwritten");
  const removed = store.shift();
  assert.equal(removed?.lost, 2);
  assert.ok(removed?.error instanceof Deno.errors.NotFound);
  const damaged = store.shift();
  assert.equal(damaged?.lost, 1);
  assert.match(String(damaged?.error), /not the one written/);
  assert.deepEqual(store.shift()?.events?.map(textOf), ["d"]);
  assert.equal(store.events, 0);
});

function sizeOfAll(events: readonly { data: Uint8Array }[]): number {
  return events.reduce((sum, event) => sum + event.data.byteLength, 0);
}

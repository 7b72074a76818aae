import assert from "node:assert/strict";
import { getHeapStatistics } from "node:v8";
import {
  bufferBoundsFor,
  bufferMisfit,
  functionMemoryMB,
  heapFlagsFor,
  v8FlagsFor,
} from "../../extension/memory_budget.ts";

const MIB = 1024 * 1024;

Deno.test("memory budget: AWS_LAMBDA_FUNCTION_MEMORY_SIZE is read only when Lambda could have set it", () => {
  assert.equal(functionMemoryMB("128"), 128);
  assert.equal(functionMemoryMB(" 1769 "), 1769);
  assert.equal(functionMemoryMB("10240"), 10240);
  for (const raw of [undefined, "", "64", "127", "10241", "1e3", "-512", "x"]) {
    assert.equal(functionMemoryMB(raw), undefined, String(raw));
  }
});

Deno.test("memory budget: heap limits grow with the function's memory, within bounds", () => {
  assert.deepEqual(heapFlagsFor(128), { oldSpaceMiB: 32, semiSpaceMiB: 2 });
  assert.deepEqual(heapFlagsFor(256), { oldSpaceMiB: 64, semiSpaceMiB: 4 });
  assert.deepEqual(heapFlagsFor(512), { oldSpaceMiB: 128, semiSpaceMiB: 8 });
  assert.deepEqual(heapFlagsFor(1024), { oldSpaceMiB: 256, semiSpaceMiB: 16 });
  assert.deepEqual(heapFlagsFor(10240), {
    oldSpaceMiB: 1024,
    semiSpaceMiB: 16,
  });
  assert.equal(
    v8FlagsFor(1024),
    "--max-old-space-size=256,--max-semi-space-size=16",
  );
});

Deno.test("memory budget: the buffer gets an eighth of the function's memory at most, a quarter of that by default (8 MiB at most)", () => {
  assert.deepEqual(bufferBoundsFor(128), {
    ceilingBytes: 16 * MIB,
    defaultBytes: 4 * MIB,
  });
  assert.deepEqual(bufferBoundsFor(1024), {
    ceilingBytes: 128 * MIB,
    defaultBytes: 8 * MIB,
  });
  assert.equal(bufferBoundsFor(256).defaultBytes, 8 * MIB);
  assert.equal(bufferBoundsFor(10240).defaultBytes, 8 * MIB);
});

Deno.test("memory budget: every default bound fits the heap its memory size gets", () => {
  for (const memoryMB of [128, 256, 512, 1024, 1769, 3008, 10240]) {
    const { oldSpaceMiB, semiSpaceMiB } = heapFlagsFor(memoryMB);
    // heap_size_limit is old space plus three semi-spaces (measured below).
    const heapLimit = (oldSpaceMiB + 3 * semiSpaceMiB) * MIB;
    const { defaultBytes, ceilingBytes } = bufferBoundsFor(memoryMB);
    assert.equal(bufferMisfit(defaultBytes, memoryMB, heapLimit), undefined);
    assert.equal(bufferMisfit(ceilingBytes, memoryMB, heapLimit), undefined);
  }
});

Deno.test("memory budget: a buffer the memory or the heap cannot hold is named with its limit", () => {
  assert.match(
    bufferMisfit(16 * MIB + 1, 128, undefined) ?? "",
    /does not fit a function of 128 MB \(at most 16777216/,
  );
  assert.match(
    bufferMisfit(512 * MIB, undefined, 76 * MIB) ?? "",
    /does not fit the extension's V8 heap of 76 MiB/,
  );
  assert.equal(bufferMisfit(512 * MIB, undefined, undefined), undefined);
});

Deno.test("memory budget: heap_size_limit is old space plus three semi-spaces, as the heap check assumes", async () => {
  const { oldSpaceMiB, semiSpaceMiB } = heapFlagsFor(128);
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `--v8-flags=${v8FlagsFor(128)}`,
      `import { getHeapStatistics } from "node:v8"; console.log(getHeapStatistics().heap_size_limit)`,
    ],
    stdout: "piped",
  }).output();
  assert.ok(out.success);
  const limit = Number(new TextDecoder().decode(out.stdout).trim());
  assert.equal(limit, (oldSpaceMiB + 3 * semiSpaceMiB) * MIB);
  // And this process (no flags) reports one too, which main.ts passes on.
  assert.ok(getHeapStatistics().heap_size_limit > limit);
});

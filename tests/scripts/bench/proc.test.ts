import assert from "node:assert/strict";
import {
  cpuSeconds,
  parseCpuSeconds,
  parseMemory,
  processMemory,
} from "../../../scripts/bench/proc.ts";

Deno.test("parseCpuSeconds adds utime and stime (fields 14 and 15) in ticks", () => {
  const stat =
    "4242 (deno) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 125 0 0 20 0 9 0 100 1000 200";
  assert.equal(parseCpuSeconds(stat), 3.75);
});

Deno.test("parseCpuSeconds copes with spaces and parentheses in the command name", () => {
  const stat =
    "77 (my (odd) name) R 1 77 77 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 5 10 2";
  assert.equal(parseCpuSeconds(stat), 0.1);
});

Deno.test("parseCpuSeconds rejects text that is not a stat line", () => {
  assert.throws(() => parseCpuSeconds("no parenthesis here"));
  assert.throws(() => parseCpuSeconds("1 (x) S 1"));
});

Deno.test("parseMemory reads VmRSS and VmHWM in KiB", () => {
  const status = [
    "Name:\tdeno",
    "VmPeak:\t  900000 kB",
    "VmHWM:\t   61234 kB",
    "VmRSS:\t   51200 kB",
  ].join("\n");
  assert.deepEqual(parseMemory(status), { rssKiB: 51_200, peakRssKiB: 61_234 });
  assert.throws(() => parseMemory("Name:\tzombie\n"), /VmRSS/);
});

Deno.test("this process's own CPU time and memory are readable and plausible", async () => {
  const before = await cpuSeconds(Deno.pid);
  let spin = 0;
  const until = performance.now() + 50;
  while (performance.now() < until) spin++;
  const after = await cpuSeconds(Deno.pid);
  assert.ok(spin > 0);
  assert.ok(after >= before);
  const memory = await processMemory(Deno.pid);
  assert.ok(memory.rssKiB > 1024);
  assert.ok(memory.peakRssKiB >= memory.rssKiB);
});

import assert from "node:assert/strict";
import {
  ALL_LAYER_ARCHES,
  describeElfMachine,
  elfMachineOf,
  elfMachineOfFile,
  hostLayerArch,
  LAYER_TARGETS,
  parseArchList,
} from "../../../scripts/lib/layer_targets.ts";

Deno.test("parseArchList accepts Lambda's and Rust's names and all", () => {
  assert.deepEqual(parseArchList("all"), ["x86_64", "arm64"]);
  assert.deepEqual(parseArchList("x86_64"), ["x86_64"]);
  assert.deepEqual(parseArchList("amd64"), ["x86_64"]);
  assert.deepEqual(parseArchList("arm64"), ["arm64"]);
  assert.deepEqual(parseArchList("aarch64"), ["arm64"]);
  assert.throws(
    () => parseArchList("riscv64"),
    /unknown architecture "riscv64"/,
  );
});

Deno.test("zip names are the ones the infra program reads", () => {
  assert.deepEqual(
    ALL_LAYER_ARCHES.map((arch) => LAYER_TARGETS[arch].zipName),
    ["kinesis-telemetry-x86_64.zip", "kinesis-telemetry-arm64.zip"],
  );
});

Deno.test("the running deno binary is an ELF of the host architecture", async () => {
  const host = hostLayerArch();
  if (host === undefined) return; // Not a Linux layer architecture: nothing to compare.
  const machine = await elfMachineOfFile(Deno.execPath());
  assert.equal(machine, LAYER_TARGETS[host].elfMachine);
  assert.equal(describeElfMachine(machine), `${host} ELF`);
});

Deno.test("elfMachineOf reads e_machine and rejects what is not a 64-bit LE ELF", () => {
  const header = new Uint8Array(20);
  header.set([0x7f, 0x45, 0x4c, 0x46, 2, 1]);
  header[18] = 183;
  assert.equal(elfMachineOf(header), 183);
  assert.equal(describeElfMachine(183), "arm64 ELF");
  assert.equal(
    elfMachineOf(new TextEncoder().encode("#!/bin/sh\nexec deno\n")),
    undefined,
  );
  header[4] = 1; // 32-bit
  assert.equal(elfMachineOf(header), undefined);
  assert.equal(describeElfMachine(undefined), "not a 64-bit little-endian ELF");
});

/**
 * The environment's cgroup: Lambda's CPU quota and memory limit on the
 * runtime and extension processes, the cgroup freezer, OOM kills reported as
 * Lambda reports them, and cleanup. The machines of this project (and CI)
 * run as root with cgroup v1 cpu/memory/freezer: a machine without them
 * fails these tests with the reason rather than passing them untested.
 */
import assert from "node:assert/strict";
import {
  cpuQuotaUs,
  keyedNumber,
  parseProcCgroup,
} from "../../../scripts/sandbox/cgroup.ts";
import { cgroupSupport } from "../../../scripts/sandbox/limits.ts";
import { bareExtension } from "../../../scripts/sandbox/extension_specs.ts";
import { BARE_EXTENSION_NAME } from "../../../scripts/sandbox/bare_extension.ts";
import {
  EnvironmentResetError,
  type FunctionSpec,
  startSandbox,
} from "../../../scripts/sandbox/sandbox.ts";
import {
  FIXTURE_EXTENSION_NAME,
  fixtureExtension,
} from "./_fixture_extension.ts";

const HOG: FunctionSpec = {
  runtime: "node",
  taskRoot: new URL("./functions/hog", import.meta.url).pathname,
  handler: "index.handler",
};

Deno.test("cpuQuotaUs: M/1,769 of one vCPU per 100 ms period, at least 1 ms", () => {
  assert.equal(cpuQuotaUs(128), 7_236);
  assert.equal(cpuQuotaUs(1_024), 57_886);
  assert.equal(cpuQuotaUs(1_769), 100_000);
  assert.equal(cpuQuotaUs(3_538), 200_000);
  assert.equal(cpuQuotaUs(1), 1_000);
});

Deno.test("parseProcCgroup reads v1 and v2 lines", () => {
  const paths = parseProcCgroup(
    "9:name=systemd:/\n4:memory:/a/b\n2:cpu,cpuacct:/c\n0::/unified/x\n",
  );
  assert.equal(paths.get("memory"), "/a/b");
  assert.equal(paths.get("cpu"), "/c");
  assert.equal(paths.get("cpuacct"), "/c");
  assert.equal(paths.get(""), "/unified/x");
});

Deno.test("keyedNumber reads memory.oom_control and memory.events", () => {
  const text = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
  assert.equal(keyedNumber(text, "oom_kill"), 3);
  assert.equal(keyedNumber(text, "under_oom"), 0);
  assert.equal(keyedNumber("low 0\n", "oom_kill"), 0);
});

async function requireCgroups(): Promise<void> {
  const support = await cgroupSupport();
  assert.ok(
    support.ok,
    `these tests need cgroups: ${support.ok ? "" : support.reason}`,
  );
}

/** The cgroup folders a process is in, per controller. */
async function cgroupsOf(pid: number): Promise<Map<string, string>> {
  return parseProcCgroup(await Deno.readTextFile(`/proc/${pid}/cgroup`));
}

Deno.test("runtime and extension share one cgroup with M/1,769 vCPU and M MB, frozen by the freezer, removed at stop", async () => {
  await requireCgroups();
  const sandbox = await startSandbox({
    fn: HOG,
    extensions: [bareExtension()],
    memoryMB: 256,
  });
  let cpuDir = "";
  let memoryDir = "";
  try {
    assert.equal(sandbox.limits.enforced, true);
    assert.equal(sandbox.limits.freezer, "cgroup");
    assert.equal(sandbox.limits.cpuQuotaUs, 14_471);
    const ids = sandbox.processIds();
    const runtime = await cgroupsOf(ids.runtime!);
    const extension = await cgroupsOf(ids.extensions[BARE_EXTENSION_NAME]);
    for (const controller of ["cpu", "memory", "freezer"]) {
      assert.match(runtime.get(controller)!, /\/ktsb-\d+-\d+$/);
      assert.equal(extension.get(controller), runtime.get(controller));
    }
    cpuDir = `/sys/fs/cgroup/cpu${runtime.get("cpu")}`;
    memoryDir = `/sys/fs/cgroup/memory${runtime.get("memory")}`;
    const freezerDir = `/sys/fs/cgroup/freezer${runtime.get("freezer")}`;
    assert.equal(
      (await Deno.readTextFile(`${cpuDir}/cpu.cfs_quota_us`)).trim(),
      "14471",
    );
    assert.equal(
      (await Deno.readTextFile(`${cpuDir}/cpu.cfs_period_us`)).trim(),
      "100000",
    );
    assert.equal(
      (await Deno.readTextFile(`${memoryDir}/memory.limit_in_bytes`)).trim(),
      String(256 * 1024 * 1024),
    );
    assert.ok(sandbox.frozen);
    assert.equal(
      (await Deno.readTextFile(`${freezerDir}/freezer.state`)).trim(),
      "FROZEN",
    );
    const invocation = await sandbox.invoke({ mib: 16 });
    assert.equal(invocation.status, "success");
    // The report's memory is the environment's, extension included.
    assert.ok(
      invocation.maxMemoryUsedMB >= 16,
      `${invocation.maxMemoryUsedMB}`,
    );
    assert.ok(invocation.maxMemoryUsedMB <= 256);
    const shutdown = await sandbox.shutdown();
    assert.equal(shutdown.extensions[0].exitedByItself, true);
  } finally {
    await sandbox.stop();
  }
  await assert.rejects(Deno.stat(cpuDir), Deno.errors.NotFound);
  await assert.rejects(Deno.stat(memoryDir), Deno.errors.NotFound);
});

Deno.test("init can run with or without the quota; the quota is on after init either way", async () => {
  await requireCgroups();
  for (const cpuQuotaDuringInit of [true, false]) {
    await using sandbox = await startSandbox({
      fn: HOG,
      extensions: [bareExtension()],
      memoryMB: 128,
      limits: { cpuQuotaDuringInit },
    });
    assert.equal(sandbox.limits.cpuQuotaDuringInit, cpuQuotaDuringInit);
    const cpu = (await cgroupsOf(sandbox.processIds().runtime!)).get("cpu")!;
    assert.equal(
      (await Deno.readTextFile(`/sys/fs/cgroup/cpu${cpu}/cpu.cfs_quota_us`))
        .trim(),
      "7236",
    );
  }
});

Deno.test("a function over its memory is OOM-killed: Runtime.OutOfMemory, SHUTDOWN FAILURE, the environment is reset", async () => {
  await requireCgroups();
  await using sandbox = await startSandbox({
    fn: HOG,
    extensions: [bareExtension()],
    memoryMB: 128,
  });
  const failure = await sandbox.invoke({ mib: 400 }).then(
    () => null,
    (error) => error,
  );
  assert.ok(failure instanceof EnvironmentResetError, String(failure));
  assert.equal(failure.oom.errorType, "Runtime.OutOfMemory");
  assert.equal(failure.oom.process, "runtime");
  assert.ok(failure.oom.oomKills >= 1);
  assert.equal(failure.shutdown?.reason, "FAILURE");
  const done = sandbox.events.find((entry) =>
    entry.event.type === "platform.runtimeDone"
  )!.event.record as { status: string; errorType: string };
  assert.deepEqual([done.status, done.errorType], [
    "failure",
    "Runtime.OutOfMemory",
  ]);
  await assert.rejects(sandbox.invoke({}), /cannot invoke/);
});

Deno.test("an extension over the memory is OOM-killed: Extension.Crash", async () => {
  await requireCgroups();
  await using sandbox = await startSandbox({
    fn: HOG,
    extensions: [fixtureExtension("hog-memory")],
    memoryMB: 128,
  });
  const failure = await sandbox.invoke({}).then(() => null, (error) => error);
  assert.ok(failure instanceof EnvironmentResetError, String(failure));
  assert.equal(failure.oom.errorType, "Extension.Crash");
  assert.equal(failure.oom.process, FIXTURE_EXTENSION_NAME);
});

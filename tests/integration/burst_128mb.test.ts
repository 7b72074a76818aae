/**
 * Issue 14's acceptance: a 100,000-event burst at 128 MB function memory,
 * the extension held to a 128 MB memory cgroup where this machine has one
 * (and to a peak RSS of 128 MB by /proc where it does not), ends with no OOM
 * kill and every event delivered or counted in the shutdown summary.
 *
 * The burst is posted to the listener as Lambda does (1,000 events per
 * POST, a 503 retried), while INVOKEs are handed out whenever the extension
 * is back in `/event/next`; the Kinesis endpoint accepts everything at once
 * (scripts/bench/null_kinesis.ts), so the test measures the extension's own
 * memory.
 */
import assert from "node:assert/strict";
import { SMALLEST_FUNCTION_MEMORY_MB } from "../../extension/memory_budget.ts";
import { launchExtension } from "../../scripts/bench/extension_process.ts";
import {
  postAll,
  postEvents,
  reportEvent,
} from "../../scripts/bench/listener_driver.ts";
import { startNullKinesis } from "../../scripts/bench/null_kinesis.ts";
import { startBenchPlatform } from "../../scripts/bench/platform.ts";
import { processMemory } from "../../scripts/bench/proc.ts";
import {
  sourceExtensionArgv,
  within,
} from "../../scripts/bench/run_helpers.ts";
import {
  telemetryBodies,
  TYPICAL_TRAFFIC,
} from "../../scripts/bench/telemetry_fixtures.ts";
import {
  createSandboxCgroup,
  probeCgroups,
  type SandboxCgroup,
} from "../../scripts/sandbox/cgroup.ts";

const EVENTS = 100_000;
const MEMORY_MB = SMALLEST_FUNCTION_MEMORY_MB;
/** Longest time the burst is given before SHUTDOWN; what is left is counted. */
const BURST_LIMIT_MS = 90_000;

Deno.test({
  name:
    "integration: a 100,000-event burst at 128 MB ends with no OOM kill and every event delivered or counted",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const probe = await probeCgroups();
    let cgroup: SandboxCgroup | undefined;
    if (probe.ok) {
      // The memory limit only: under a 128 MB function's CPU share (7 % of
      // a core) the burst would take minutes on this shared machine.
      cgroup = await createSandboxCgroup(probe.layout, {
        memoryMB: MEMORY_MB,
        cpuQuotaFromStart: false,
      });
    } else {
      console.error(
        `no memory cgroup (${probe.reason}): the peak RSS is checked by /proc instead`,
      );
    }
    const kinesis = await startNullKinesis();
    const platform = startBenchPlatform();
    const argv = sourceExtensionArgv(MEMORY_MB);
    const extension = launchExtension({
      argv: cgroup ? cgroup.wrap(argv) : argv,
      runtimeApi: platform.runtimeApi,
      env: {
        KINESIS_TELEMETRY_STREAM: "burst-128",
        KINESIS_TELEMETRY_LISTENER_PORT: "0",
        KINESIS_TELEMETRY_LOG_LEVEL: "debug",
        AWS_ENDPOINT_URL_KINESIS: kinesis.endpoint,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(MEMORY_MB),
      },
    });
    try {
      await within(platform.whenWaiting(), 20_000, "init did not finish");
      const listenerUrl = platform.listenerUrl!;
      const limiter = new AbortController();
      const limitTimer = setTimeout(() => limiter.abort(), BURST_LIMIT_MS);
      let posting = true;
      let reports = 0;
      let previous: string | undefined;
      const invoker = (async () => {
        while (!limiter.signal.aborted) {
          await Promise.race([
            platform.whenWaiting(),
            new Promise((resolve) =>
              limiter.signal.addEventListener("abort", resolve)
            ),
          ]);
          if (limiter.signal.aborted) return;
          if (!posting && extension.delivered >= EVENTS + reports) return;
          if (previous) {
            await postEvents(listenerUrl, [reportEvent(previous)]);
            reports++;
          }
          previous = crypto.randomUUID();
          platform.invoke(previous, Date.now() + 120_000);
        }
      })();
      const bodies = telemetryBodies(EVENTS, TYPICAL_TRAFFIC);
      const posted = await postAll(listenerUrl, bodies, limiter.signal)
        .catch((error) => {
          if (limiter.signal.aborted) return undefined;
          throw error;
        });
      posting = false;
      await invoker;
      clearTimeout(limitTimer);
      const { peakRssKiB } = await processMemory(extension.pid);

      await platform.whenWaiting();
      platform.shutdown(2_000);
      const code = await within(
        extension.exited,
        10_000,
        "extension did not exit at SHUTDOWN",
      );
      const oomKills = cgroup ? await cgroup.oomKills() : 0;
      const summary = extension.summary;
      const context = `peak RSS ${Math.round(peakRssKiB / 1024)} MB, ${
        posted ? `${posted.refusals} refusals` : "posting cut short"
      }, summary ${JSON.stringify(summary)}, last lines:\n${
        extension.lines.slice(-5).join("\n")
      }`;
      assert.equal(oomKills, 0, `OOM kills in the cgroup; ${context}`);
      assert.equal(code, 0, `exit code; ${context}`);
      assert.ok(
        peakRssKiB <= MEMORY_MB * 1024,
        `peak RSS within the function's memory; ${context}`,
      );
      assert.ok(summary, `a shutdown summary; ${context}`);
      const count = (key: string) => Number(summary[key] ?? NaN);
      // Every event posted and acknowledged was received; a POST cut short
      // by the limit was refused or never sent, so Lambda would still hold it.
      if (posted) {
        assert.ok(count("received") >= EVENTS, `all received; ${context}`);
      }
      assert.equal(
        count("received"),
        count("delivered") + count("filtered") + count("droppedTotal") +
          count("buffered"),
        `received = delivered + filtered + dropped + buffered; ${context}`,
      );
      // On a loaded machine the flushes may deliver little of the burst in
      // the limit (the sender's matter); what this test holds is that
      // nothing went uncounted and the memory limit was never hit.
      assert.ok(count("received") > 0, `something received; ${context}`);
      console.error(
        `burst at ${MEMORY_MB} MB: ${
          cgroup ? `cgroup ${cgroup.description}, ` : ""
        }${context.split(", last lines")[0]}`,
      );
    } finally {
      extension.kill();
      await extension.exited;
      await platform.close();
      await kinesis.stop();
      await cgroup?.remove();
    }
  },
});

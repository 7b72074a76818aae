import assert from "node:assert/strict";
import {
  createLogger,
  OWN_LOG_PREFIX,
  stderrSink,
} from "../../extension/log.ts";

function collect(level: Parameters<typeof createLogger>[0]) {
  const lines: string[] = [];
  const logger = createLogger(level, (line) => lines.push(line), () => 0);
  return { logger, lines };
}

Deno.test("log: one JSON line with the own prefix, level, time, msg and fields in order", () => {
  const { logger, lines } = collect("info");
  logger.info("ready", { port: 4243, types: ["platform"], note: 'say "hi"' });
  assert.equal(lines.length, 1);
  assert.ok(lines[0].startsWith(OWN_LOG_PREFIX + ","));
  assert.equal(
    lines[0],
    '{"ext":"kinesis-telemetry","level":"info","time":"1970-01-01T00:00:00.000Z",' +
      '"msg":"ready","port":4243,"types":["platform"],"note":"say \\"hi\\""}',
  );
  assert.deepEqual(Object.keys(JSON.parse(lines[0])), [
    "ext",
    "level",
    "time",
    "msg",
    "port",
    "types",
    "note",
  ]);
});

Deno.test("log: lines below the level are not written and enabled() agrees", () => {
  const { logger, lines } = collect("warn");
  logger.debug("d");
  logger.info("i");
  logger.warn("w");
  logger.error("e");
  assert.deepEqual(lines.map((line) => JSON.parse(line).msg), ["w", "e"]);
  assert.deepEqual(
    (["error", "warn", "info", "debug"] as const).map((level) =>
      logger.enabled(level)
    ),
    [true, true, false, false],
  );
  const debug = collect("debug");
  debug.logger.debug("d");
  assert.equal(debug.lines.length, 1);
  assert.equal(JSON.parse(debug.lines[0]).level, "debug");
});

Deno.test("log: errors, undefined, cycles and bigints still give valid JSON", () => {
  const { logger, lines } = collect("debug");
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  logger.error("bad", {
    error: new TypeError("boom"),
    missing: undefined,
    cycle,
    big: 10n,
  });
  const parsed = JSON.parse(lines[0]);
  assert.equal(parsed.error, "TypeError: boom");
  assert.equal(parsed.missing, null);
  assert.equal(parsed.cycle, "[object Object]");
  assert.equal(parsed.big, "10");
});

Deno.test("log: the default sink writes one line to stderr and survives a broken stderr", () => {
  const original = Deno.stderr.writeSync;
  const written: string[] = [];
  try {
    Deno.stderr.writeSync = (bytes: Uint8Array) => {
      written.push(new TextDecoder().decode(bytes));
      return bytes.byteLength;
    };
    createLogger("error").error("to stderr", { n: 1 });
    assert.equal(written.length, 1);
    assert.ok(written[0].endsWith("}\n"));
    const line = JSON.parse(written[0]);
    assert.equal(line.msg, "to stderr");
    assert.equal(line.n, 1);
    // The default clock is the wall clock.
    assert.ok(Math.abs(Date.parse(line.time) - Date.now()) < 60_000);

    Deno.stderr.writeSync = () => {
      throw new Deno.errors.BrokenPipe("closed");
    };
    assert.doesNotThrow(() => stderrSink("lost"));
  } finally {
    Deno.stderr.writeSync = original;
  }
});

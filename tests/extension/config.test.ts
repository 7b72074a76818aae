import assert from "node:assert/strict";
import {
  type Config,
  ConfigError,
  detectMode,
  ENV_PREFIX,
  MANAGED_BUFFER_TIMEOUT_MS,
  parseConfig,
} from "../../extension/config.ts";

const BASE = {
  KINESIS_TELEMETRY_STREAM: "telemetry",
  AWS_REGION: "eu-west-1",
};

function parse(vars: Record<string, string | undefined>): Config {
  const env = { ...BASE, ...vars };
  return parseConfig((name) => env[name as keyof typeof env]);
}

/** Asserts that parsing fails with a ConfigError naming `variable`. */
function rejects(
  vars: Record<string, string | undefined>,
  variable: string,
  messagePart?: RegExp,
): ConfigError {
  let caught: unknown;
  try {
    parse(vars);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError`);
  assert.equal(caught.variable, variable);
  assert.ok(
    caught.message.startsWith(`${variable}: `),
    `message names the variable: ${caught.message}`,
  );
  if (messagePart) assert.match(caught.message, messagePart);
  return caught;
}

Deno.test("config: defaults with only a stream name and a region", () => {
  const config = parse({});
  assert.deepEqual(
    { ...config, excludeTypes: [...config.excludeTypes] },
    {
      streamName: "telemetry",
      streamArn: undefined,
      region: "eu-west-1",
      kinesisEndpoint: undefined,
      types: ["platform", "function", "extension"],
      schemaVersion: "2022-12-13",
      buffering: { maxItems: 1000, maxBytes: 262_144, timeoutMs: 100 },
      listenerPort: 4243,
      listenerHost: "0.0.0.0",
      maxBodyBytes: 4 * 262_144,
      format: "kpl",
      compression: "none",
      partitionKey: "requestId",
      maxRecordBytes: 1_048_576,
      maxBufferBytes: 8_388_608,
      maxSpillBytes: 67_108_864,
      spillDir: "/tmp/kinesis-telemetry/spill",
      excludeTypes: [],
      logLevel: "info",
      flush: "invoke",
      maxHoldMs: 200,
      backlog: "extend",
      backlogHoldMs: 1_000,
      shutdownMarginMs: 150,
      requestTimeoutMs: 5_000,
      mode: "on-demand",
      modeReason:
        "AWS_LAMBDA_INITIALIZATION_TYPE=unset, AWS_LAMBDA_MAX_CONCURRENCY unset",
      flushIntervalMs: 250,
      maxInFlight: 3,
    },
  );
});

Deno.test("config: every variable is read and trimmed", () => {
  const config = parse({
    KINESIS_TELEMETRY_TYPES: " Platform , function ",
    KINESIS_TELEMETRY_SCHEMA_VERSION: "2025-01-29",
    KINESIS_TELEMETRY_BUFFER_MAX_ITEMS: "10000",
    KINESIS_TELEMETRY_BUFFER_MAX_BYTES: "1048576",
    KINESIS_TELEMETRY_BUFFER_TIMEOUT_MS: "25",
    KINESIS_TELEMETRY_LISTENER_PORT: "0",
    KINESIS_TELEMETRY_FORMAT: "ndjson",
    KINESIS_TELEMETRY_COMPRESSION: "zstd",
    KINESIS_TELEMETRY_PARTITION_KEY: "random",
    KINESIS_TELEMETRY_MAX_RECORD_BYTES: "10485760",
    KINESIS_TELEMETRY_MAX_BUFFER_BYTES: "16777216",
    KINESIS_TELEMETRY_LOG_LEVEL: "debug",
    KINESIS_TELEMETRY_FLUSH: "end",
    KINESIS_TELEMETRY_MAX_HOLD_MS: "500",
    KINESIS_TELEMETRY_SHUTDOWN_MARGIN_MS: "300",
    KINESIS_TELEMETRY_REQUEST_TIMEOUT_MS: "2000",
    KINESIS_TELEMETRY_EXCLUDE_TYPES: "platform.start, function",
    AWS_ENDPOINT_URL_KINESIS: "http://127.0.0.1:4567",
  });
  assert.deepEqual(config.types, ["platform", "function"]);
  assert.equal(config.schemaVersion, "2025-01-29");
  assert.deepEqual(config.buffering, {
    maxItems: 10_000,
    maxBytes: 1_048_576,
    timeoutMs: 25,
  });
  assert.equal(config.maxBodyBytes, 4 * 1_048_576);
  assert.equal(config.listenerPort, 0);
  assert.equal(config.format, "ndjson");
  assert.equal(config.compression, "zstd");
  assert.equal(config.partitionKey, "random");
  assert.equal(config.maxRecordBytes, 10_485_760);
  assert.equal(config.maxBufferBytes, 16_777_216);
  assert.equal(config.logLevel, "debug");
  assert.equal(config.flush, "end");
  assert.equal(config.maxHoldMs, 500);
  assert.equal(config.shutdownMarginMs, 300);
  assert.equal(config.requestTimeoutMs, 2000);
  assert.deepEqual([...config.excludeTypes], ["platform.start", "function"]);
  assert.equal(config.kinesisEndpoint, "http://127.0.0.1:4567");
});

Deno.test("config: AWS_ENDPOINT_URL is the fallback endpoint, the Kinesis one wins", () => {
  assert.equal(
    parse({ AWS_ENDPOINT_URL: "http://a:1" }).kinesisEndpoint,
    "http://a:1",
  );
  assert.equal(
    parse({
      AWS_ENDPOINT_URL: "http://a:1",
      AWS_ENDPOINT_URL_KINESIS: "http://b:2",
    }).kinesisEndpoint,
    "http://b:2",
  );
});

Deno.test("config: enum values are case-insensitive and normalized", () => {
  const config = parse({
    KINESIS_TELEMETRY_FORMAT: "KPL",
    KINESIS_TELEMETRY_COMPRESSION: "GZip",
    KINESIS_TELEMETRY_PARTITION_KEY: "REQUESTID",
    KINESIS_TELEMETRY_LOG_LEVEL: "Warn",
    KINESIS_TELEMETRY_FLUSH: "END",
    KINESIS_TELEMETRY_TYPES: "EXTENSION",
  });
  assert.equal(config.format, "kpl");
  assert.equal(config.compression, "gzip");
  assert.equal(config.partitionKey, "requestId");
  assert.equal(config.logLevel, "warn");
  assert.equal(config.flush, "end");
  assert.deepEqual(config.types, ["extension"]);
});

Deno.test("config: duplicate types are subscribed once, empty items ignored", () => {
  assert.deepEqual(
    parse({ KINESIS_TELEMETRY_TYPES: "function,,Function, platform" }).types,
    ["function", "platform"],
  );
  assert.deepEqual(
    parse({ KINESIS_TELEMETRY_TYPES: " , " }).types,
    ["platform", "function", "extension"],
  );
});

Deno.test("config: a stream ARN gives the region and the name", () => {
  const arn = "arn:aws:kinesis:ap-southeast-2:123456789012:stream/my.stream-1";
  const config = parse({ KINESIS_TELEMETRY_STREAM: arn, AWS_REGION: "" });
  assert.equal(config.streamArn, arn);
  assert.equal(config.streamName, "my.stream-1");
  assert.equal(config.region, "ap-southeast-2");
  // The ARN's region wins over the function's: the stream lives there.
  assert.equal(
    parse({ KINESIS_TELEMETRY_STREAM: arn, AWS_REGION: "us-east-1" }).region,
    "ap-southeast-2",
  );
  const china = "arn:aws-cn:kinesis:cn-north-1:123456789012:stream/s";
  assert.equal(parse({ KINESIS_TELEMETRY_STREAM: china }).region, "cn-north-1");
});

Deno.test("config: malformed ARNs and names are refused with the value", () => {
  for (
    const bad of [
      "arn:aws:sqs:eu-west-1:123456789012:stream/s",
      "arn:aws:kinesis:eu-west-1:1234:stream/s",
      "arn:aws:kinesis:eu-west-1:123456789012:stream/",
      "arn:aws:kinesis:eu-west-1:123456789012:deliverystream/s",
      "arn:aws:kinesis::123456789012:stream/s",
    ]
  ) {
    const error = rejects(
      { KINESIS_TELEMETRY_STREAM: bad },
      "KINESIS_TELEMETRY_STREAM",
      /is not a Kinesis stream ARN/,
    );
    assert.ok(error.message.includes(bad));
  }
  rejects(
    { KINESIS_TELEMETRY_STREAM: "has space" },
    "KINESIS_TELEMETRY_STREAM",
    /not a valid stream name/,
  );
  rejects(
    { KINESIS_TELEMETRY_STREAM: "x".repeat(129) },
    "KINESIS_TELEMETRY_STREAM",
  );
  assert.equal(
    parse({ KINESIS_TELEMETRY_STREAM: "x".repeat(128) }).streamName.length,
    128,
  );
});

Deno.test("config: a missing or blank stream is an error naming the variable", () => {
  rejects(
    { KINESIS_TELEMETRY_STREAM: undefined },
    "KINESIS_TELEMETRY_STREAM",
    /required/,
  );
  rejects(
    { KINESIS_TELEMETRY_STREAM: "   " },
    "KINESIS_TELEMETRY_STREAM",
    /required/,
  );
});

Deno.test("config: a stream name without a region is an error naming AWS_REGION", () => {
  rejects({ AWS_REGION: undefined }, "AWS_REGION", /required/);
  assert.equal(
    parse({ AWS_REGION: undefined, AWS_DEFAULT_REGION: "sa-east-1" }).region,
    "sa-east-1",
  );
});

Deno.test("config: port 9001 is reserved", () => {
  rejects(
    { KINESIS_TELEMETRY_LISTENER_PORT: "9001" },
    "KINESIS_TELEMETRY_LISTENER_PORT",
    /9001 is reserved/,
  );
  assert.equal(
    parse({ KINESIS_TELEMETRY_LISTENER_PORT: "9002" }).listenerPort,
    9002,
  );
});

Deno.test("config: MAX_BUFFER_BYTES must hold one delivery (4 × BUFFER_MAX_BYTES)", () => {
  const error = rejects(
    {
      KINESIS_TELEMETRY_BUFFER_MAX_BYTES: "524288",
      KINESIS_TELEMETRY_MAX_BUFFER_BYTES: String(4 * 524_288 - 1),
    },
    "KINESIS_TELEMETRY_MAX_BUFFER_BYTES",
    /smaller than one Telemetry API delivery/,
  );
  assert.ok(error.message.includes(String(4 * 524_288)));
  assert.equal(
    parse({
      KINESIS_TELEMETRY_BUFFER_MAX_BYTES: "524288",
      KINESIS_TELEMETRY_MAX_BUFFER_BYTES: String(4 * 524_288),
    }).maxBufferBytes,
    4 * 524_288,
  );
});

Deno.test("config: the spill folder must lie under /tmp/kinesis-telemetry/, the one place the extension may write", () => {
  assert.equal(
    parse({ KINESIS_TELEMETRY_SPILL_DIR: "/tmp/kinesis-telemetry/a_b-1.x" })
      .spillDir,
    "/tmp/kinesis-telemetry/a_b-1.x",
  );
  assert.equal(parse({ KINESIS_TELEMETRY_SPILL_BYTES: "0" }).maxSpillBytes, 0);
  for (
    const dir of [
      "/tmp/kinesis-telemetry",
      "/tmp/kinesis-telemetry/",
      "/tmp/kinesis-telemetry/../etc",
      "/tmp/kinesis-telemetry/a/..",
      "/tmp/kinesis-telemetryx/spill",
      "tmp/kinesis-telemetry/spill",
      "/var/task/spill",
    ]
  ) {
    rejects(
      { KINESIS_TELEMETRY_SPILL_DIR: dir },
      "KINESIS_TELEMETRY_SPILL_DIR",
      /is not a folder under \/tmp\/kinesis-telemetry\//,
    );
  }
});

const RANGES: [suffix: string, min: number, max: number][] = [
  ["BUFFER_MAX_ITEMS", 1000, 10_000],
  ["BUFFER_MAX_BYTES", 262_144, 1_048_576],
  ["BUFFER_TIMEOUT_MS", 25, 30_000],
  ["LISTENER_PORT", 0, 65_535],
  ["MAX_RECORD_BYTES", 65_536, 10_485_760],
  ["MAX_BUFFER_BYTES", 1_048_576, 536_870_912],
  ["MAX_HOLD_MS", 10, 60_000],
  ["SPILL_BYTES", 0, 8_589_934_592],
  ["SHUTDOWN_MARGIN_MS", 50, 1_500],
  ["REQUEST_TIMEOUT_MS", 100, 60_000],
];

Deno.test("config: integer variables accept their bounds and refuse beyond", () => {
  for (const [suffix, min, max] of RANGES) {
    const variable = `${ENV_PREFIX}${suffix}`;
    for (const ok of [min, max]) {
      // The buffer bound depends on the delivery size: give it room.
      const extra = suffix === "BUFFER_MAX_BYTES"
        ? { KINESIS_TELEMETRY_MAX_BUFFER_BYTES: String(4 * max) }
        : {};
      assert.doesNotThrow(() => parse({ [variable]: String(ok), ...extra }));
    }
    if (min > 0) {
      rejects(
        { [variable]: String(min - 1) },
        variable,
        new RegExp(`out of range \\(allowed ${min}–${max}\\)`),
      );
    }
    rejects(
      { [variable]: String(max + 1) },
      variable,
      new RegExp(`out of range \\(allowed ${min}–${max}\\)`),
    );
    for (const notWhole of ["-1", "1.5", "12abc", "0x10", "1e3"]) {
      rejects({ [variable]: notWhole }, variable, /is not a whole number/);
    }
  }
});

Deno.test("config: enum variables refuse unknown values and list the allowed ones", () => {
  const cases: [string, RegExp][] = [
    ["FORMAT", /not one of kpl, json, ndjson/],
    ["COMPRESSION", /not one of none, gzip, zstd/],
    ["PARTITION_KEY", /not one of requestId, environment, random/],
    ["LOG_LEVEL", /not one of error, warn, info, debug/],
    ["FLUSH", /not one of invoke, end/],
    ["SCHEMA_VERSION", /not one of 2022-07-01, 2022-12-13, 2025-01-29/],
    ["TYPES", /not one of platform, function, extension/],
  ];
  for (const [suffix, allowed] of cases) {
    const variable = `${ENV_PREFIX}${suffix}`;
    const error = rejects({ [variable]: "bogus" }, variable, allowed);
    assert.ok(error.message.includes('"bogus"'));
  }
});

Deno.test("config: excluded types keep their case (event types are exact)", () => {
  const config = parse({
    KINESIS_TELEMETRY_EXCLUDE_TYPES:
      "platform.initStart,,platform.logsDropped ",
  });
  assert.ok(config.excludeTypes.has("platform.initStart"));
  assert.ok(config.excludeTypes.has("platform.logsDropped"));
  assert.ok(!config.excludeTypes.has("platform.initstart"));
  assert.equal(config.excludeTypes.size, 2);
});

Deno.test("config: the listener host is an address or host name", () => {
  assert.equal(
    parse({ KINESIS_TELEMETRY_LISTENER_HOST: "127.0.0.1" }).listenerHost,
    "127.0.0.1",
  );
  assert.equal(
    parse({ KINESIS_TELEMETRY_LISTENER_HOST: "sandbox.localdomain" })
      .listenerHost,
    "sandbox.localdomain",
  );
  assert.throws(
    () => parse({ KINESIS_TELEMETRY_LISTENER_HOST: "http://x/" }),
    /KINESIS_TELEMETRY_LISTENER_HOST: "http:\/\/x\/" is not an IP address or host name/,
  );
});

Deno.test("config: the buffer's default bound follows AWS_LAMBDA_FUNCTION_MEMORY_SIZE", () => {
  const MIB = 1024 * 1024;
  assert.equal(parse({}).maxBufferBytes, 8 * MIB, "not in Lambda");
  assert.equal(
    parse({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "128" }).maxBufferBytes,
    4 * MIB,
  );
  assert.equal(
    parse({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "1024" }).maxBufferBytes,
    8 * MIB,
  );
  assert.equal(
    parse({
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "1024",
      KINESIS_TELEMETRY_MAX_BUFFER_BYTES: String(2 * MIB),
    }).maxBufferBytes,
    2 * MIB,
    "an explicit bound wins",
  );
});

Deno.test("config: a buffer bound the function's memory cannot hold is refused", () => {
  rejects(
    {
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "128",
      KINESIS_TELEMETRY_MAX_BUFFER_BYTES: String(64 * 1024 * 1024),
    },
    `${ENV_PREFIX}MAX_BUFFER_BYTES`,
    /does not fit a function of 128 MB/,
  );
});

Deno.test("config: a buffer bound the V8 heap cannot hold is refused", () => {
  const env: Record<string, string> = {
    ...BASE,
    KINESIS_TELEMETRY_MAX_BUFFER_BYTES: String(512 * 1024 * 1024),
  };
  const read = (name: string) => env[name];
  assert.throws(
    () => parseConfig(read, 76 * 1024 * 1024),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.variable === `${ENV_PREFIX}MAX_BUFFER_BYTES` &&
      /V8 heap of 76 MiB/.test(error.message),
  );
  assert.equal(
    parseConfig(read, 2048 * 1024 * 1024).maxBufferBytes,
    512 * 1024 * 1024,
    "a heap large enough takes it",
  );
});

Deno.test("config: Lambda Managed Instances is detected from its initialization type", () => {
  const config = parse({
    AWS_LAMBDA_INITIALIZATION_TYPE: "lambda-managed-instances",
  });
  assert.equal(config.mode, "managed-instances");
  assert.equal(
    config.modeReason,
    "AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances",
  );
  // The schema LMI requires is the default there, and a wider margin.
  assert.equal(config.schemaVersion, "2025-01-29");
  assert.equal(config.shutdownMarginMs, 300);
});

Deno.test("config: the buffering timeout defaults longer on Lambda Managed Instances, and an explicit one wins", () => {
  assert.equal(parse({}).buffering.timeoutMs, 100);
  assert.equal(
    parse({ AWS_LAMBDA_MAX_CONCURRENCY: "64" }).buffering.timeoutMs,
    MANAGED_BUFFER_TIMEOUT_MS,
  );
  assert.equal(
    parse({
      AWS_LAMBDA_MAX_CONCURRENCY: "64",
      KINESIS_TELEMETRY_BUFFER_TIMEOUT_MS: "50",
    }).buffering.timeoutMs,
    50,
  );
});

Deno.test("config: AWS_LAMBDA_MAX_CONCURRENCY alone means Lambda Managed Instances", () => {
  const detected = detectMode((name) =>
    ({
      AWS_LAMBDA_INITIALIZATION_TYPE: "on-demand",
      AWS_LAMBDA_MAX_CONCURRENCY: "64",
    })[name]
  );
  assert.deepEqual(detected, {
    mode: "managed-instances",
    reason: "AWS_LAMBDA_MAX_CONCURRENCY=64",
  });
  assert.equal(
    detectMode((name) =>
      name === "AWS_LAMBDA_INITIALIZATION_TYPE" ? "provisioned-concurrency" : ""
    ).mode,
    "on-demand",
  );
});

Deno.test("config: an older schema is refused on Lambda Managed Instances", () => {
  rejects(
    {
      AWS_LAMBDA_MAX_CONCURRENCY: "16",
      KINESIS_TELEMETRY_SCHEMA_VERSION: "2022-12-13",
    },
    "KINESIS_TELEMETRY_SCHEMA_VERSION",
    /refused on Lambda Managed Instances \(AWS_LAMBDA_MAX_CONCURRENCY=16\)/,
  );
  const ordinary = parse({ KINESIS_TELEMETRY_SCHEMA_VERSION: "2025-01-29" });
  assert.equal(ordinary.mode, "on-demand");
  assert.equal(ordinary.schemaVersion, "2025-01-29");
});

Deno.test("config: flush interval and requests in flight are read and bounded", () => {
  const config = parse({
    KINESIS_TELEMETRY_FLUSH_INTERVAL_MS: "400",
    KINESIS_TELEMETRY_MAX_IN_FLIGHT: "4",
  });
  assert.equal(config.flushIntervalMs, 400);
  assert.equal(config.maxInFlight, 4);
  rejects(
    { KINESIS_TELEMETRY_FLUSH_INTERVAL_MS: "5" },
    "KINESIS_TELEMETRY_FLUSH_INTERVAL_MS",
    /10–60000/,
  );
  rejects(
    { KINESIS_TELEMETRY_MAX_IN_FLIGHT: "0" },
    "KINESIS_TELEMETRY_MAX_IN_FLIGHT",
    /1–16/,
  );
});

Deno.test("config: the backlog policy and its cap", () => {
  const drop = parse({
    KINESIS_TELEMETRY_BACKLOG: "Drop",
    KINESIS_TELEMETRY_BACKLOG_HOLD_MS: "5000",
  });
  assert.equal(drop.backlog, "drop");
  assert.equal(drop.backlogHoldMs, 5_000);
  // The cap defaults to 1 s, never below the hold it extends.
  assert.equal(
    parse({ KINESIS_TELEMETRY_MAX_HOLD_MS: "3000" }).backlogHoldMs,
    3_000,
  );
  assert.throws(
    () => parse({ KINESIS_TELEMETRY_BACKLOG: "keep" }),
    /KINESIS_TELEMETRY_BACKLOG: "keep" is not one of extend, drop/,
  );
  assert.throws(
    () =>
      parse({
        KINESIS_TELEMETRY_MAX_HOLD_MS: "500",
        KINESIS_TELEMETRY_BACKLOG_HOLD_MS: "400",
      }),
    /KINESIS_TELEMETRY_BACKLOG_HOLD_MS: 400 is out of range \(allowed 500–60000\)/,
  );
});

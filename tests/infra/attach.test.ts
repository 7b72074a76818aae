import assert from "node:assert/strict";
import {
  attachTelemetry,
  checkLayerArchitecture,
  type TelemetrySource,
} from "../../infra/attach.ts";
import { IncompatibleTargetError } from "../../infra/runtimes.ts";
import { startMocks, valueOf } from "./fixtures.ts";

const X86_LAYER =
  "arn:aws:lambda:eu-west-1:123456789012:layer:kinesis-telemetry-prod-x86_64:7";
const ARM_LAYER =
  "arn:aws:lambda:eu-west-1:123456789012:layer:kinesis-telemetry-prod-arm64:7";
const POLICY =
  "arn:aws:iam::123456789012:policy/kinesis-telemetry-prod-put-records";
const STREAM =
  "arn:aws:kinesis:eu-west-1:123456789012:stream/kinesis-telemetry-prod";

function source(overrides: Partial<TelemetrySource> = {}): TelemetrySource {
  return {
    layerArns: { x86_64: X86_LAYER, arm64: ARM_LAYER },
    policyArn: POLICY,
    environment: {
      KINESIS_TELEMETRY_STREAM: STREAM,
      KINESIS_TELEMETRY_FORMAT: "kpl",
    },
    ...overrides,
  };
}

function refusedWith(pattern: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof IncompatibleTargetError, String(error));
    assert.match(error.message, pattern);
    return true;
  };
}

Deno.test("a Python 3.13 arm64 function gets the arm64 layer, the policy and the variables", async () => {
  await startMocks();
  const attachment = attachTelemetry(source(), {
    runtime: "python3.13",
    architecture: "arm64",
    environment: {
      KINESIS_TELEMETRY_LOG_LEVEL: "debug",
      KINESIS_TELEMETRY_FORMAT: "json",
    },
  });
  assert.equal(attachment.architecture, "arm64");
  assert.equal(await valueOf(attachment.layerArn), ARM_LAYER);
  assert.equal(await valueOf(attachment.policyArn), POLICY);
  assert.deepEqual(await valueOf(attachment.environment), {
    KINESIS_TELEMETRY_STREAM: STREAM,
    KINESIS_TELEMETRY_FORMAT: "json",
    KINESIS_TELEMETRY_LOG_LEVEL: "debug",
  });
});

Deno.test("an x86_64 function gets the x86_64 layer", async () => {
  await startMocks();
  const attachment = attachTelemetry(source(), {
    runtime: "java21",
    architecture: "x86_64",
  });
  assert.equal(await valueOf(attachment.layerArn), X86_LAYER);
  assert.deepEqual(await valueOf(attachment.environment), {
    KINESIS_TELEMETRY_STREAM: STREAM,
    KINESIS_TELEMETRY_FORMAT: "kpl",
  });
});

Deno.test("Amazon Linux 2 runtimes are refused before anything is attached", () => {
  for (
    const runtime of [
      "nodejs18.x",
      "python3.11",
      "java11",
      "java17",
      "java8.al2",
      "provided.al2",
      "dotnet6",
      "ruby3.2",
    ]
  ) {
    assert.throws(
      () => attachTelemetry(source(), { runtime, architecture: "arm64" }),
      refusedWith(
        /Amazon Linux 2 \(glibc 2\.26\).*Move the function to an Amazon Linux 2023 runtime/,
      ),
      runtime,
    );
  }
});

Deno.test("an unknown architecture is refused with Lambda's spelling", () => {
  assert.throws(
    () =>
      attachTelemetry(source(), {
        runtime: "python3.13",
        architecture: "aarch64",
      }),
    refusedWith(/Unknown architecture "aarch64".*"arm64"/),
  );
});

Deno.test("a source without a layer for the function's architecture is refused", () => {
  assert.throws(
    () =>
      attachTelemetry(source({ layerArns: { x86_64: X86_LAYER } }), {
        runtime: "nodejs22.x",
        architecture: "arm64",
      }),
    refusedWith(
      /No kinesis-telemetry layer for arm64: the source publishes x86_64 only.*exec format error/,
    ),
  );
});

Deno.test("variables that are not the extension's are refused", () => {
  assert.throws(
    () =>
      attachTelemetry(source(), {
        runtime: "nodejs22.x",
        architecture: "arm64",
        environment: { AWS_REGION: "us-east-1" },
      }),
    refusedWith(/AWS_REGION is not one of the extension's/),
  );
});

Deno.test("a layer ARN of the other architecture is refused once known", async () => {
  assert.throws(
    () => checkLayerArchitecture(X86_LAYER, "arm64"),
    refusedWith(/built for x86_64, but the function runs on arm64/),
  );
  assert.throws(
    () => checkLayerArchitecture(ARM_LAYER, "x86_64"),
    refusedWith(/built for arm64/),
  );
  assert.equal(checkLayerArchitecture(ARM_LAYER, "arm64"), ARM_LAYER);
  const foreign =
    "arn:aws:lambda:eu-west-1:123456789012:layer:other-extension:3";
  assert.equal(checkLayerArchitecture(foreign, "arm64"), foreign);

  // Through the helper: SSM parameters read the wrong way round. The
  // refusal fails the output (and, as in a real `pulumi up`, every promise
  // derived from it: those rejections are the program's failure report, so
  // they are caught here and counted).
  const reported: unknown[] = [];
  const catchReport = (event: PromiseRejectionEvent) => {
    if (event.reason instanceof IncompatibleTargetError) {
      reported.push(event.reason);
      event.preventDefault();
    }
  };
  globalThis.addEventListener("unhandledrejection", catchReport);
  try {
    await startMocks();
    const swapped = attachTelemetry(
      source({ layerArns: { x86_64: ARM_LAYER, arm64: X86_LAYER } }),
      {
        runtime: "python3.13",
        architecture: "arm64",
      },
    );
    await assert.rejects(
      valueOf(swapped.layerArn),
      refusedWith(/built for x86_64/),
    );
    for (let turn = 0; turn < 5; turn++) {
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  } finally {
    globalThis.removeEventListener("unhandledrejection", catchReport);
  }
  assert.ok(reported.length > 0);
});

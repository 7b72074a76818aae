import assert from "node:assert/strict";
import * as aws from "@pulumi/aws";
import {
  checkRuntime,
  classifyRuntime,
  deprecatedBy,
  IncompatibleTargetError,
  LAYER_COMPATIBLE_RUNTIMES,
  MAX_LAYER_RUNTIMES,
  parseArchitecture,
  RUNTIME_DEPRECATIONS,
  RUNTIMES_REVIEWED_ON,
} from "../../infra/runtimes.ts";

const PULUMI_RUNTIMES: string[] = Object.values(aws.lambda.Runtime);

Deno.test("layer runtimes are exactly the supported Amazon Linux 2023 runtimes of @pulumi/aws's enum", () => {
  const al2023InEnum = PULUMI_RUNTIMES.filter((runtime) =>
    classifyRuntime(runtime).os === "al2023" &&
    !deprecatedBy(runtime, RUNTIMES_REVIEWED_ON)
  );
  assert.deepEqual([...LAYER_COMPATIBLE_RUNTIMES].sort(), al2023InEnum.sort());
  assert.ok(LAYER_COMPATIBLE_RUNTIMES.length <= MAX_LAYER_RUNTIMES);
  for (const runtime of LAYER_COMPATIBLE_RUNTIMES) {
    assert.ok(
      PULUMI_RUNTIMES.includes(runtime),
      `${runtime} is not in aws.lambda.Runtime`,
    );
  }
});

Deno.test("every runtime of @pulumi/aws's enum is classified", () => {
  const unknown = PULUMI_RUNTIMES.filter((runtime) =>
    classifyRuntime(runtime).os === undefined
  );
  assert.deepEqual(unknown, []);
});

Deno.test("operating systems of known runtimes", () => {
  const expected: Record<string, string> = {
    "nodejs18.x": "al2",
    "nodejs20.x": "al2023",
    "nodejs24.x": "al2023",
    "python3.9": "al2",
    "python3.11": "al2",
    "python3.12": "al2023",
    "python3.7": "al1",
    "java8": "al1",
    "java8.al2": "al2",
    "java11": "al2",
    "java17": "al2",
    "java21": "al2023",
    "java17.al2023": "al2023",
    "dotnet6": "al2",
    "dotnet8": "al2023",
    // .NET Core 3.1 and Node.js 10 ran on Amazon Linux 2, their
    // predecessors on Amazon Linux 1.
    "dotnetcore3.1": "al2",
    "dotnetcore2.1": "al1",
    "nodejs10.x": "al2",
    "nodejs8.10": "al1",
    "ruby2.7": "al2",
    "ruby3.2": "al2",
    "ruby3.3": "al2023",
    "provided": "al1",
    "provided.al2": "al2",
    "provided.al2023": "al2023",
    "go1.x": "al1",
  };
  for (const [runtime, os] of Object.entries(expected)) {
    assert.equal(classifyRuntime(runtime).os, os, runtime);
  }
});

Deno.test("runtimes past Lambda's deprecation date are not declared on the layers, yet still attach", () => {
  for (const runtime of ["nodejs20.x", "dotnet8"]) {
    assert.ok(deprecatedBy(runtime, RUNTIMES_REVIEWED_ON), runtime);
    assert.ok(!LAYER_COMPATIBLE_RUNTIMES.includes(runtime), runtime);
    // Functions on them still run on Amazon Linux 2023 until Lambda blocks
    // updates, so attaching stays allowed.
    assert.doesNotThrow(() => checkRuntime(runtime), runtime);
  }
  assert.ok(!deprecatedBy("nodejs22.x", RUNTIMES_REVIEWED_ON));
  assert.ok(deprecatedBy("nodejs22.x", "2027-04-30"));
  assert.ok(!deprecatedBy("python3.13", "2026-12-02"));
  for (const date of Object.values(RUNTIME_DEPRECATIONS)) {
    assert.match(date, /^\d{4}-\d{2}-\d{2}$/);
  }
});

Deno.test("runtimes Lambda adds later in a known family are accepted", () => {
  for (
    const runtime of [
      "nodejs26.x",
      "python3.15",
      "java29",
      "dotnet12",
      "ruby3.5",
      "ruby4.0",
    ]
  ) {
    assert.doesNotThrow(() => checkRuntime(runtime), runtime);
  }
});

Deno.test("Amazon Linux 2 and older runtimes are refused with the reason and the way out", () => {
  for (
    const runtime of [
      "nodejs18.x",
      "python3.11",
      "java17",
      "java8.al2",
      "provided.al2",
      "dotnet6",
      "ruby3.2",
    ]
  ) {
    assert.throws(() => checkRuntime(runtime), (error: unknown) => {
      assert.ok(error instanceof IncompatibleTargetError);
      assert.match(
        error.message,
        new RegExp(
          `"${
            runtime.replace(".", "\\.")
          }" runs on Amazon Linux 2 \\(glibc 2\\.26\\)`,
        ),
      );
      assert.match(error.message, /glibc 2\.27/);
      assert.match(error.message, /python3\.13/);
      return true;
    });
  }
  assert.throws(() => checkRuntime("go1.x"), /Amazon Linux 1/);
});

Deno.test("an unknown runtime is refused, not guessed", () => {
  assert.throws(
    () => checkRuntime("cobol85"),
    /Unknown Lambda runtime "cobol85"/,
  );
  assert.throws(() => checkRuntime(""), IncompatibleTargetError);
});

Deno.test("architectures: Lambda's names pass, aliases get a hint", () => {
  assert.equal(parseArchitecture("x86_64"), "x86_64");
  assert.equal(parseArchitecture("arm64"), "arm64");
  assert.throws(() => parseArchitecture("amd64"), /Lambda calls it "x86_64"/);
  assert.throws(() => parseArchitecture("aarch64"), /Lambda calls it "arm64"/);
  assert.throws(
    () => parseArchitecture("riscv64"),
    /use "x86_64" or "arm64"\.$/,
  );
});

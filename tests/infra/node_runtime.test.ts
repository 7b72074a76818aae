/**
 * Runs infra/index.ts the way `pulumi up` does on a user's machine:
 * Pulumi's Node.js entry point (`@pulumi/pulumi/cmd/run`, as the language
 * host starts it for `runtime.options.typescript: false`) loads the
 * TypeScript with Node's own type stripping. Only the engine is replaced,
 * by mocks. Needs Node.js 22.18 or later: `PULUMI_TEST_NODE` names one,
 * else `node` on PATH is used when recent enough.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { layerDirWithZips } from "./fixtures.ts";

const PROJECT_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PRELOAD = fileURLToPath(new URL("./node_mocks.mjs", import.meta.url));
const MINIMUM = [22, 18];

function nodeVersion(binary: string): number[] | undefined {
  try {
    const text = execFileSync(binary, ["--version"], { encoding: "utf8" });
    return text.trim().replace(/^v/, "").split(".").map(Number);
  } catch {
    return undefined;
  }
}

function findNode(): { binary: string; reason: string } {
  const binary = Deno.env.get("PULUMI_TEST_NODE") ?? "node";
  const version = nodeVersion(binary);
  if (!version) return { binary: "", reason: `${binary} not found` };
  const recent = version[0] > MINIMUM[0] ||
    (version[0] === MINIMUM[0] && version[1] >= MINIMUM[1]);
  return recent ? { binary, reason: "" } : {
    binary: "",
    reason: `${binary} is v${version.join(".")}, older than v${
      MINIMUM.join(".")
    }`,
  };
}

const node = findNode();
if (node.reason) {
  console.log(
    `node_runtime.test.ts: skipped (${node.reason}). Set PULUMI_TEST_NODE to a Node.js >= 22.18 binary to run it.`,
  );
}

function runProgram(stack: string, config: Record<string, string>) {
  const result = spawnSync(node.binary, [
    "--import",
    PRELOAD,
    "node_modules/@pulumi/pulumi/cmd/run",
    "--monitor=127.0.0.1:1",
    "--project=kinesis-telemetry",
    `--stack=${stack}`,
    "infra/index.ts",
  ], {
    cwd: PROJECT_ROOT,
    encoding: "utf8",
    timeout: 60_000,
    env: {
      ...Deno.env.toObject(),
      KT_PROJECT: "kinesis-telemetry",
      KT_STACK: stack,
      // How the language host passes stack config to the program.
      PULUMI_CONFIG: JSON.stringify(
        Object.fromEntries(
          Object.entries(config).map(([k, v]) => [`kinesis-telemetry:${k}`, v]),
        ),
      ),
    },
  });
  const output = `${result.stdout}${result.stderr}`;
  const line = output.split("\n").find((l) => l.startsWith("KT_REGISTERED "));
  assert.ok(line, `no resource list in the output:\n${output}`);
  return {
    output,
    registered: JSON.parse(line.slice("KT_REGISTERED ".length)) as string[],
  };
}

Deno.test({
  name: "Pulumi's Node.js entry point runs infra/index.ts with type stripping",
  ignore: node.reason !== "",
  fn() {
    const layers = layerDirWithZips();
    try {
      const { registered, output } = runProgram("nodecheck", {
        layerDir: layers.path,
      });
      assert.doesNotMatch(output, /failed with an unhandled exception/);
      for (
        const expected of [
          "aws:kinesis/stream:Stream kinesis-telemetry-nodecheck",
          "aws:lambda/layerVersion:LayerVersion kinesis-telemetry-nodecheck-x86_64",
          "aws:lambda/layerVersion:LayerVersion kinesis-telemetry-nodecheck-arm64",
          "aws:iam/policy:Policy kinesis-telemetry-nodecheck-put-records",
          "aws:ssm/parameter:Parameter /kinesis-telemetry/nodecheck/layer-arn-arm64",
          "aws:lambda/function:Function kinesis-telemetry-nodecheck-demo",
          "kinesis-telemetry:index:KinesisTelemetry kinesis-telemetry",
        ]
      ) {
        assert.ok(
          registered.includes(expected),
          `${expected} missing from ${registered.join(", ")}`,
        );
      }
    } finally {
      layers.remove();
    }
  },
});

Deno.test({
  name:
    "under Node, missing zips end the program with the build command and no stack trace",
  ignore: node.reason !== "",
  fn() {
    const { registered, output } = runProgram("nodecheck", {
      layerDir: "/nonexistent/kt-layers",
    });
    assert.match(
      output,
      /error: \[runtime\] Layer zips not found: .*`npx -y deno@2 task build`/,
    );
    assert.doesNotMatch(output, /^\s+at /m);
    assert.deepEqual(registered, [
      "pulumi:pulumi:Stack kinesis-telemetry-nodecheck",
    ]);
  },
});

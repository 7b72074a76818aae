/**
 * Runs infra/index.ts the way `pulumi up` does on a user's machine:
 * Pulumi's Node.js entry point (`@pulumi/pulumi/cmd/run`, as the language
 * host starts it for `runtime.options.typescript: false`) loads the
 * TypeScript with Node's own type stripping. Only the engine is replaced,
 * by mocks. Needs Node.js 22.18 or later: `PULUMI_TEST_NODE` names one,
 * else `node` on PATH when recent enough, else Node 22.18.0 from the npm
 * registry (`npx -p node@22.18.0`, cached by npm after the first run).
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { defaultNamePrefix } from "../../infra/names.ts";
import { layerDirWithZips } from "./fixtures.ts";

const PROJECT_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PRELOAD = fileURLToPath(new URL("./node_mocks.mjs", import.meta.url));
const MINIMUM = [22, 18];
const REGISTRY_NODE = "node@22.18.0";

function recentNode(binary: string): string | undefined {
  try {
    const text = execFileSync(binary, ["--version"], { encoding: "utf8" });
    const [major, minor] = text.trim().replace(/^v/, "").split(".").map(Number);
    const recent = major > MINIMUM[0] ||
      (major === MINIMUM[0] && minor >= MINIMUM[1]);
    return recent ? binary : undefined;
  } catch {
    return undefined;
  }
}

function nodeFromRegistry(): string | undefined {
  try {
    const path = execFileSync("npx", [
      "--prefer-offline",
      "-y",
      "-p",
      REGISTRY_NODE,
      "--",
      "node",
      "-p",
      "process.execPath",
    ], {
      encoding: "utf8",
      timeout: 180_000,
      stdio: ["ignore", "pipe", "pipe"],
    });
    return recentNode(path.trim());
  } catch {
    return undefined;
  }
}

const explicit = Deno.env.get("PULUMI_TEST_NODE");
const nodeBinary = explicit
  ? recentNode(explicit)
  : recentNode("node") ?? nodeFromRegistry();
const skipReason = nodeBinary
  ? ""
  : explicit
  ? `PULUMI_TEST_NODE=${explicit} is not a Node.js >= ${MINIMUM.join(".")}`
  : `no Node.js >= ${
    MINIMUM.join(".")
  } on PATH and ${REGISTRY_NODE} could not be fetched with npx`;
if (skipReason) console.log(`node_runtime.test.ts: skipped: ${skipReason}.`);

function runProgram(stack: string, config: Record<string, string>) {
  const result = spawnSync(nodeBinary!, [
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
      PULUMI_CONFIG: JSON.stringify({
        "aws:region": "eu-west-1",
        ...Object.fromEntries(
          Object.entries(config).map(([k, v]) => [`kinesis-telemetry:${k}`, v]),
        ),
      }),
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
  ignore: skipReason !== "",
  fn() {
    const layers = layerDirWithZips();
    try {
      const { registered, output } = runProgram("nodecheck", {
        layerDir: layers.path,
      });
      assert.doesNotMatch(output, /failed with an unhandled exception/);
      const stem = defaultNamePrefix("kinesis-telemetry", "nodecheck");
      for (
        const expected of [
          `aws:kinesis/stream:Stream ${stem}`,
          `aws:lambda/layerVersion:LayerVersion ${stem}-x86_64`,
          `aws:lambda/layerVersion:LayerVersion ${stem}-arm64`,
          `aws:iam/policy:Policy ${stem}-eu-west-1-put-records`,
          "aws:ssm/parameter:Parameter /kinesis-telemetry/nodecheck/layer-arn-arm64",
          `aws:lambda/function:Function ${stem}-demo`,
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
  ignore: skipReason !== "",
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

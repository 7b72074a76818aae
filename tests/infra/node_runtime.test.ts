/**
 * Runs the program the way `pulumi up` does on a user's machine: Pulumi's
 * Node.js entry point (`@pulumi/pulumi/cmd/run`, as the language host
 * starts it for `runtime.options.typescript: false`) loads Pulumi.yaml's
 * `main`, which checks the Node.js version and loads the TypeScript with
 * Node's own type stripping. Only the engine is replaced, by mocks.
 *
 * Needs a Node.js 22.18 or later (`PULUMI_TEST_NODE`, else `node` on PATH
 * when recent enough, else 22.18.0 from the npm registry) and one older
 * (`PULUMI_TEST_OLD_NODE`, else `node` on PATH when older, else 22.12.0
 * from the npm registry; npm caches both). When one cannot be had the tests
 * fail and say why: they never pass by not running.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { defaultNamePrefix } from "../../infra/names.ts";
import { nodeVersionProblem } from "../../infra/node_version.mjs";
import { layerDirWithZips } from "./fixtures.ts";

const PROJECT_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PRELOAD = fileURLToPath(new URL("./node_mocks.mjs", import.meta.url));
const MAIN = (parse(
  readFileSync(new URL("../../Pulumi.yaml", import.meta.url), "utf8"),
) as { main: string }).main;
const REGISTRY_NODE = "node@22.18.0";
const REGISTRY_OLD_NODE = "node@22.12.0";

function versionOf(binary: string): string | undefined {
  try {
    return execFileSync(binary, ["-p", "process.versions.node"], {
      encoding: "utf8",
    }).trim();
  } catch {
    return undefined;
  }
}

function nodeFromRegistry(spec: string): string | undefined {
  try {
    return execFileSync("npx", [
      "--prefer-offline",
      "-y",
      "-p",
      spec,
      "--",
      "node",
      "-p",
      "process.execPath",
    ], {
      encoding: "utf8",
      timeout: 180_000,
      stdio: ["ignore", "pipe", "pipe"],
    }).trim();
  } catch {
    return undefined;
  }
}

/** A Node.js binary that is (`recent`) or is not able to run the program. */
function findNode(
  recent: boolean,
  variable: string,
  registrySpec: string,
): { binary?: string; problem?: string } {
  const fits = (binary: string) => {
    const version = versionOf(binary);
    return version !== undefined &&
      (nodeVersionProblem(version) === undefined) === recent;
  };
  const wanted = recent ? "Node.js >= 22.18" : "Node.js older than 22.18";
  const explicit = Deno.env.get(variable);
  if (explicit) {
    return fits(explicit)
      ? { binary: explicit }
      : { problem: `${variable}=${explicit} is not a ${wanted}` };
  }
  if (fits("node")) return { binary: "node" };
  const fetched = nodeFromRegistry(registrySpec);
  if (fetched && fits(fetched)) return { binary: fetched };
  return {
    problem: `no ${wanted}: \`node\` on PATH is not one and ${registrySpec} ` +
      `could not be fetched with npx; set ${variable} to one`,
  };
}

const recentNode = findNode(true, "PULUMI_TEST_NODE", REGISTRY_NODE);
const oldNode = findNode(false, "PULUMI_TEST_OLD_NODE", REGISTRY_OLD_NODE);

function needed(found: { binary?: string; problem?: string }): string {
  assert.ok(
    found.binary,
    `cannot run the program under Node: ${found.problem}`,
  );
  return found.binary;
}

function runProgram(
  nodeBinary: string,
  stack: string,
  config: Record<string, string>,
) {
  const result = spawnSync(nodeBinary, [
    "--import",
    PRELOAD,
    "node_modules/@pulumi/pulumi/cmd/run",
    "--monitor=127.0.0.1:1",
    "--project=kinesis-telemetry",
    `--stack=${stack}`,
    MAIN,
  ], {
    cwd: PROJECT_ROOT,
    encoding: "utf8",
    // Under Node.js 20 the mocked run takes up to a minute to exit after a
    // RunError (the SDK's shutdown against the absent engine), not the
    // program itself.
    timeout: 180_000,
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
  name: "Pulumi's Node.js entry point runs the program with type stripping",
  fn() {
    const node = needed(recentNode);
    const layers = layerDirWithZips();
    try {
      const { registered, output } = runProgram(node, "nodecheck", {
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
  fn() {
    const { registered, output } = runProgram(needed(recentNode), "nodecheck", {
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

Deno.test({
  name:
    "under a Node.js too old to strip types, the program says what to install",
  fn() {
    const node = needed(oldNode);
    const version = versionOf(node)!;
    const layers = layerDirWithZips();
    try {
      const { registered, output } = runProgram(node, "nodecheck", {
        layerDir: layers.path,
      });
      assert.ok(
        output.includes(`error: [runtime] ${nodeVersionProblem(version)}`),
        output,
      );
      assert.doesNotMatch(output, /ERR_UNKNOWN_FILE_EXTENSION/);
      assert.doesNotMatch(output, /^\s+at /m);
      assert.deepEqual(registered, [
        "pulumi:pulumi:Stack kinesis-telemetry-nodecheck",
      ]);
    } finally {
      layers.remove();
    }
  },
});

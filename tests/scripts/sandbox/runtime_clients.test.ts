/**
 * Which runtime interface client runs a function, and with what: AWS's own
 * by default (installed into .tools/ric), the home-made ones on request.
 */
import assert from "node:assert/strict";
import {
  awsRuntimeLaunch,
  ensureRuntimeClient,
  functionLaunch,
  JAVA_FUNCTION,
  RIC_DIR,
} from "../../../scripts/sandbox/runtime_clients.ts";

Deno.test("awsRuntimeLaunch: each runtime starts AWS's client with Lambda's variables", () => {
  const node = awsRuntimeLaunch({
    runtime: "node",
    taskRoot: "/task",
    handler: "index.handler",
  });
  assert.deepEqual(node.argv, [
    "node",
    `${RIC_DIR}/node/node_modules/aws-lambda-ric/index.mjs`,
  ]);
  assert.equal(node.env._HANDLER, "index.handler");
  assert.equal(node.env.LAMBDA_TASK_ROOT, "/task");
  const python = awsRuntimeLaunch({
    runtime: "python",
    taskRoot: "/task",
    handler: "handler.handler",
  });
  assert.deepEqual(python.argv.slice(-3), [
    "-m",
    "awslambdaric",
    "handler.handler",
  ]);
  assert.equal(python.env.PYTHONPATH, `${RIC_DIR}/python`);
  const java = awsRuntimeLaunch(JAVA_FUNCTION);
  assert.equal(
    java.argv.at(-2),
    "com.amazonaws.services.lambda.runtime.api.client.AWSLambda",
  );
  assert.equal(java.argv.at(-1), "example.Handler::handleRequest");
  assert.equal(java.env.AWS_EXECUTION_ENV, "AWS_Lambda_java21");
});

Deno.test("functionLaunch: the home-made clients on request, none for Java", async () => {
  const launch = await functionLaunch({
    runtime: "python",
    taskRoot: "/task",
    handler: "handler.handler",
    client: "sandbox",
  });
  assert.match(launch.argv.at(-1)!, /runtimes\/python_runtime\.py$/);
  await assert.rejects(
    functionLaunch({ ...JAVA_FUNCTION, client: "sandbox" }),
    /no home-made Java runtime client/,
  );
});

Deno.test("ensureRuntimeClient: the pinned clients are installed (by scripts/setup/ric.sh when missing)", async () => {
  for (const kind of ["node", "python", "java"] as const) {
    await ensureRuntimeClient(kind);
  }
  const pins = await Deno.readTextFile(
    new URL("../../../scripts/setup/ric.sh", import.meta.url),
  );
  assert.match(pins, /NODE_RIC_VERSION=4\.0\.2/);
  assert.match(pins, /PYTHON_RIC_VERSION=4\.2\.2/);
  await Deno.stat(
    `${RIC_DIR}/java/lib/aws-lambda-java-runtime-interface-client-2.10.1.jar`,
  );
  await Deno.stat(`${RIC_DIR}/python/awslambdaric-4.2.2.dist-info`);
});

/**
 * AWS's own runtime interface clients for the sandbox's functions:
 * `aws-lambda-ric` (npm) for Node.js, `awslambdaric` (PyPI) for Python and
 * `aws-lambda-java-runtime-interface-client` (Maven Central) for a Java 21
 * function. They are installed, pinned, into `.tools/ric/` by
 * `scripts/setup/ric.sh` the first time a sandbox needs one.
 *
 * The sandbox's home-made clients (`runtimes/`) stay for what a real one
 * cannot do here: `client: "sandbox"` picks them (see `FunctionSpec`).
 *
 * @module
 */
import type { FunctionSpec } from "./sandbox.ts";
import { type RuntimeLaunch, runtimeLaunch } from "./lambda_env.ts";

const PROJECT_ROOT = new URL("../../", import.meta.url).pathname;

/** Where the clients are installed. */
export const RIC_DIR = `${PROJECT_ROOT}.tools/ric`;

/** The installer. */
export const RIC_SETUP = `${PROJECT_ROOT}scripts/setup/ric.sh`;

/** Pinned versions (the installer pins the same ones). */
export const RIC_VERSIONS = {
  node: "aws-lambda-ric@4.0.2",
  python: "awslambdaric==4.2.2",
  java: "aws-lambda-java-runtime-interface-client:2.10.1",
} as const;

/**
 * The JDK that runs the Java function: the machine's default is 17, too old
 * for a Java 21 function, so a newer one (25 here) runs the `--release 21`
 * classes.
 */
export const JAVA_HOME = Deno.env.get("JAVA_HOME_25") ??
  "/usr/lib/jvm/temurin-25-jdk-amd64";

/** The Java 21 function (compiled by the installer into `.tools/`). */
export const JAVA_FUNCTION: FunctionSpec = {
  runtime: "java",
  taskRoot: `${RIC_DIR}/java/function`,
  handler: "example.Handler::handleRequest",
};

/** A file each installed client has. */
function marker(kind: FunctionSpec["runtime"]): string {
  switch (kind) {
    case "node":
      return `${RIC_DIR}/node/node_modules/aws-lambda-ric/index.mjs`;
    case "python":
      return `${RIC_DIR}/python/awslambdaric/__main__.py`;
    case "java":
      return `${RIC_DIR}/java/function/example/Handler.class`;
  }
}

const installs = new Map<string, Promise<void>>();

/** Installs the client for `kind` when missing; fails with the installer's output. */
export function ensureRuntimeClient(
  kind: FunctionSpec["runtime"],
): Promise<void> {
  let install = installs.get(kind);
  if (!install) {
    install = (async () => {
      try {
        await Deno.stat(marker(kind));
        return;
      } catch {
        // Not installed yet.
      }
      const output = await new Deno.Command("bash", {
        args: [RIC_SETUP, kind],
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!output.success) {
        const text = new TextDecoder().decode(output.stderr).trim();
        throw new Error(
          `cannot install the ${kind} runtime interface client (${RIC_SETUP} ${kind}): ${text}`,
        );
      }
    })();
    installs.set(kind, install);
    install.catch(() => installs.delete(kind));
  }
  return install;
}

/** How to start the function: AWS's client for its runtime, or the sandbox's own. */
export async function functionLaunch(fn: FunctionSpec): Promise<RuntimeLaunch> {
  if (fn.client === "sandbox") {
    if (fn.runtime === "java") {
      throw new Error("the sandbox has no home-made Java runtime client");
    }
    return runtimeLaunch(fn.runtime, fn.taskRoot, fn.handler);
  }
  await ensureRuntimeClient(fn.runtime);
  return awsRuntimeLaunch(fn);
}

/** Command line and variables of AWS's runtime interface client for `fn`. */
export function awsRuntimeLaunch(fn: FunctionSpec): RuntimeLaunch {
  const common = {
    LAMBDA_TASK_ROOT: fn.taskRoot,
    LAMBDA_RUNTIME_DIR: `${RIC_DIR}/${fn.runtime}`,
    _HANDLER: fn.handler,
  };
  switch (fn.runtime) {
    case "node":
      return {
        argv: ["node", marker("node")],
        env: { ...common, AWS_EXECUTION_ENV: "AWS_Lambda_nodejs22.x" },
        runtimeVersion: `nodejs:22.${RIC_VERSIONS.node}`,
      };
    case "python":
      return {
        // -u: unbuffered output, so log lines reach the sandbox as they are
        // written; -B: no __pycache__ in the task root (read-only in Lambda).
        argv: ["python3", "-u", "-B", "-m", "awslambdaric", fn.handler],
        env: {
          ...common,
          PYTHONPATH: `${RIC_DIR}/python`,
          AWS_EXECUTION_ENV: "AWS_Lambda_python3.12",
        },
        runtimeVersion: `python:3.12.${RIC_VERSIONS.python}`,
      };
    case "java":
      return {
        // Lambda's java21 runtime flags: serial GC and C1 only, for a small
        // share of a vCPU; the heap follows the cgroup's memory limit.
        argv: [
          `${JAVA_HOME}/bin/java`,
          "-XX:+UseSerialGC",
          "-XX:+TieredCompilation",
          "-XX:TieredStopAtLevel=1",
          "-Xshare:auto",
          "-cp",
          `${fn.taskRoot}:${fn.taskRoot}/lib/*:${RIC_DIR}/java/lib/*`,
          "com.amazonaws.services.lambda.runtime.api.client.AWSLambda",
          fn.handler,
        ],
        env: { ...common, AWS_EXECUTION_ENV: "AWS_Lambda_java21" },
        runtimeVersion: `java:21.${RIC_VERSIONS.java}`,
      };
  }
}

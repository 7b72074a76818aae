/**
 * The environment variables Lambda gives the processes of an execution
 * environment, and the command lines of the sandbox's function runtimes.
 *
 * @module
 */
import type { LogFormat } from "./function_logs.ts";

/** Function runtimes of the sandbox. */
export type RuntimeKind = "node" | "python" | "java";

/** What Lambda knows about the function. */
export interface FunctionConfig {
  /** Function name. */
  name: string;
  /** Version (`$LATEST`). */
  version: string;
  /** Configured memory in MB. */
  memorySizeMB: number;
  /** Region. */
  region: string;
  /** Account id. */
  accountId: string;
  /** Log format. */
  logFormat: LogFormat;
  /** Credentials of the execution role. */
  credentials: {
    accessKeyId: string;
    secretAccessKey: string;
    sessionToken?: string;
  };
  /** The function's own environment variables. */
  variables: Record<string, string>;
}

/** Host variables a child needs to run at all here (not Lambda's, but harmless). */
const HOST_PASSTHROUGH = [
  "PATH",
  "HOME",
  "DENO_DIR",
  "XDG_CACHE_HOME",
  "TMPDIR",
] as const;

/** Folder of this module: runtime clients live under it. */
const SANDBOX_DIR = new URL(".", import.meta.url).pathname;

/** Variables every process of the environment sees. */
export function lambdaEnvironment(
  runtimeApi: string,
  fn: FunctionConfig,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of HOST_PASSTHROUGH) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  Object.assign(env, {
    LANG: "en_US.UTF-8",
    TZ: ":UTC",
    AWS_LAMBDA_RUNTIME_API: runtimeApi,
    AWS_REGION: fn.region,
    AWS_DEFAULT_REGION: fn.region,
    AWS_LAMBDA_FUNCTION_NAME: fn.name,
    AWS_LAMBDA_FUNCTION_VERSION: fn.version,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memorySizeMB),
    AWS_LAMBDA_LOG_FORMAT: fn.logFormat,
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.name}`,
    AWS_LAMBDA_LOG_STREAM_NAME: `local/[${fn.version}]sandbox`,
    AWS_LAMBDA_INITIALIZATION_TYPE: "on-demand",
    AWS_ACCESS_KEY_ID: fn.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: fn.credentials.secretAccessKey,
  });
  if (fn.credentials.sessionToken) {
    env.AWS_SESSION_TOKEN = fn.credentials.sessionToken;
  }
  return { ...env, ...fn.variables };
}

/** How to start a function runtime. */
export interface RuntimeLaunch {
  /** Command line of the runtime interface client. */
  argv: string[];
  /** Extra variables of the runtime process. */
  env: Record<string, string>;
  /** Reported as `runtimeVersion` in `platform.initStart`. */
  runtimeVersion: string;
}

/** Command line and variables of the sandbox's runtime client for `kind`. */
export function runtimeLaunch(
  kind: Exclude<RuntimeKind, "java">,
  taskRoot: string,
  handler: string,
): RuntimeLaunch {
  const common = {
    LAMBDA_TASK_ROOT: taskRoot,
    LAMBDA_RUNTIME_DIR: `${SANDBOX_DIR}runtimes`,
    _HANDLER: handler,
  };
  if (kind === "node") {
    return {
      argv: ["node", `${SANDBOX_DIR}runtimes/node_runtime.mjs`],
      env: { ...common, AWS_EXECUTION_ENV: "AWS_Lambda_nodejs22.x" },
      runtimeVersion: "nodejs:22.sandbox",
    };
  }
  return {
    // -u: unbuffered output, so log lines reach the sandbox as they are
    // written; -B: no __pycache__ in the task root (read-only in Lambda).
    argv: ["python3", "-u", "-B", `${SANDBOX_DIR}runtimes/python_runtime.py`],
    env: { ...common, AWS_EXECUTION_ENV: "AWS_Lambda_python3.12" },
    runtimeVersion: "python:3.12.sandbox",
  };
}

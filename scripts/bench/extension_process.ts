/**
 * Starts an extension (from source, the floor script, or a layer's
 * launcher) as a child process with a Lambda-like environment, and reads its
 * JSON log lines: the flushes it reports and its shutdown summary.
 *
 * @module
 */
import { forEachLine } from "../sandbox/lines.ts";

/** A running extension process. */
export interface ExtensionProcess {
  /** Process id (the Deno process: launchers `exec` it). */
  readonly pid: number;
  /** `performance.now()` just before the process was spawned. */
  readonly spawnedAt: number;
  /** Events the extension reported as delivered so far (from its `flushed` lines). */
  readonly delivered: number;
  /** The parsed `summary` line, once written. */
  readonly summary: Record<string, unknown> | undefined;
  /** Every stderr line. */
  readonly lines: readonly string[];
  /** Resolves with the exit code once the process ended and its output was read. */
  readonly exited: Promise<number>;
  /** Resolves once `delivered` reached `count`. */
  whenDelivered(count: number): Promise<number>;
  /** Sends SIGKILL (ignored once ended). */
  kill(): void;
}

/** How to start one. */
export interface ExtensionLaunch {
  /** Command line. */
  argv: readonly string[];
  /** `AWS_LAMBDA_RUNTIME_API` of the bench platform. */
  runtimeApi: string;
  /** Extra variables (configuration, Kinesis endpoint). */
  env?: Record<string, string>;
}

/** Host variables Deno needs to find its cache; everything else is Lambda's. */
const HOST_PASSTHROUGH = ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME"];

/** The variables Lambda gives an extension, with local dummy credentials. */
export function lambdaVariables(runtimeApi: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of HOST_PASSTHROUGH) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return {
    ...env,
    AWS_LAMBDA_RUNTIME_API: runtimeApi,
    AWS_REGION: "us-east-1",
    AWS_DEFAULT_REGION: "us-east-1",
    AWS_LAMBDA_FUNCTION_NAME: "bench-function",
    AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "128",
    AWS_LAMBDA_INITIALIZATION_TYPE: "on-demand",
    AWS_ACCESS_KEY_ID: "AKIDLOCALSANDBOX",
    AWS_SECRET_ACCESS_KEY: "local-sandbox-secret",
  };
}

/** Spawns the extension; its stderr is read line by line. */
export function launchExtension(launch: ExtensionLaunch): ExtensionProcess {
  const [executable, ...args] = launch.argv;
  const spawnedAt = performance.now();
  const child = new Deno.Command(executable, {
    args,
    env: { ...lambdaVariables(launch.runtimeApi), ...launch.env },
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  let delivered = 0;
  let summary: Record<string, unknown> | undefined;
  let deliveryWaiters: { count: number; resolve: (n: number) => void }[] = [];
  const onLine = (line: string) => {
    lines.push(line);
    if (!line.startsWith("{")) return;
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line);
    } catch {
      return;
    }
    if (parsed.msg === "flushed" && typeof parsed.delivered === "number") {
      delivered += parsed.delivered;
      deliveryWaiters = deliveryWaiters.filter((waiter) => {
        if (delivered < waiter.count) return true;
        waiter.resolve(performance.now());
        return false;
      });
    } else if (parsed.msg === "summary") {
      summary = parsed;
    }
  };
  const read = forEachLine(child.stderr, onLine);
  let ended = false;
  const exited = child.status.then(async (status) => {
    ended = true;
    await read.catch(() => {});
    return status.code;
  });
  return {
    pid: child.pid,
    spawnedAt,
    get delivered() {
      return delivered;
    },
    get summary() {
      return summary;
    },
    lines,
    exited,
    whenDelivered(count) {
      if (delivered >= count) return Promise.resolve(performance.now());
      return new Promise((resolve) => deliveryWaiters.push({ count, resolve }));
    },
    kill() {
      if (ended) return;
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    },
  };
}

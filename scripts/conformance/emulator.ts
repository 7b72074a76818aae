/**
 * AWS's Runtime Interface Emulator (`aws-lambda-rie`) as a child process in a
 * private mount namespace, on loopback ports chosen free: its invoke
 * endpoint (`POST /2015-03-31/functions/function/invocations`) and its
 * Runtime API. Classic mode without `AWS_LAMBDA_MAX_CONCURRENCY`, Lambda
 * Managed Instances (LMI) mode with it.
 *
 * @module
 */
import { dirname } from "node:path";
import { type ManagedProcess, startProcess } from "../sandbox/child_process.ts";
import {
  type BindMount,
  exposuresFor,
  namespaceArgv,
  tmpKeeps,
} from "./namespace.ts";

/** The emulator's two modes. */
export type EmulatorMode = "classic" | "lmi";

/** Where the emulator takes its invocations. */
export const INVOKE_PATH = "/2015-03-31/functions/function/invocations";

/** How to start the emulator. */
export interface EmulatorOptions {
  /** classic, or LMI (sets `AWS_LAMBDA_MAX_CONCURRENCY`). */
  mode: EmulatorMode;
  /** Path of the `aws-lambda-rie` binary. */
  rieBinary: string;
  /** Shown at `/opt` (holds `extensions/`). */
  optDir: string;
  /** Shown at `/var/task` (the function's code). */
  taskDir: string;
  /** Scratch folder for overlays. */
  scratchDir: string;
  /** The runtime's command (its last word is the handler); empty: `/var/task/bootstrap`. */
  bootstrap: readonly string[];
  /**
   * Host folders the function and the extensions must reach (interpreters,
   * Deno): in LMI mode they run as an unprivileged user.
   */
  reachable?: readonly string[];
  /** Environment of the emulator; it hands it on to the function and the extensions. */
  env: Record<string, string>;
  /** Concurrent invocations per environment in LMI mode. */
  maxConcurrency?: number;
  /** Every line the emulator (and what it runs) writes. */
  onLine?: (line: string) => void;
}

/** One answer of the invoke endpoint. */
export interface InvokeAnswer {
  /** HTTP status. */
  status: number;
  /** Response headers. */
  headers: Headers;
  /** Response body text. */
  body: string;
}

/** A running emulator. */
export interface Emulator {
  /** `127.0.0.1:<port>` of its invoke endpoint. */
  readonly address: string;
  /** `127.0.0.1:<port>` of its Runtime API. */
  readonly runtimeApi: string;
  /** Every output line so far. */
  readonly lines: readonly string[];
  /** Its process. */
  readonly process: ManagedProcess;
  /** Sends one invocation with a chosen request id. */
  invoke(requestId: string, payload: unknown): Promise<InvokeAnswer>;
  /** SIGTERM (the emulator's shutdown), then waits up to `timeoutMs` for it to exit; SIGKILL after. */
  stop(timeoutMs: number): Promise<{ code: number; killed: boolean }>;
}

/** A loopback port nothing listens on right now. */
export function freeLoopbackPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Resolves once something accepts TCP connections on the port; rejects after `timeoutMs`. */
export async function waitForPort(
  port: number,
  timeoutMs: number,
  alive: () => boolean,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (!alive()) throw new Error("the emulator exited before it listened");
    try {
      const connection = await Deno.connect({ hostname: "127.0.0.1", port });
      connection.close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  throw new Error(`nothing listened on 127.0.0.1:${port} in ${timeoutMs} ms`);
}

/** Starts the emulator in its namespace and waits until its invoke endpoint listens. */
export async function startEmulator(
  options: EmulatorOptions,
): Promise<Emulator> {
  const invokePort = freeLoopbackPort();
  const runtimePort = freeLoopbackPort();
  const address = `127.0.0.1:${invokePort}`;
  const runtimeApi = `127.0.0.1:${runtimePort}`;
  const binds: BindMount[] = [
    { source: options.optDir, target: "/opt" },
    { source: options.taskDir, target: "/var/task" },
  ];
  const env: Record<string, string> = { ...options.env };
  if (options.mode === "lmi") {
    env.AWS_LAMBDA_MAX_CONCURRENCY = String(options.maxConcurrency ?? 4);
  } else {
    delete env.AWS_LAMBDA_MAX_CONCURRENCY;
  }
  const reachable = [...(options.reachable ?? []), dirname(options.rieBinary)];
  const lines: string[] = [];
  const process = startProcess({
    label: `aws-lambda-rie (${options.mode})`,
    argv: namespaceArgv({
      exposures: exposuresFor(reachable),
      binds,
      freshTmp: { keep: tmpKeeps(reachable) },
      scratchDir: options.scratchDir,
      cwd: "/var/task",
      command: [
        options.rieBinary,
        `--runtime-interface-emulator-address=${address}`,
        `--runtime-api-address=${runtimeApi}`,
        ...options.bootstrap,
      ],
    }),
    env,
    onLine(line) {
      lines.push(line);
      options.onLine?.(line);
    },
  });
  try {
    await waitForPort(invokePort, 30_000, () => process.exit === null);
  } catch (error) {
    process.signal("SIGKILL");
    await process.exited;
    throw new Error(
      `aws-lambda-rie did not start: ${
        error instanceof Error ? error.message : error
      }\n${lines.slice(-20).join("\n")}`,
    );
  }
  return {
    address,
    runtimeApi,
    lines,
    process,
    async invoke(requestId, payload) {
      const response = await fetch(`http://${address}${INVOKE_PATH}`, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          "X-Amzn-RequestId": requestId,
        },
        body: JSON.stringify(payload),
      });
      return {
        status: response.status,
        headers: response.headers,
        body: await response.text(),
      };
    },
    async stop(timeoutMs) {
      // Only the emulator itself: its own shutdown sends SHUTDOWN to the
      // extensions and ends the runtime; the group is killed once it exits.
      try {
        Deno.kill(process.pid, "SIGTERM");
      } catch {
        // Already gone.
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), timeoutMs);
      });
      const outcome = await Promise.race([process.exited, timedOut]);
      clearTimeout(timer);
      if (outcome === "timeout") {
        process.signal("SIGKILL");
        const exit = await process.exited;
        return { code: exit.code, killed: true };
      }
      return { code: outcome.code, killed: false };
    },
  };
}

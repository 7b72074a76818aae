/**
 * Entry point of the kinesis-telemetry Lambda extension: wires the real
 * environment (variables, `fetch`, `Deno.serve`, the AWS SDK, signals) into
 * {@linkcode runExtension} and exits with its code.
 *
 * @module
 */
import { runExtension, type ServeFunction } from "./app.ts";
import { createSdkPutter, kinesisTarget } from "./kinesis_client.ts";
import { createLogger } from "./log.ts";

/** Name used when not started from /opt/extensions (e.g. `deno run`). */
export const DEFAULT_EXTENSION_NAME = "kinesis-telemetry";

/**
 * The registered name must be the executable's file name in
 * /opt/extensions. A compiled binary is that file; under `deno run` (the
 * portable layer's launcher) the launcher passes `--extension-name`.
 */
export function extensionName(
  args: readonly string[],
  execPath: string,
): string {
  const flag = args.find((arg) => arg.startsWith("--extension-name="));
  if (flag) return flag.slice("--extension-name=".length);
  const base = execPath.split("/").pop() ?? "";
  return base === "" || base === "deno" ? DEFAULT_EXTENSION_NAME : base;
}

/** The credentials Lambda puts in the environment, when all are there. */
export function lambdaCredentials(
  env: (name: string) => string | undefined,
):
  | { accessKeyId: string; secretAccessKey: string; sessionToken?: string }
  | undefined {
  const accessKeyId = env("AWS_ACCESS_KEY_ID");
  const secretAccessKey = env("AWS_SECRET_ACCESS_KEY");
  if (!accessKeyId || !secretAccessKey) return undefined;
  const sessionToken = env("AWS_SESSION_TOKEN");
  return sessionToken
    ? { accessKeyId, secretAccessKey, sessionToken }
    : { accessKeyId, secretAccessKey };
}

/** Serves the listener with `Deno.serve`. */
export const serveWithDeno: ServeFunction = (port, handler, hostname) => {
  const server = Deno.serve({ hostname, port, onListen: () => {} }, handler);
  return { port: server.addr.port, shutdown: () => server.shutdown() };
};

if (import.meta.main) {
  const stop = new AbortController();
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(signal, () => stop.abort());
  }
  // A stray exception or rejection must not take down the extension and
  // the events in its buffer: it is logged and the loop goes on.
  const logger = createLogger("error");
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    logger.error("uncaught exception", {
      error: event.error ?? event.message,
    });
  });
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    logger.error("unhandled rejection", { error: event.reason });
  });
  const exitCode = await runExtension({
    env: (name) => Deno.env.get(name),
    extensionName: extensionName(Deno.args, Deno.execPath()),
    createPutter: (config) =>
      createSdkPutter(
        kinesisTarget(
          config,
          lambdaCredentials((name) => Deno.env.get(name)),
        ),
      ),
    serve: serveWithDeno,
    stop: stop.signal,
    heapLimitBytes: async () =>
      (await import("node:v8")).getHeapStatistics().heap_size_limit,
  });
  Deno.exit(exitCode);
}

/**
 * Proves that a built extension starts: runs it against a throw-away
 * Extensions API on 127.0.0.1 and waits for its register call. A binary that
 * does not run, opens a REPL, or crashes on start never registers.
 *
 * The register call is refused (403), which the contract says an extension
 * answers by exiting; the probe kills it anyway once it has what it needs.
 *
 * @module
 */

/** What the probe saw. */
export interface RegisterProbeResult {
  /** True when a register call arrived. */
  registered: boolean;
  /** `Lambda-Extension-Name` of that call. */
  extensionName: string | undefined;
  /** Exit code when the process ended by itself before registering. */
  exitCode: number | undefined;
  /** True when the deadline passed first. */
  timedOut: boolean;
  /** The process' stderr and stdout (tail), for error messages. */
  output: string;
}

/** How to start the extension for a probe. */
export interface RegisterProbeOptions {
  /** Executable. */
  command: string;
  /** Its arguments. */
  args?: string[];
  /** Extra environment (the probe adds the Lambda variables it needs). */
  env?: Record<string, string>;
  /** How long to wait for the register call. */
  timeoutMs: number;
}

const OUTPUT_TAIL_BYTES = 4000;

/** Lambda-like variables for a probe run; no real AWS endpoint is reachable. */
function probeEnvironment(runtimeApi: string): Record<string, string> {
  return {
    PATH: "/usr/local/bin:/usr/bin:/bin",
    AWS_LAMBDA_RUNTIME_API: runtimeApi,
    AWS_REGION: "us-east-1",
    AWS_DEFAULT_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "AKIDLAYERPROBE",
    AWS_SECRET_ACCESS_KEY: "layer-probe-secret",
    // A closed loopback port: even a misbehaving build cannot reach AWS.
    AWS_ENDPOINT_URL_KINESIS: "http://127.0.0.1:9",
    AWS_LAMBDA_FUNCTION_NAME: "layer-probe",
    AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "128",
    KINESIS_TELEMETRY_STREAM: "layer-probe",
    KINESIS_TELEMETRY_LISTENER_PORT: "0",
    KINESIS_TELEMETRY_LISTENER_HOST: "127.0.0.1",
  };
}

/** Runs the extension until it registers, exits, or the deadline passes. */
export async function probeRegistration(
  options: RegisterProbeOptions,
): Promise<RegisterProbeResult> {
  let onRegister: (name: string | undefined) => void = () => {};
  const registered = new Promise<string | undefined>((resolve) => {
    onRegister = resolve;
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => {
      const path = new URL(request.url).pathname;
      if (request.method === "POST" && path.endsWith("/extension/register")) {
        onRegister(request.headers.get("Lambda-Extension-Name") ?? undefined);
      }
      return Response.json(
        { errorMessage: "layer probe: not a real Lambda", errorType: "Probe" },
        { status: 403 },
      );
    },
  );
  const runtimeApi = `127.0.0.1:${server.addr.port}`;
  const child = new Deno.Command(options.command, {
    args: options.args ?? [],
    env: { ...probeEnvironment(runtimeApi), ...options.env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const decoder = new TextDecoder();
  let output = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) {
      output = (output + decoder.decode(chunk, { stream: true })).slice(
        -OUTPUT_TAIL_BYTES,
      );
    }
  };
  const drained = Promise.all([collect(child.stdout), collect(child.stderr)]);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), options.timeoutMs);
  });
  const outcome = await Promise.race([
    registered.then((name) => ({ kind: "registered" as const, name })),
    child.status.then((status) => ({ kind: "exited" as const, status })),
    deadline,
  ]);
  clearTimeout(timer);
  try {
    child.kill("SIGKILL");
  } catch {
    // Already gone.
  }
  await child.status;
  await drained;
  await server.shutdown();
  if (outcome === "timeout") {
    return {
      registered: false,
      extensionName: undefined,
      exitCode: undefined,
      timedOut: true,
      output,
    };
  }
  if (outcome.kind === "registered") {
    return {
      registered: true,
      extensionName: outcome.name,
      exitCode: undefined,
      timedOut: false,
      output,
    };
  }
  return {
    registered: false,
    extensionName: undefined,
    exitCode: outcome.status.code,
    timedOut: false,
    output,
  };
}

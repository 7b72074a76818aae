/**
 * The least an external telemetry extension can do: register, start a
 * listener, subscribe, loop on `/event/next`, exit on SHUTDOWN. It ships
 * nothing anywhere. The sandbox's own tests use it, and the bench uses it as
 * the floor the real extension's init time and overhead are compared with.
 *
 * It imports nothing, so its start-up cost is Deno's alone. Run it with
 * `bareExtension()` from `extension_specs.ts`.
 *
 * @module
 */
/** Name it registers with. */
export const BARE_EXTENSION_NAME = "bare-extension";

/**
 * Registers extension `name` with the Extensions API at `api` (an
 * `http://host:port` base) for INVOKE and SHUTDOWN; returns its identifier.
 *
 * @throws Error when Lambda refuses the registration.
 */
export async function registerForInvokeAndShutdown(
  api: string,
  name: string,
): Promise<string> {
  const registered = await fetch(`${api}/2020-01-01/extension/register`, {
    method: "POST",
    headers: { "Lambda-Extension-Name": name },
    body: JSON.stringify({ events: ["INVOKE", "SHUTDOWN"] }),
  });
  await registered.body?.cancel();
  const id = registered.headers.get("Lambda-Extension-Identifier");
  if (!registered.ok || !id) {
    throw new Error(`register failed: ${registered.status}`);
  }
  return id;
}

/**
 * Subscribes extension `id` to platform, function and extension telemetry
 * delivered to `port` of `sandbox.localdomain` (at most 1,000 events or
 * 256 KiB per POST, after at most `bufferTimeoutMs`).
 *
 * @throws Error when Lambda refuses the subscription.
 */
export async function subscribeToTelemetry(
  api: string,
  id: string,
  port: number,
  bufferTimeoutMs: number,
): Promise<void> {
  const subscribed = await fetch(`${api}/2022-07-01/telemetry`, {
    method: "PUT",
    headers: { "Lambda-Extension-Identifier": id },
    body: JSON.stringify({
      schemaVersion: "2022-12-13",
      types: ["platform", "function", "extension"],
      buffering: {
        maxItems: 1000,
        maxBytes: 262144,
        timeoutMs: bufferTimeoutMs,
      },
      destination: {
        protocol: "HTTP",
        URI: `http://sandbox.localdomain:${port}`,
      },
    }),
  });
  await subscribed.body?.cancel();
  if (!subscribed.ok) {
    throw new Error(`subscribe failed: ${subscribed.status}`);
  }
}

async function main(): Promise<void> {
  const api = `http://${Deno.env.get("AWS_LAMBDA_RUNTIME_API")}`;
  let id: string;
  try {
    id = await registerForInvokeAndShutdown(api, BARE_EXTENSION_NAME);
  } catch (error) {
    console.error((error as Error).message);
    Deno.exit(1);
  }
  let received = 0;
  const listener = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const events = await request.json();
      received += Array.isArray(events) ? events.length : 0;
      return new Response(null, { status: 200 });
    },
  );
  // The Telemetry API's buffering timeout, from the command line (25 ms).
  const bufferTimeoutMs = Number(Deno.args[0] ?? 25);
  try {
    await subscribeToTelemetry(api, id, listener.addr.port, bufferTimeoutMs);
  } catch (error) {
    console.error((error as Error).message);
    Deno.exit(1);
  }
  for (;;) {
    const next = await fetch(`${api}/2020-01-01/extension/event/next`, {
      headers: { "Lambda-Extension-Identifier": id },
    });
    const event = await next.json();
    if (event.eventType === "SHUTDOWN") break;
  }
  console.error(JSON.stringify({ msg: "summary", received }));
  Deno.exit(0);
}

if (import.meta.main) await main();

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

async function main(): Promise<void> {
  const api = `http://${Deno.env.get("AWS_LAMBDA_RUNTIME_API")}`;
  const registered = await fetch(`${api}/2020-01-01/extension/register`, {
    method: "POST",
    headers: { "Lambda-Extension-Name": BARE_EXTENSION_NAME },
    body: JSON.stringify({ events: ["INVOKE", "SHUTDOWN"] }),
  });
  await registered.body?.cancel();
  const id = registered.headers.get("Lambda-Extension-Identifier");
  if (!registered.ok || !id) {
    console.error(`register failed: ${registered.status}`);
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
        URI: `http://sandbox.localdomain:${listener.addr.port}`,
      },
    }),
  });
  await subscribed.body?.cancel();
  if (!subscribed.ok) {
    console.error(`subscribe failed: ${subscribed.status}`);
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

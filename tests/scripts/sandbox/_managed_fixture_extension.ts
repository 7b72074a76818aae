/**
 * An extension for the managed sandbox's delivery tests: registers for
 * SHUTDOWN only, subscribes with schema 2025-01-29 to platform events, and
 * logs one JSON line per telemetry POST: `{"post": {...}}` with the
 * `Sequence-Id` header, the base64 SHA-256 of the body it got, and the
 * events' types; it subscribes a second time and logs that answer
 * (`resubscribed`). `FIXTURE_MODE=failing-listener` makes its listener answer
 * 500 to every POST.
 *
 * @module
 */

/** Name it registers with. */
export const MANAGED_FIXTURE_NAME = "managed-fixture-extension";

/** Spec for the managed sandbox. */
export function managedFixtureExtension(
  mode: string,
): { name: string; argv: string[]; env: Record<string, string> } {
  return {
    name: MANAGED_FIXTURE_NAME,
    argv: [
      Deno.execPath(),
      "run",
      "--allow-net",
      "--allow-env",
      "--no-prompt",
      new URL(import.meta.url).pathname,
    ],
    env: { FIXTURE_MODE: mode },
  };
}

async function sha256Base64(bytes: ArrayBuffer): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

async function main(): Promise<void> {
  const mode = Deno.env.get("FIXTURE_MODE") ?? "";
  const api = `http://${Deno.env.get("AWS_LAMBDA_RUNTIME_API")}`;
  const registered = await fetch(`${api}/2020-01-01/extension/register`, {
    method: "POST",
    headers: { "Lambda-Extension-Name": MANAGED_FIXTURE_NAME },
    body: JSON.stringify({ events: ["SHUTDOWN"] }),
  });
  await registered.body?.cancel();
  const id = registered.headers.get("Lambda-Extension-Identifier") ?? "";
  const listener = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const body = await request.arrayBuffer();
      const events = JSON.parse(new TextDecoder().decode(body)) as Array<
        { type: string }
      >;
      console.log(JSON.stringify({
        post: {
          sequenceId: request.headers.get("Sequence-Id"),
          bodySha256: await sha256Base64(body),
          types: events.map((event) => event.type),
        },
      }));
      return new Response(null, {
        status: mode === "failing-listener" ? 500 : 200,
      });
    },
  );
  const subscribe = async () => {
    const answer = await fetch(`${api}/2022-07-01/telemetry`, {
      method: "PUT",
      headers: { "Lambda-Extension-Identifier": id },
      body: JSON.stringify({
        schemaVersion: "2025-01-29",
        types: ["platform"],
        buffering: { timeoutMs: 25 },
        destination: {
          protocol: "HTTP",
          URI: `http://sandbox.localdomain:${listener.addr.port}`,
        },
      }),
    });
    return { status: answer.status, body: await answer.text() };
  };
  console.log(JSON.stringify({ subscribed: await subscribe() }));
  // LMI takes one subscription per extension.
  console.log(JSON.stringify({ resubscribed: await subscribe() }));
  while (true) {
    const next = await fetch(`${api}/2020-01-01/extension/event/next`, {
      headers: { "Lambda-Extension-Identifier": id },
    });
    const event = await next.json();
    if (event.eventType === "SHUTDOWN") {
      console.log(JSON.stringify({ shutdown: event.shutdownReason }));
      await listener.shutdown();
      return;
    }
  }
}

if (import.meta.main) await main();

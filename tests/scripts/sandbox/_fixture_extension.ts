/**
 * A scriptable extension for the sandbox's own tests. `FIXTURE_MODE` picks
 * what it does wrong or slowly:
 * - `probe`: before subscribing properly, makes bad API calls and logs each
 *   answer's status as a JSON line `{"probe": name, "status": n}`.
 * - `failing-listener`: its listener answers 500 to every POST.
 * - `ignore-shutdown`: never exits on SHUTDOWN (the sandbox must kill it).
 * - `slow-post-runtime`: waits `FIXTURE_POST_RUNTIME_MS` after each INVOKE
 *   before going back to /event/next.
 * - `hog-memory`: on INVOKE, touches 512 MiB (more than a small function's
 *   memory limit allows).
 * - anything else: a well-behaved extension.
 *
 * @module
 */

/** Name it registers with. */
export const FIXTURE_EXTENSION_NAME = "fixture-extension";

/** Spec for the sandbox. */
export function fixtureExtension(
  mode: string,
  env: Record<string, string> = {},
): { name: string; argv: string[]; env: Record<string, string> } {
  return {
    name: FIXTURE_EXTENSION_NAME,
    argv: [
      Deno.execPath(),
      "run",
      "--allow-net",
      "--allow-env",
      "--no-prompt",
      new URL(import.meta.url).pathname,
    ],
    env: { FIXTURE_MODE: mode, ...env },
  };
}

async function status(
  name: string,
  url: string,
  init: RequestInit,
): Promise<void> {
  const response = await fetch(url, init);
  await response.body?.cancel();
  console.log(JSON.stringify({ probe: name, status: response.status }));
}

async function main(): Promise<void> {
  const mode = Deno.env.get("FIXTURE_MODE") ?? "";
  const api = `http://${Deno.env.get("AWS_LAMBDA_RUNTIME_API")}`;
  const extensionApi = `${api}/2020-01-01/extension`;
  const telemetryApi = `${api}/2022-07-01/telemetry`;
  if (mode === "probe") {
    const env = Deno.env.toObject();
    console.log(JSON.stringify({
      env: Object.fromEntries(
        Object.entries(env).filter(([name]) =>
          /^(AWS_|LAMBDA_|_HANDLER|ORDERS_|SANDBOX_TEST_|TZ|LANG)/.test(name)
        ),
      ),
    }));
    await status("register-without-name", `${extensionApi}/register`, {
      method: "POST",
      body: JSON.stringify({ events: ["INVOKE"] }),
    });
    await status("register-unknown-name", `${extensionApi}/register`, {
      method: "POST",
      headers: { "Lambda-Extension-Name": "somebody-else" },
      body: JSON.stringify({ events: ["INVOKE"] }),
    });
    await status("register-bad-event", `${extensionApi}/register`, {
      method: "POST",
      headers: { "Lambda-Extension-Name": FIXTURE_EXTENSION_NAME },
      body: JSON.stringify({ events: ["RESTART"] }),
    });
  }
  const registered = await fetch(`${extensionApi}/register`, {
    method: "POST",
    headers: {
      "Lambda-Extension-Name": FIXTURE_EXTENSION_NAME,
      "Lambda-Extension-Accept-Feature": "accountId",
    },
    body: JSON.stringify({ events: ["INVOKE", "SHUTDOWN"] }),
  });
  const id = registered.headers.get("Lambda-Extension-Identifier") ?? "";
  console.log(JSON.stringify({ registered: await registered.json() }));
  const listener = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      await request.arrayBuffer();
      return new Response(null, {
        status: mode === "failing-listener" ? 500 : 200,
      });
    },
  );
  const subscription = (overrides: Record<string, unknown>) =>
    JSON.stringify({
      schemaVersion: "2022-12-13",
      types: ["platform", "function"],
      buffering: { maxItems: 1000, maxBytes: 262144, timeoutMs: 25 },
      destination: {
        protocol: "HTTP",
        URI: `http://sandbox.localdomain:${listener.addr.port}`,
      },
      ...overrides,
    });
  if (mode === "probe") {
    const headers = { "Lambda-Extension-Identifier": id };
    await status("register-twice", `${extensionApi}/register`, {
      method: "POST",
      headers: { "Lambda-Extension-Name": FIXTURE_EXTENSION_NAME },
      body: JSON.stringify({ events: ["INVOKE"] }),
    });
    await status("subscribe-without-id", telemetryApi, {
      method: "PUT",
      body: subscription({}),
    });
    await status("subscribe-unknown-id", telemetryApi, {
      method: "PUT",
      headers: { "Lambda-Extension-Identifier": crypto.randomUUID() },
      body: subscription({}),
    });
    for (
      const [name, overrides] of [
        ["subscribe-bad-schema", { schemaVersion: "2020-01-01" }],
        ["subscribe-bad-type", { types: ["platform", "metrics"] }],
        ["subscribe-small-items", {
          buffering: { maxItems: 10, maxBytes: 262144, timeoutMs: 25 },
        }],
        ["subscribe-big-timeout", {
          buffering: { maxItems: 1000, maxBytes: 262144, timeoutMs: 60000 },
        }],
        ["subscribe-bad-host", {
          destination: { protocol: "HTTP", URI: "http://example.com:1234" },
        }],
        ["subscribe-reserved-port", {
          destination: {
            protocol: "HTTP",
            URI: "http://sandbox.localdomain:9001",
          },
        }],
      ] as const
    ) {
      await status(name, telemetryApi, {
        method: "PUT",
        headers,
        body: subscription(overrides),
      });
    }
    await status("subscribe-not-json", telemetryApi, {
      method: "PUT",
      headers,
      body: "{not json",
    });
    await status("next-unknown-id", `${extensionApi}/event/next`, {
      headers: { "Lambda-Extension-Identifier": crypto.randomUUID() },
    });
  }
  const subscribed = await fetch(telemetryApi, {
    method: "PUT",
    headers: { "Lambda-Extension-Identifier": id },
    body: subscription({}),
  });
  await subscribed.body?.cancel();
  const postRuntimeMs = Number(Deno.env.get("FIXTURE_POST_RUNTIME_MS") ?? 0);
  for (;;) {
    const next = await fetch(`${extensionApi}/event/next`, {
      headers: { "Lambda-Extension-Identifier": id },
    });
    const event = await next.json();
    console.log(JSON.stringify({ event: event.eventType }));
    if (event.eventType === "SHUTDOWN") {
      if (mode === "ignore-shutdown") {
        await new Promise((resolve) => setTimeout(resolve, 60_000));
      }
      Deno.exit(0);
    }
    if (mode === "hog-memory") {
      const hog: Uint8Array[] = [];
      for (let mib = 0; mib < 512; mib += 16) {
        hog.push(new Uint8Array(16 * 1024 * 1024).fill(1));
      }
      console.log(`held ${hog.length * 16} MiB`);
    }
    if (mode === "slow-post-runtime") {
      await new Promise((resolve) => setTimeout(resolve, postRuntimeMs));
    }
  }
}

if (import.meta.main) await main();

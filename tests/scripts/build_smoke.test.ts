import assert from "node:assert/strict";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../scripts/build.ts";
import { EXTENSION_DENO_FLAGS } from "../../scripts/lib/extension_flags.ts";
import {
  LAYER_EXTENSION_PATH,
  shellQuote,
} from "../../scripts/lib/launcher.ts";
import { createZip } from "../../scripts/lib/zip.ts";
import { SmokeFailure, smokeLayer, unpackLayer } from "../../scripts/smoke.ts";

const encoder = new TextEncoder();

/** A layer zip whose only file is an executable sh script. */
async function scriptLayer(dir: string, script: string): Promise<string> {
  const path = join(dir, "layer.zip");
  await Deno.writeFile(
    path,
    createZip([{
      path: LAYER_EXTENSION_PATH,
      data: encoder.encode(script),
      mode: 0o755,
    }]),
  );
  return path;
}

async function withTempDir(
  body: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "smoke-test-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * An extension that does everything right towards Lambda (register,
 * subscribe, acknowledge every POST, exit at SHUTDOWN) and claims a perfect
 * summary, but never writes to Kinesis: what the smoke test exists to catch.
 */
const SHIPS_NOTHING = `
const api = "http://" + Deno.env.get("AWS_LAMBDA_RUNTIME_API");
const registered = await fetch(api + "/2020-01-01/extension/register", {
  method: "POST",
  headers: { "Lambda-Extension-Name": "kinesis-telemetry" },
  body: JSON.stringify({ events: ["INVOKE", "SHUTDOWN"] }),
});
await registered.body?.cancel();
const id = registered.headers.get("Lambda-Extension-Identifier");
let received = 0;
const listener = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
  const events = await request.json();
  received += events.length;
  return new Response(null, { status: 200 });
});
const subscribed = await fetch(api + "/2022-07-01/telemetry", {
  method: "PUT",
  headers: { "Lambda-Extension-Identifier": id, "Content-Type": "application/json" },
  body: JSON.stringify({
    schemaVersion: "2022-12-13",
    types: ["platform", "function", "extension"],
    buffering: { maxItems: 1000, maxBytes: 262144, timeoutMs: 25 },
    destination: { protocol: "HTTP", URI: "http://sandbox.localdomain:" + listener.addr.port },
  }),
});
await subscribed.body?.cancel();
while (true) {
  const next = await fetch(api + "/2020-01-01/extension/event/next", {
    headers: { "Lambda-Extension-Identifier": id },
  });
  const event = await next.json();
  if (event.eventType === "SHUTDOWN") break;
}
console.error(JSON.stringify({ msg: "summary", received, delivered: received, dropped: {} }));
Deno.exit(0);
`;

Deno.test({
  name: "smoke passes for a layer that runs the real extension",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (dir) => {
      // The extension from source behind a layer-style executable: the smoke
      // path without building a 90 MB layer (the CI smoke-tests the real zips).
      const launcher = [
        "#!/bin/sh",
        `exec ${shellQuote(Deno.execPath())} run --config ${
          shellQuote(join(PROJECT_ROOT, "deno.json"))
        } ${EXTENSION_DENO_FLAGS.map(shellQuote).join(" ")} ${
          shellQuote(join(PROJECT_ROOT, "extension", "main.ts"))
        }`,
        "",
      ].join("\n");
      const report = await smokeLayer({
        zipPath: await scriptLayer(dir, launcher),
        arch: "x86_64",
        invocations: 2,
      });
      assert.equal(report.invocations, 2);
      assert.ok(report.delivered > 0);
      // Every event received is in the stream; a copy only as announced
      // (smokeLayer fails otherwise).
      assert.equal(report.summary.received, report.distinct);
      assert.equal(report.emulated, false);
    });
  },
});

Deno.test({
  name: "smoke fails for a layer that acknowledges telemetry but ships none",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (dir) => {
      const entry = join(dir, "ships_nothing.ts");
      await Deno.writeTextFile(entry, SHIPS_NOTHING);
      const launcher = `#!/bin/sh\nexec ${
        shellQuote(Deno.execPath())
      } run --no-config -A ${shellQuote(entry)}\n`;
      await assert.rejects(
        smokeLayer({
          zipPath: await scriptLayer(dir, launcher),
          arch: "x86_64",
          invocations: 1,
        }),
        (error: Error) => {
          assert.ok(error instanceof SmokeFailure, String(error));
          assert.match(
            error.message,
            /acknowledged events are not in the stream/,
          );
          assert.match(error.message, /no platform\.start of /);
          assert.match(
            error.message,
            /summary says \d+ delivered and 0 possible duplicates, the stream holds 0 events/,
          );
          return true;
        },
      );
    });
  },
});

Deno.test("unpackLayer keeps permission bits and nests everything under the folder", async () => {
  await withTempDir(async (dir) => {
    const zipPath = join(dir, "layer.zip");
    await Deno.writeFile(
      zipPath,
      createZip([
        {
          path: "extensions/kinesis-telemetry",
          data: encoder.encode("#!/bin/sh\n"),
          mode: 0o755,
        },
        {
          path: "kinesis-telemetry/extension.js",
          data: encoder.encode("//\n"),
        },
      ]),
    );
    const opt = join(dir, "opt");
    assert.deepEqual(await unpackLayer(zipPath, opt), [
      "extensions/kinesis-telemetry",
      "kinesis-telemetry/extension.js",
    ]);
    assert.equal(
      (await Deno.stat(join(opt, "extensions/kinesis-telemetry"))).mode! &
        0o777,
      0o755,
    );
    assert.equal(
      (await Deno.stat(join(opt, "kinesis-telemetry/extension.js"))).mode! &
        0o777,
      0o644,
    );
  });
});

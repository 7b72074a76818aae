import assert from "node:assert/strict";
import {
  DEFAULT_EXTENSION_NAME,
  extensionName,
  lambdaCredentials,
} from "../../extension/main.ts";

Deno.test("main: the extension name is the executable's file name", () => {
  assert.equal(
    extensionName([], "/opt/extensions/kinesis-telemetry-x86_64"),
    "kinesis-telemetry-x86_64",
  );
  assert.equal(extensionName([], "relative-name"), "relative-name");
});

Deno.test("main: under `deno run` the launcher's --extension-name wins", () => {
  assert.equal(
    extensionName(
      ["--other", "--extension-name=kinesis-telemetry"],
      "/opt/kinesis-telemetry/bin/deno",
    ),
    "kinesis-telemetry",
  );
  assert.equal(
    extensionName(["--extension-name=custom"], "/opt/extensions/binary"),
    "custom",
  );
});

Deno.test("main: a plain deno binary or an empty path gives the default name", () => {
  assert.equal(DEFAULT_EXTENSION_NAME, "kinesis-telemetry");
  assert.equal(extensionName([], "/usr/local/bin/deno"), "kinesis-telemetry");
  assert.equal(extensionName([], "/opt/extensions/"), "kinesis-telemetry");
  assert.equal(extensionName([], ""), "kinesis-telemetry");
});

Deno.test("main: Lambda's credentials are taken from the environment when complete", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.deepEqual(
    lambdaCredentials(env({
      AWS_ACCESS_KEY_ID: "AKID",
      AWS_SECRET_ACCESS_KEY: "secret",
      AWS_SESSION_TOKEN: "token",
    })),
    { accessKeyId: "AKID", secretAccessKey: "secret", sessionToken: "token" },
  );
  const withoutToken = lambdaCredentials(env({
    AWS_ACCESS_KEY_ID: "AKID",
    AWS_SECRET_ACCESS_KEY: "secret",
    AWS_SESSION_TOKEN: "",
  }));
  assert.deepEqual(withoutToken, {
    accessKeyId: "AKID",
    secretAccessKey: "secret",
  });
  assert.ok(!("sessionToken" in withoutToken!));
  // Half a key pair means the SDK's own provider chain decides.
  assert.equal(
    lambdaCredentials(env({ AWS_ACCESS_KEY_ID: "AKID" })),
    undefined,
  );
  assert.equal(
    lambdaCredentials(env({ AWS_SECRET_ACCESS_KEY: "secret" })),
    undefined,
  );
  assert.equal(lambdaCredentials(env({})), undefined);
});

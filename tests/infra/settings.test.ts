import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import {
  readStackSettings,
  SETTING_DECLARATIONS,
  type SettingName,
} from "../../infra/settings.ts";
import { SettingError } from "../../infra/validation.ts";

const PROJECT = "kinesis-telemetry";

function settingsFrom(
  values: Partial<Record<SettingName, string>>,
  stack = "dev",
  region: string | undefined = "eu-west-1",
) {
  return readStackSettings({
    read: (key) => values[key],
    project: PROJECT,
    stack,
    region,
  });
}

function refused(
  values: Partial<Record<SettingName, string>>,
  setting: SettingName,
  pattern: RegExp,
) {
  assert.throws(() => settingsFrom(values), (error: unknown) => {
    assert.ok(error instanceof SettingError, String(error));
    assert.equal(error.setting, `${PROJECT}:${setting}`);
    assert.ok(
      error.message.startsWith(`${PROJECT}:${setting}: `),
      error.message,
    );
    assert.match(error.message, pattern);
    return true;
  });
}

Deno.test("defaults: on-demand, AWS managed key, derived names, arm64 demo", () => {
  assert.deepEqual(settingsFrom({}), {
    region: "eu-west-1",
    layerDir: "dist",
    // The hash of project and stack is pinned: a change would rename every
    // resource of every stack.
    namePrefix: "kinesis-telemetry-dev-41ef2f32",
    ssmPrefix: "/kinesis-telemetry/dev/",
    shardCount: 0,
    retentionHours: 24,
    kmsKeyArn: undefined,
    maxRecordSizeKiB: 1024,
    recordFormat: "kpl",
    keepOldLayerVersions: true,
    protectStream: true,
    shareWith: [],
    demoEnabled: true,
    demoArchitecture: "arm64",
    demoLogRetentionDays: 14,
    managedInstancesDemo: false,
    managedInstancesSubnetIds: [],
    managedInstancesSecurityGroupIds: [],
  });
});

Deno.test("empty strings mean the default (as Pulumi.yaml's empty defaults arrive)", () => {
  const settings = settingsFrom({
    namePrefix: "",
    ssmPrefix: " ",
    kmsKeyArn: "",
  }, "prod");
  assert.equal(settings.namePrefix, "kinesis-telemetry-prod-5e668e3e");
  assert.equal(settings.ssmPrefix, "/kinesis-telemetry/prod/");
  assert.equal(settings.kmsKeyArn, undefined);
});

Deno.test("every setting is read when given", () => {
  const key =
    "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
  assert.deepEqual(
    settingsFrom({
      layerDir: "/tmp/layers",
      namePrefix: "telemetry-prod",
      ssmPrefix: "/teams/obs/telemetry/",
      shardCount: "4",
      retentionHours: "168",
      kmsKeyArn: key,
      maxRecordSizeKiB: "10240",
      recordFormat: "ndjson",
      keepOldLayerVersions: "false",
      protectStream: "false",
      shareWith: " 111122223333, o-a1b2c3d4e5 444455556666 ",
      demoEnabled: "false",
      demoArchitecture: "x86_64",
      demoLogRetentionDays: "30",
      managedInstancesDemo: "true",
      managedInstancesSubnetIds:
        "subnet-0123456789abcdef0,subnet-0fedcba9876543210",
      managedInstancesSecurityGroupIds: "sg-0123456789abcdef0",
    }),
    {
      region: "eu-west-1",
      layerDir: "/tmp/layers",
      namePrefix: "telemetry-prod",
      ssmPrefix: "/teams/obs/telemetry/",
      shardCount: 4,
      retentionHours: 168,
      kmsKeyArn: key,
      maxRecordSizeKiB: 10240,
      recordFormat: "ndjson",
      keepOldLayerVersions: false,
      protectStream: false,
      shareWith: ["111122223333", "o-a1b2c3d4e5", "444455556666"],
      demoEnabled: false,
      demoArchitecture: "x86_64",
      demoLogRetentionDays: 30,
      managedInstancesDemo: true,
      managedInstancesSubnetIds: [
        "subnet-0123456789abcdef0",
        "subnet-0fedcba9876543210",
      ],
      managedInstancesSecurityGroupIds: ["sg-0123456789abcdef0"],
    },
  );
});

Deno.test("stack names with dots, capitals or too many characters still give valid, distinct stems", () => {
  assert.equal(
    settingsFrom({}, "team.prod").namePrefix,
    "kinesis-telemetry-team-prod-6c7fbc22",
  );
  assert.notEqual(
    settingsFrom({}, "team-prod").namePrefix,
    settingsFrom({}, "team.prod").namePrefix,
  );
  assert.match(settingsFrom({}, "Prod").namePrefix, /^kinesis-telemetry-prod-/);
  assert.notEqual(
    settingsFrom({}, "Prod").namePrefix,
    settingsFrom({}, "prod").namePrefix,
  );
  const long = settingsFrom({}, "x".repeat(50)).namePrefix;
  assert.equal(long.length, 58);
  assert.notEqual(long, settingsFrom({}, "x".repeat(51)).namePrefix);
});

Deno.test("the SSM prefix defaults to /<project>/<stack>/", () => {
  assert.equal(settingsFrom({}, "prod").ssmPrefix, "/kinesis-telemetry/prod/");
  assert.equal(
    readStackSettings({
      read: () => undefined,
      project: "payments",
      stack: "prod",
      region: "eu-west-1",
    }).ssmPrefix,
    "/payments/prod/",
  );
});

Deno.test("the region is required and checked", () => {
  assert.throws(
    () =>
      readStackSettings({
        read: () => undefined,
        project: PROJECT,
        stack: "dev",
        region: undefined,
      }),
    /^SettingError: aws:region: no AWS region.*pulumi config set aws:region/,
  );
  assert.throws(
    () => settingsFrom({}, "dev", "Europe"),
    /aws:region: must be an AWS region code like eu-west-1, got "Europe"/,
  );
  assert.equal(
    settingsFrom({}, "dev", "us-gov-west-1").region,
    "us-gov-west-1",
  );
});

Deno.test("invalid values are refused with the key and what is accepted", () => {
  refused(
    { shardCount: "-1" },
    "shardCount",
    /0 \(on-demand capacity\) or a whole number of shards/,
  );
  refused(
    { shardCount: "two" },
    "shardCount",
    /must be a whole number, got "two"/,
  );
  refused({ shardCount: "1.5" }, "shardCount", /must be a whole number/);
  refused(
    { retentionHours: "23" },
    "retentionHours",
    /from 24 to 8760 hours, got 23/,
  );
  refused(
    { retentionHours: "8761" },
    "retentionHours",
    /from 24 to 8760 hours/,
  );
  refused(
    { maxRecordSizeKiB: "512" },
    "maxRecordSizeKiB",
    /from 1024 to 10240 KiB, got 512/,
  );
  refused({ maxRecordSizeKiB: "20000" }, "maxRecordSizeKiB", /1024 to 10240/);
  refused(
    { kmsKeyArn: "alias/my-key" },
    "kmsKeyArn",
    /must be a KMS key ARN.*alias\/aws\/kinesis/,
  );
  refused(
    { kmsKeyArn: "arn:aws:kms:eu-west-1:123456789012:alias/my-key" },
    "kmsKeyArn",
    /must be a KMS key ARN/,
  );
  refused(
    { recordFormat: "csv" },
    "recordFormat",
    /one of "kpl", "json", "ndjson", got "csv"/,
  );
  refused(
    { demoArchitecture: "aarch64" },
    "demoArchitecture",
    /Lambda calls it "arm64"/,
  );
  refused(
    { demoLogRetentionDays: "10" },
    "demoLogRetentionDays",
    /retention periods \(1, 3, 5, 7, 14,.*got 10/,
  );
  refused(
    { demoEnabled: "yes" },
    "demoEnabled",
    /must be true or false, got "yes"/,
  );
  refused(
    { keepOldLayerVersions: "1" },
    "keepOldLayerVersions",
    /true or false/,
  );
  refused(
    { ssmPrefix: "kinesis-telemetry/dev" },
    "ssmPrefix",
    /starting and ending with "\/"/,
  );
  refused({ ssmPrefix: "/aws/telemetry/" }, "ssmPrefix", /reserved by AWS/);
  refused(
    { shareWith: "111122223333,everyone" },
    "shareWith",
    /12-digit account id or an organization id.*got "everyone"/,
  );
  refused(
    { managedInstancesDemo: "true" },
    "managedInstancesSubnetIds",
    /must name at least one, like subnet-0123456789abcdef0/,
  );
  refused(
    {
      managedInstancesDemo: "true",
      managedInstancesSubnetIds: "subnet-0123456789abcdef0",
      managedInstancesSecurityGroupIds: "sg-1",
    },
    "managedInstancesSecurityGroupIds",
    /must be ids like sg-0123456789abcdef0, got "sg-1"/,
  );
  refused({ ssmPrefix: "/a b/" }, "ssmPrefix", /must be a path/);
  refused(
    { namePrefix: "-leading" },
    "namePrefix",
    /must start with a letter or digit/,
  );
  refused({ namePrefix: "has.dot" }, "namePrefix", /only letters, digits/);
});

interface ProjectFile {
  name: string;
  runtime: { name: string; options: Record<string, unknown> };
  main: string;
  config: Record<
    string,
    { type: string; description: string; default: unknown }
  >;
}

const projectFile = parse(
  readFileSync(new URL("../../Pulumi.yaml", import.meta.url), "utf8"),
) as ProjectFile;

Deno.test("Pulumi.yaml declares every setting with the code's type, description and default", () => {
  assert.deepEqual(
    Object.keys(projectFile.config).sort(),
    Object.keys(SETTING_DECLARATIONS).sort(),
  );
  for (const [name, declaration] of Object.entries(SETTING_DECLARATIONS)) {
    assert.deepEqual(projectFile.config[name], declaration, name);
  }
});

Deno.test("Pulumi.yaml runs the JavaScript entry that checks Node.js, then infra/index.ts with type stripping", () => {
  assert.equal(projectFile.name, PROJECT);
  assert.equal(projectFile.runtime.name, "nodejs");
  assert.equal(projectFile.runtime.options.typescript, false);
  assert.equal(projectFile.main, "infra/main.mjs");
  const entry = readFileSync(
    new URL("../../infra/main.mjs", import.meta.url),
    "utf8",
  );
  // The check must run before the TypeScript is imported.
  assert.ok(
    entry.indexOf("nodeVersionProblem(process.versions.node)") <
      entry.indexOf('await import("./index.ts")'),
  );
});

Deno.test("Pulumi.dev.yaml sets a region and only declared settings, all valid", () => {
  const stackFile = parse(
    readFileSync(new URL("../../Pulumi.dev.yaml", import.meta.url), "utf8"),
  ) as { config: Record<string, unknown> };
  assert.equal(typeof stackFile.config["aws:region"], "string");
  const ours: Partial<Record<SettingName, string>> = {};
  for (const [key, value] of Object.entries(stackFile.config)) {
    if (key.startsWith("aws:")) continue;
    const [namespace, name] = key.split(":");
    assert.equal(namespace, PROJECT, key);
    assert.ok(name in SETTING_DECLARATIONS, `${key} is not a declared setting`);
    ours[name as SettingName] = String(value);
  }
  assert.ok(Object.keys(ours).length > 0);
  assert.doesNotThrow(() => settingsFrom(ours, "dev"));
});

Deno.test("the README's settings table lists every setting with its default", () => {
  const readme = readFileSync(
    new URL("../../README.md", import.meta.url),
    "utf8",
  );
  const section = readme.slice(readme.indexOf("### Settings"));
  const rows = new Map(
    [...section.matchAll(/^\| `([A-Za-z:]+)` +\| ([^|]+)\|/gm)].map((
      match,
    ) => [match[1], match[2].trim()]),
  );
  for (const [name, declaration] of Object.entries(SETTING_DECLARATIONS)) {
    const cell = rows.get(name);
    assert.ok(cell !== undefined, `${name} missing from the README's table`);
    const expected = declaration.default === ""
      ? '`""`'
      : `\`${declaration.default}\``;
    assert.ok(cell.startsWith(expected), `${name}: ${cell} vs ${expected}`);
  }
  assert.equal(rows.size, Object.keys(SETTING_DECLARATIONS).length + 1);
  assert.ok(rows.has("aws:region"));
});

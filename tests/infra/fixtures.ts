/**
 * Shared fixtures of the infra tests: Pulumi mocks that record every
 * registered resource and answer with plausible ARNs, output unwrapping,
 * and layer zips / demo handler folders written to temporary directories
 * (so no test depends on a build having run).
 *
 * @module
 */
import * as pulumi from "@pulumi/pulumi";
import { KinesisTelemetry } from "../../infra/component.ts";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Account and region the mocks put in every ARN. */
export const MOCK_ACCOUNT = "123456789012";
/** Region the mocks put in every ARN, and the stack's `aws:region`. */
export const MOCK_REGION = "eu-west-1";
/** Partition the mocked `aws.getPartition` answers with by default. */
export const MOCK_PARTITION = "aws";

/** What the mocked AWS account looks like. */
export interface MockAccount {
  /** Partition `aws.getPartition` answers with (default `aws`). */
  partition?: string;
  /** The stack's `aws:region` (default {@linkcode MOCK_REGION}); null leaves it unset. */
  region?: string | null;
}

/** One resource the program registered. */
export interface RecordedResource {
  /** Pulumi type token, e.g. `aws:kinesis/stream:Stream`. */
  type: string;
  /** Logical name. */
  name: string;
  /** Inputs as the provider would receive them. */
  inputs: Record<string, unknown>;
  /** State the mock answered with (inputs plus computed ARNs). */
  state: Record<string, unknown>;
}

/** Every resource registered since {@linkcode startMocks}. */
export interface Recorder {
  /** All custom resources, in registration order. */
  resources: RecordedResource[];
  /** Resources of one type. */
  ofType(type: string): RecordedResource[];
  /** The single resource with this logical name; throws when absent. */
  named(name: string): RecordedResource;
}

function fakeArn(
  type: string,
  name: string,
  inputs: Record<string, unknown>,
): string | undefined {
  const where = `${MOCK_REGION}:${MOCK_ACCOUNT}`;
  switch (type) {
    case "aws:kinesis/stream:Stream":
      return `arn:aws:kinesis:${where}:stream/${inputs.name ?? name}`;
    case "aws:lambda/layerVersion:LayerVersion":
      return `arn:aws:lambda:${where}:layer:${inputs.layerName}:1`;
    case "aws:iam/policy:Policy":
      return `arn:aws:iam::${MOCK_ACCOUNT}:policy/${inputs.name ?? name}`;
    case "aws:iam/role:Role":
      return `arn:aws:iam::${MOCK_ACCOUNT}:role/${inputs.name ?? name}`;
    case "aws:lambda/function:Function":
      return `arn:aws:lambda:${where}:function:${inputs.name ?? name}`;
    case "aws:lambda/capacityProvider:CapacityProvider":
      return `arn:aws:lambda:${where}:capacity-provider:${inputs.name ?? name}`;
    case "aws:ssm/parameter:Parameter":
      return `arn:aws:ssm:${where}:parameter${inputs.name}`;
    case "aws:cloudwatch/logGroup:LogGroup":
      return `arn:aws:logs:${where}:log-group:${inputs.name}`;
    default:
      return undefined;
  }
}

/**
 * Installs Pulumi mocks for `project`/`stack` (not a preview, so every
 * output is known) and returns the recorder they fill. Stack config is
 * replaced by `config` (keys without the project namespace); SSM lookups
 * answer from `ssmParameters` (full name → value); `account` sets the
 * partition and region.
 */
export async function startMocks(
  project = "kinesis-telemetry",
  stack = "test",
  config: Record<string, string> = {},
  ssmParameters: Record<string, string> = {},
  account: MockAccount = {},
): Promise<Recorder> {
  // Let the previous test's components finish registering their outputs
  // (they do so once their children's outputs resolve) before their
  // requests could reach these new mocks. waitForRPCs is the SDK's own
  // (internal) wait for outstanding requests.
  await (pulumi.runtime as unknown as { waitForRPCs?: () => Promise<void> })
    .waitForRPCs?.();
  const partition = account.partition ?? MOCK_PARTITION;
  const region = account.region === undefined ? MOCK_REGION : account.region;
  const resources: RecordedResource[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const inputs = args.inputs as Record<string, unknown>;
        const arn = fakeArn(args.type, args.name, inputs);
        const state: Record<string, unknown> = {
          ...inputs,
          name: inputs.name ?? args.name,
          ...(arn ? { arn } : {}),
        };
        if (args.type === "aws:lambda/function:Function") {
          state.qualifiedArn = inputs.publish ? `${arn}:1` : `${arn}:$LATEST`;
        }
        if (args.type === "aws:lambda/layerVersion:LayerVersion") {
          // What Lambda answers for a layer's first version.
          state.layerArn = String(arn).replace(/:1$/, "");
          state.version = "1";
        }
        if (args.custom !== false) {
          resources.push({ type: args.type, name: args.name, inputs, state });
        }
        return { id: `${args.name}-id`, state };
      },
      call(args) {
        if (args.token === "aws:index/getPartition:getPartition") {
          return {
            id: partition,
            partition,
            dnsSuffix: partition === "aws-cn"
              ? "amazonaws.com.cn"
              : "amazonaws.com",
            reverseDnsPrefix: partition === "aws-cn"
              ? "cn.com.amazonaws"
              : "com.amazonaws",
          };
        }
        if (args.token === "aws:ssm/getParameter:getParameter") {
          const name = String(args.inputs.name);
          const value = ssmParameters[name];
          if (value === undefined) {
            throw new Error(`ParameterNotFound: ${name}`);
          }
          return {
            name,
            value,
            insecureValue: value,
            type: "String",
            version: 1,
          };
        }
        return args.inputs;
      },
    },
    project,
    stack,
    false,
  );
  pulumi.runtime.setAllConfig({
    ...Object.fromEntries(
      Object.entries(config).map((
        [key, value],
      ) => [`${project}:${key}`, value]),
    ),
    ...(region === null ? {} : { "aws:region": region }),
  });
  return {
    resources,
    ofType: (type) => resources.filter((r) => r.type === type),
    named(name) {
      const found = resources.filter((r) => r.name === name);
      if (found.length !== 1) {
        throw new Error(
          `expected one resource named ${name}, found ${found.length} among ${
            resources.map((r) => r.name).join(", ")
          }`,
        );
      }
      return found[0];
    },
  };
}

/**
 * Resolves an output (or plain value) to its value; rejects when the output
 * failed. Uses the SDK's own promise of the output rather than an `apply`,
 * which would leave a second, unobserved rejected output behind.
 */
export function valueOf<T>(input: pulumi.Input<T>): Promise<T> {
  const output = pulumi.output(input) as unknown as {
    promise(): Promise<T>;
  };
  return output.promise();
}

/**
 * Whether `resource` was declared with `protect` (the mocks' newResource
 * does not see resource options, so this reads the SDK's own record of it).
 */
export function isProtected(resource: pulumi.Resource): boolean {
  return (resource as unknown as { __protect?: boolean }).__protect === true;
}

/** Waits until every given resource is registered with the mocks. */
export async function registered(
  ...resources: pulumi.Resource[]
): Promise<void> {
  await Promise.all(resources.map((resource) => valueOf(resource.urn)));
}

/** A temporary folder, removed by {@linkcode TempDir.remove}. */
export interface TempDir {
  /** Its path. */
  path: string;
  /** Deletes it with everything inside. */
  remove(): void;
}

/** Creates an empty temporary folder. */
export function tempDir(prefix = "kt-infra-"): TempDir {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** One file of a test zip. */
export interface FixtureEntry {
  /** Path inside the archive. */
  path: string;
  /** Content. */
  data: Uint8Array;
  /** Unix mode; undefined writes an entry "made on MS-DOS" (no mode). */
  mode?: number;
}

/** Builds a stored (uncompressed) zip, enough to exercise the layer checks. */
export function storedZip(entries: readonly FixtureEntry[]): Uint8Array {
  const encoder = new TextEncoder();
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = encoder.encode(entry.path);
    const crc = crc32(entry.data);
    const local = new Uint8Array(30 + name.length + entry.data.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, entry.data.length, true);
    lv.setUint32(22, entry.data.length, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);
    local.set(entry.data, 30 + name.length);
    const central = new Uint8Array(46 + name.length);
    const cv = new DataView(central.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, entry.mode === undefined ? 20 : (3 << 8) | 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, entry.data.length, true);
    cv.setUint32(24, entry.data.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(
      38,
      entry.mode === undefined ? 0 : ((0o100000 | entry.mode) << 16) >>> 0,
      true,
    );
    cv.setUint32(42, offset, true);
    central.set(name, 46);
    locals.push(local);
    centrals.push(central);
    offset += local.length;
  }
  const centralSize = centrals.reduce((sum, part) => sum + part.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
  ev.setUint32(12, centralSize, true);
  ev.setUint32(16, offset, true);
  const out = new Uint8Array(offset + centralSize + end.length);
  let at = 0;
  for (const part of [...locals, ...centrals, end]) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A layer zip as the build writes it: an executable extension for `architecture`. */
export function layerZip(architecture: string, marker = "v1"): Uint8Array {
  return storedZip([{
    path: "extensions/kinesis-telemetry",
    data: new TextEncoder().encode(`#!/bin/sh\n# ${architecture} ${marker}\n`),
    mode: 0o755,
  }]);
}

/** Base64 SHA-256, the format Lambda's sourceCodeHash takes. */
export function sha256Base64(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("base64");
}

/** Writes both layer zips into a new temporary folder, with the build's manifest when asked. */
export function layerDirWithZips(
  marker = "v1",
  options: { manifest?: boolean } = {},
): TempDir & { zips: Record<"x86_64" | "arm64", Uint8Array> } {
  const dir = tempDir("kt-layers-");
  const zips = {
    x86_64: layerZip("x86_64", marker),
    arm64: layerZip("arm64", marker),
  };
  for (const [arch, bytes] of Object.entries(zips)) {
    writeFileSync(join(dir.path, `kinesis-telemetry-${arch}.zip`), bytes);
  }
  if (options.manifest) {
    writeFileSync(
      join(dir.path, "manifest.json"),
      JSON.stringify(buildManifest(zips), null, 2),
    );
  }
  return { ...dir, zips };
}

/** A manifest shaped like the one `task build` writes, for the given zips. */
export function buildManifest(
  zips: Record<string, Uint8Array>,
): { layers: Record<string, unknown>[] } {
  return {
    layers: Object.entries(zips).map(([arch, bytes]) => ({
      file: `kinesis-telemetry-${arch}.zip`,
      arch,
      target: arch === "arm64"
        ? "aarch64-unknown-linux-gnu"
        : "x86_64-unknown-linux-gnu",
      mode: "portable",
      denoVersion: "2.9.6",
      sha256: createHash("sha256").update(bytes).digest("hex"),
      size: bytes.byteLength,
      unpackedSize: bytes.byteLength,
      files: [{ path: "extensions/kinesis-telemetry", size: 1, mode: "755" }],
      verified: "static",
    })),
  };
}

/** Writes a demo handler folder (index.mjs exporting handler). */
export function demoCodeDir(): TempDir {
  const dir = tempDir("kt-demo-");
  mkdirSync(dir.path, { recursive: true });
  writeFileSync(
    join(dir.path, "index.mjs"),
    "export const handler = async () => ({ statusCode: 200 });\n",
  );
  return dir;
}

/**
 * Starts the mocks for `account`, declares a KinesisTelemetry named `kt`
 * over fresh layer zips (stem `namePrefix`), and hands it and a demo handler
 * folder to `build`, which declares what it tests and waits for it; removes
 * the folders afterwards.
 */
export async function withTelemetry<T>(
  namePrefix: string,
  account: MockAccount,
  build: (telemetry: KinesisTelemetry, codeDir: string) => Promise<T>,
): Promise<T & { recorder: Recorder; telemetry: KinesisTelemetry }> {
  const layers = layerDirWithZips();
  const code = demoCodeDir();
  try {
    const recorder = await startMocks(
      "kinesis-telemetry",
      "test",
      {},
      {},
      account,
    );
    const telemetry = new KinesisTelemetry("kt", {
      namePrefix,
      layerDir: layers.path,
      ssmPrefix: `/kinesis-telemetry/${namePrefix}/`,
    });
    const built = await build(telemetry, code.path);
    await registered(telemetry.policy);
    return { ...built, recorder, telemetry };
  } finally {
    layers.remove();
    code.remove();
  }
}

import assert from "node:assert/strict";
import { readFileSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  EXTENSION_ENTRY,
  LayerArtifactError,
  layerZipName,
  listZipEntries,
  MANIFEST_FILE,
  MAX_DIRECT_UPLOAD_BYTES,
  readLayerArtifacts,
} from "../../infra/layer_artifacts.ts";
import { layerDescription } from "../../infra/component.ts";
import { createZip } from "../../scripts/lib/zip.ts";
import {
  buildManifest,
  layerDirWithZips,
  layerZip,
  sha256Base64,
  storedZip,
  tempDir,
} from "./fixtures.ts";

const BUILD_HINT =
  /npx -y deno@2 task build` \(or `npx -y deno@2 task build --portable`/;

Deno.test("both zips are found, hashed as Lambda's sourceCodeHash, and sized", () => {
  const dir = layerDirWithZips();
  try {
    const artifacts = readLayerArtifacts(dir.path);
    for (const arch of ["x86_64", "arm64"] as const) {
      assert.equal(artifacts[arch].architecture, arch);
      assert.equal(
        artifacts[arch].zipPath,
        join(dir.path, `kinesis-telemetry-${arch}.zip`),
      );
      assert.equal(artifacts[arch].sha256Base64, sha256Base64(dir.zips[arch]));
      assert.equal(artifacts[arch].sizeBytes, dir.zips[arch].byteLength);
    }
    assert.notEqual(
      artifacts.x86_64.sha256Base64,
      artifacts.arm64.sha256Base64,
    );
  } finally {
    dir.remove();
  }
});

Deno.test("a changed zip changes the hash", () => {
  const first = layerDirWithZips("v1");
  const second = layerDirWithZips("v2");
  try {
    assert.notEqual(
      readLayerArtifacts(first.path).arm64.sha256Base64,
      readLayerArtifacts(second.path).arm64.sha256Base64,
    );
  } finally {
    first.remove();
    second.remove();
  }
});

Deno.test("missing zips name every missing file and the build command", () => {
  const empty = tempDir();
  try {
    assert.throws(() => readLayerArtifacts(empty.path), (error: unknown) => {
      assert.ok(error instanceof LayerArtifactError);
      assert.match(error.message, /^Layer zips not found: /);
      assert.ok(
        error.message.includes(join(empty.path, layerZipName("x86_64"))),
      );
      assert.ok(
        error.message.includes(join(empty.path, layerZipName("arm64"))),
      );
      assert.match(error.message, BUILD_HINT);
      assert.match(error.message, /layerDir/);
      return true;
    });
  } finally {
    empty.remove();
  }
  const half = layerDirWithZips();
  try {
    unlinkSync(join(half.path, layerZipName("arm64")));
    assert.throws(() => readLayerArtifacts(half.path), (error: unknown) => {
      assert.ok(error instanceof LayerArtifactError);
      assert.match(
        error.message,
        /^Layer zip not found: \S+kinesis-telemetry-arm64\.zip\. /,
      );
      assert.ok(!error.message.includes("x86_64.zip"));
      return true;
    });
  } finally {
    half.remove();
  }
  assert.throws(() => readLayerArtifacts("/nonexistent/kt-layers"), BUILD_HINT);
});

Deno.test("a file that is not a zip, a zip without the extension, or a non-executable extension is refused", () => {
  const dir = layerDirWithZips();
  const arm64Zip = join(dir.path, layerZipName("arm64"));
  try {
    writeFileSync(arm64Zip, "<html>not found</html>");
    assert.throws(
      () => readLayerArtifacts(dir.path),
      /kinesis-telemetry-arm64\.zip is not a zip archive\. Rebuild/,
    );

    writeFileSync(
      arm64Zip,
      storedZip([{ path: "README", data: new Uint8Array([1]), mode: 0o644 }]),
    );
    assert.throws(
      () => readLayerArtifacts(dir.path),
      new RegExp(
        `has no ${EXTENSION_ENTRY}, so Lambda would not start the extension`,
      ),
    );

    writeFileSync(
      arm64Zip,
      storedZip([{
        path: EXTENSION_ENTRY,
        data: new Uint8Array([1]),
        mode: 0o644,
      }]),
    );
    assert.throws(
      () => readLayerArtifacts(dir.path),
      /is not executable \(mode 644\)/,
    );

    // A zip made without Unix modes (e.g. on Windows) is left to Lambda.
    writeFileSync(
      arm64Zip,
      storedZip([{ path: EXTENSION_ENTRY, data: new Uint8Array([1]) }]),
    );
    assert.equal(readLayerArtifacts(dir.path).arm64.zipPath, arm64Zip);
  } finally {
    dir.remove();
  }
});

Deno.test("zip listing reads names and modes from the central directory", () => {
  const zip = storedZip([
    { path: "extensions/", data: new Uint8Array(), mode: 0o755 },
    {
      path: EXTENSION_ENTRY,
      data: new TextEncoder().encode("#!/bin/sh\n"),
      mode: 0o755,
    },
    { path: "notes.txt", data: new Uint8Array([65]), mode: 0o600 },
  ]);
  assert.deepEqual(listZipEntries(zip), [
    { path: "extensions/", mode: 0o755 },
    { path: EXTENSION_ENTRY, mode: 0o755 },
    { path: "notes.txt", mode: 0o600 },
  ]);
  assert.equal(listZipEntries(new Uint8Array(10)), undefined);
  assert.equal(listZipEntries(zip.subarray(0, zip.length - 30)), undefined);
});

Deno.test("with the build's manifest, each zip must be the one it describes", () => {
  const dir = layerDirWithZips("v1", { manifest: true });
  const manifestPath = join(dir.path, MANIFEST_FILE);
  const arm64Zip = join(dir.path, layerZipName("arm64"));
  try {
    const artifacts = readLayerArtifacts(dir.path);
    assert.equal(artifacts.arm64.manifest?.denoVersion, "2.9.6");
    assert.equal(
      layerDescription(artifacts.arm64),
      "kinesis-telemetry Lambda extension (arm64, portable build, Deno 2.9.6): ships Telemetry API events to Kinesis",
    );

    // A zip replaced after the build (here: from another build).
    writeFileSync(arm64Zip, layerZip("arm64", "v2"));
    assert.throws(
      () => readLayerArtifacts(dir.path),
      /kinesis-telemetry-arm64\.zip is not the zip manifest\.json describes \(SHA-256 [0-9a-f]{64}, manifest [0-9a-f]{64}\)/,
    );

    // The zips swapped: each is listed, but for the other architecture.
    const swapped = { x86_64: dir.zips.arm64, arm64: dir.zips.x86_64 };
    const manifest = buildManifest(swapped);
    for (const layer of manifest.layers) {
      layer.file = layer.arch === "arm64"
        ? layerZipName("x86_64")
        : layerZipName("arm64");
    }
    writeFileSync(join(dir.path, layerZipName("x86_64")), swapped.x86_64);
    writeFileSync(arm64Zip, swapped.arm64);
    writeFileSync(manifestPath, JSON.stringify(manifest));
    assert.throws(
      () => readLayerArtifacts(dir.path),
      /built for arm64 \(says manifest\.json\), not x86_64: .*exec format error/,
    );

    // A manifest of a one-architecture build beside an old zip of the other.
    writeFileSync(join(dir.path, layerZipName("x86_64")), dir.zips.x86_64);
    writeFileSync(arm64Zip, dir.zips.arm64);
    writeFileSync(
      manifestPath,
      JSON.stringify(buildManifest({ x86_64: dir.zips.x86_64 })),
    );
    assert.throws(
      () => readLayerArtifacts(dir.path),
      /manifest\.json beside \S+arm64\.zip does not list it/,
    );

    writeFileSync(manifestPath, "{ not json");
    assert.throws(
      () => readLayerArtifacts(dir.path),
      /manifest\.json is not valid JSON/,
    );
    writeFileSync(
      manifestPath,
      JSON.stringify({ layers: [{ file: "x.zip" }] }),
    );
    assert.throws(
      () => readLayerArtifacts(dir.path),
      /has no "layers" list of \{file, arch, sha256\}/,
    );

    // Without a manifest the zips alone are enough.
    unlinkSync(manifestPath);
    assert.equal(readLayerArtifacts(dir.path).arm64.manifest, undefined);
    assert.ok(readFileSync(arm64Zip).byteLength > 0);
  } finally {
    dir.remove();
  }
});

Deno.test("a zip over Lambda's direct upload limit is refused before publishing", () => {
  const dir = layerDirWithZips();
  try {
    truncateSync(
      join(dir.path, layerZipName("x86_64")),
      MAX_DIRECT_UPLOAD_BYTES + 1,
    );
    assert.throws(
      () => readLayerArtifacts(dir.path),
      /x86_64\.zip is 50\.0 MiB, over the 50 MiB Lambda takes in a direct upload/,
    );
  } finally {
    dir.remove();
  }
});

Deno.test("zips written by the build's own zip writer are read, modes included", () => {
  const launcher = new TextEncoder().encode(
    '#!/bin/sh\nexec /opt/kinesis-telemetry/deno run "$@"\n'.repeat(50),
  );
  const zip = createZip([
    { path: EXTENSION_ENTRY, data: launcher, mode: 0o755 },
    {
      path: "kinesis-telemetry/extension.js",
      data: new TextEncoder().encode("console.log(1);\n".repeat(500)),
    },
  ]);
  assert.deepEqual(listZipEntries(zip), [
    { path: EXTENSION_ENTRY, mode: 0o755 },
    { path: "kinesis-telemetry/extension.js", mode: 0o644 },
  ]);
});

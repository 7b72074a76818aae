import assert from "node:assert/strict";
import { join } from "node:path";
import {
  crc32,
  createZip,
  readZip,
  type ZipEntry,
} from "../../../scripts/lib/zip.ts";

const encoder = new TextEncoder();

/** Deterministic pseudo-random bytes (incompressible: stored, not deflated). */
function noise(length: number, seed = 7): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed;
  for (let i = 0; i < length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    out[i] = state >>> 24;
  }
  return out;
}

const SAMPLE: ZipEntry[] = [
  {
    path: "extensions/kinesis-telemetry",
    data: encoder.encode("#!/bin/sh\nexit 0\n"),
    mode: 0o755,
  },
  {
    path: "kinesis-telemetry/extension.js",
    data: encoder.encode("console.log(1);\n".repeat(500)),
  },
  { path: "kinesis-telemetry/noise.bin", data: noise(4096), mode: 0o600 },
  { path: "kinesis-telemetry/empty", data: new Uint8Array(0) },
  { path: "kinesis-telemetry/名前-✓.txt", data: encoder.encode("héllo") },
];

function commandExists(name: string): boolean {
  try {
    return new Deno.Command("sh", {
      args: ["-c", `command -v ${name}`],
      stdout: "null",
      stderr: "null",
    })
      .outputSync().success;
  } catch {
    return false;
  }
}

const HAS_UNZIP = commandExists("unzip");
const HAS_PYTHON = commandExists("python3");
if (!HAS_UNZIP) {
  console.log("zip.test: unzip not installed: its cross-checks are skipped");
}
if (!HAS_PYTHON) {
  console.log("zip.test: python3 not installed: its cross-checks are skipped");
}

async function withTempZip(
  entries: ZipEntry[],
  body: (path: string, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "zip-test-" });
  try {
    const path = join(dir, "layer.zip");
    await Deno.writeFile(path, createZip(entries));
    await body(path, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("crc32 matches the standard check value", () => {
  assert.equal(crc32(encoder.encode("123456789")), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
});

Deno.test("readZip returns what createZip stored: paths, bytes and modes, in order", () => {
  const files = readZip(createZip(SAMPLE));
  assert.deepEqual(
    files.map((f) => [f.path, f.mode]),
    SAMPLE.map((e) => [e.path, e.mode ?? 0o644]),
  );
  for (const [i, file] of files.entries()) {
    assert.deepEqual(file.data, SAMPLE[i].data);
  }
});

Deno.test("the same entries give byte-identical archives; another order gives another archive", () => {
  const first = createZip(SAMPLE);
  const second = createZip(SAMPLE.map((e) => ({ ...e, data: e.data.slice() })));
  assert.deepEqual(first, second);
  const reordered = createZip([...SAMPLE].reverse());
  assert.notDeepEqual(first, reordered);
});

Deno.test("compressible data is deflated, incompressible data is stored", () => {
  const text = encoder.encode("a".repeat(10_000));
  const archive = createZip([{ path: "a.txt", data: text }, {
    path: "n.bin",
    data: noise(1000),
  }]);
  // Local header 30 + name; a deflated 10 kB run is a few dozen bytes.
  assert.ok(
    archive.length < 10_000 / 5 + 1000 + 300,
    `archive is ${archive.length} bytes`,
  );
  const view = new DataView(archive.buffer);
  assert.equal(view.getUint16(8, true), 8, "first entry uses deflate");
  const secondLocal = 30 + "a.txt".length + view.getUint32(18, true);
  assert.equal(view.getUint16(secondLocal + 8, true), 0, "noise is stored");
});

Deno.test("createZip refuses unsafe or duplicate paths", () => {
  const data = new Uint8Array(1);
  for (const path of ["", "/abs", "a/../b", "./a", "dir/", "a\\b"]) {
    assert.throws(
      () => createZip([{ path, data }]),
      /invalid entry path/,
      path,
    );
  }
  assert.throws(
    () => createZip([{ path: "a", data }, { path: "a", data }]),
    /duplicate entry/,
  );
});

Deno.test("readZip detects a corrupted entry", () => {
  const archive = createZip([{ path: "n.bin", data: noise(256) }]);
  archive[30 + "n.bin".length + 10] ^= 0xff;
  assert.throws(() => readZip(archive), /corrupt/);
  assert.throws(() => readZip(new Uint8Array(10)), /end of central directory/);
});

Deno.test({
  name: "unzip lists, tests and extracts the archive with its permission bits",
  ignore: !HAS_UNZIP,
  async fn() {
    await withTempZip(SAMPLE, async (zipPath, dir) => {
      const test = await new Deno.Command("unzip", {
        args: ["-t", zipPath],
        stdout: "piped",
      }).output();
      assert.ok(test.success, new TextDecoder().decode(test.stdout));
      const listing = await new Deno.Command("zipinfo", {
        args: [zipPath],
        stdout: "piped",
      }).output();
      const text = new TextDecoder().decode(listing.stdout);
      assert.match(
        text,
        /-rwxr-xr-x .* unx .* 80-Jan-01 00:00 extensions\/kinesis-telemetry/,
      );
      assert.match(text, /-rw-r--r-- .* kinesis-telemetry\/extension\.js/);
      const out = join(dir, "out");
      const extract = await new Deno.Command("unzip", {
        args: ["-q", zipPath, "-d", out],
      }).output();
      assert.ok(extract.success);
      const launcher = await Deno.stat(
        join(out, "extensions/kinesis-telemetry"),
      );
      assert.equal(launcher.mode! & 0o777, 0o755);
      const noiseFile = await Deno.stat(
        join(out, "kinesis-telemetry/noise.bin"),
      );
      assert.equal(noiseFile.mode! & 0o777, 0o600);
      assert.deepEqual(
        await Deno.readFile(join(out, "kinesis-telemetry/noise.bin")),
        SAMPLE[2].data,
      );
    });
  },
});

Deno.test({
  name:
    "python's zipfile reads every entry with matching CRCs, modes and names",
  ignore: !HAS_PYTHON,
  async fn() {
    await withTempZip(SAMPLE, async (zipPath) => {
      const script = [
        "import json, sys, zipfile",
        "z = zipfile.ZipFile(sys.argv[1])",
        "assert z.testzip() is None",
        "print(json.dumps([[i.filename, i.external_attr >> 16, i.file_size, i.date_time[0]] for i in z.infolist()]))",
      ].join("\n");
      const result = await new Deno.Command("python3", {
        args: ["-c", script, zipPath],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(result.success, new TextDecoder().decode(result.stderr));
      const rows = JSON.parse(new TextDecoder().decode(result.stdout));
      assert.deepEqual(
        rows,
        SAMPLE.map((
          e,
        ) => [e.path, 0o100000 | (e.mode ?? 0o644), e.data.length, 1980]),
      );
    });
  },
});

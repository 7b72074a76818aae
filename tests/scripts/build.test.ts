import assert from "node:assert/strict";
import { join } from "node:path";
import {
  BuildError,
  buildLayers,
  type BuildManifest,
  denortMissingMessage,
  MANIFEST_FILE,
  PROJECT_ROOT,
  resolveDenort,
  sha256Hex,
} from "../../scripts/build.ts";
import { LAYER_TARGETS } from "../../scripts/lib/layer_targets.ts";
import { renderLauncher } from "../../scripts/lib/launcher.ts";
import {
  defaultBuildCacheDir,
  STOCK_DENO_VERSION,
} from "../../scripts/lib/stock_deno.ts";
import { readZip } from "../../scripts/lib/zip.ts";

const ENTRY = join(PROJECT_ROOT, "extension", "main.ts");
const CONFIG = join(PROJECT_ROOT, "deno.json");
const BUILD_SCRIPT = join(PROJECT_ROOT, "scripts", "build.ts");

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

async function withTempDir(
  body: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "build-test-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name:
    "portable build: both zips and the manifest; a rebuild is byte-identical",
  // Builds real layers (bundle, npm-fetched deno binaries, start probe).
  sanitizeResources: false,
  async fn() {
    await withTempDir(async (outDir) => {
      const options = {
        mode: "portable" as const,
        arches: ["x86_64" as const, "arm64" as const],
        outDir,
        entry: ENTRY,
        cacheDir: defaultBuildCacheDir(),
        configPath: CONFIG,
      };
      const manifest = await buildLayers(options);
      assert.deepEqual(await listDir(outDir), [
        "kinesis-telemetry-arm64.zip",
        "kinesis-telemetry-x86_64.zip",
        MANIFEST_FILE,
      ]);
      const onDisk = JSON.parse(
        await Deno.readTextFile(join(outDir, MANIFEST_FILE)),
      ) as BuildManifest;
      assert.deepEqual(onDisk, manifest);
      assert.deepEqual(manifest.layers.map((l) => l.arch), ["arm64", "x86_64"]);
      const PORTABLE_ENTRY = "kinesis-telemetry/extension.js";
      for (const layer of manifest.layers) {
        const target = LAYER_TARGETS[layer.arch];
        const zip = await Deno.readFile(join(outDir, layer.file));
        assert.equal(layer.file, target.zipName);
        assert.equal(layer.target, target.target);
        assert.equal(layer.mode, "portable");
        assert.equal(layer.denoVersion, STOCK_DENO_VERSION);
        assert.equal(layer.size, zip.length);
        assert.equal(layer.sha256, await sha256Hex(zip));
        const files = readZip(zip);
        const modes = new Map(files.map((f) => [f.path, f.mode.toString(8)]));
        assert.equal(modes.get("extensions/kinesis-telemetry"), "755");
        assert.equal(modes.get("kinesis-telemetry/deno"), "755");
        assert.equal(modes.get("kinesis-telemetry/extension.js"), "644");
        // Besides those, only the bundle's chunks (loaded at the first flush).
        const chunks = files.filter((f) =>
          ![
            "extensions/kinesis-telemetry",
            "kinesis-telemetry/deno",
            "kinesis-telemetry/extension.js",
          ].includes(f.path)
        );
        assert.ok(
          chunks.length > 0,
          "the SDK is split off the start-up bundle",
        );
        for (const chunk of chunks) {
          assert.match(chunk.path, /^kinesis-telemetry\/[\w-]+\.js$/);
          assert.equal(chunk.mode.toString(8), "644");
        }
        // Chunks are imported through URLs Deno's start-up analysis does
        // not follow (scripts/lib/bundle_imports.ts): the SDK's at least.
        const text = (path: string) =>
          new TextDecoder().decode(files.find((f) => f.path === path)!.data);
        const entryText = text("kinesis-telemetry/extension.js");
        assert.match(entryText, /import\(new URL\("\.\/[\w-]+\.js"/);
        for (const path of [...chunks.map((c) => c.path), PORTABLE_ENTRY]) {
          assert.doesNotMatch(text(path), /\bimport\(\s*["']\.\//, path);
        }
        assert.deepEqual(
          files.map((f) => f.path),
          files.map((f) => f.path).sort(),
          "files in a fixed order",
        );
        assert.deepEqual(
          layer.files.map((f) => [f.path, f.size, f.mode]),
          files.map((f) => [f.path, f.data.length, f.mode.toString(8)]),
        );
        assert.equal(
          layer.unpackedSize,
          files.reduce((sum, f) => sum + f.data.length, 0),
        );
        const file = (path: string) => files.find((f) => f.path === path)!.data;
        assert.equal(
          new TextDecoder().decode(file("extensions/kinesis-telemetry")),
          renderLauncher(),
        );
        const deno = file("kinesis-telemetry/deno");
        assert.equal(
          deno[18] | (deno[19] << 8),
          target.elfMachine,
          `${layer.arch} deno binary`,
        );
        // Lambda's limit for a function and all its layers, unpacked.
        assert.ok(layer.unpackedSize < 250 * 1024 * 1024);
      }
      const x86 = manifest.layers.find((l) => l.arch === "x86_64")!;
      assert.equal(x86.verified, "ran");

      // Rebuild one architecture: identical bytes, and the manifest keeps the other.
      const again = await buildLayers({ ...options, arches: ["x86_64"] });
      assert.deepEqual(again, manifest);
      assert.equal(
        await sha256Hex(await Deno.readFile(join(outDir, x86.file))),
        x86.sha256,
      );
    });
  },
});

Deno.test({
  name:
    "a layer whose extension does not start is never written, and older zips stay",
  sanitizeResources: false,
  async fn() {
    await withTempDir(async (dir) => {
      const outDir = join(dir, "dist");
      await Deno.mkdir(outDir);
      const previous = new TextEncoder().encode("previous good zip");
      await Deno.writeFile(
        join(outDir, "kinesis-telemetry-x86_64.zip"),
        previous,
      );
      const entry = join(dir, "main.ts");
      // Type-checks and bundles fine, but exits without registering.
      await Deno.writeTextFile(
        entry,
        'console.error("starting"); Deno.exit(0);\n',
      );
      await assert.rejects(
        buildLayers({
          mode: "portable",
          arches: ["x86_64"],
          outDir,
          entry,
          cacheDir: defaultBuildCacheDir(),
          configPath: CONFIG,
        }),
        (error: Error) => {
          assert.ok(error instanceof BuildError);
          assert.match(
            error.message,
            /x86_64 layer does not run: its extension exited with code 0 without registering/,
          );
          assert.match(error.message, /starting/);
          return true;
        },
      );
      assert.deepEqual(await listDir(outDir), ["kinesis-telemetry-x86_64.zip"]);
      assert.deepEqual(
        await Deno.readFile(join(outDir, "kinesis-telemetry-x86_64.zip")),
        previous,
      );
    });
  },
});

async function denortCached(target: string): Promise<boolean> {
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  }).output();
  const denoDir = JSON.parse(new TextDecoder().decode(info.stdout))
    .denoDir as string;
  try {
    await Deno.stat(
      join(
        denoDir,
        "dl",
        "release",
        `v${Deno.version.deno}`,
        `denort-${target}.zip`,
      ),
    );
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name:
    "compiled build without denort fails fast with the DENORT_BIN explanation and writes nothing",
  sanitizeResources: false,
  async fn() {
    if (await denortCached(LAYER_TARGETS.x86_64.target)) {
      console.log(
        "skipped: a denort is cached in DENO_DIR here, so compiling succeeds",
      );
      return;
    }
    await withTempDir(async (outDir) => {
      // A proxy that refuses every tunnel: the denort download fails at once,
      // on this machine and on one with internet access alike.
      const proxy = Deno.serve(
        { hostname: "127.0.0.1", port: 0, onListen: () => {} },
        () => new Response("no tunnels here", { status: 403 }),
      );
      try {
        const env: Record<string, string> = {
          ...Deno.env.toObject(),
          HTTPS_PROXY: `http://127.0.0.1:${proxy.addr.port}`,
          NO_COLOR: "1",
        };
        delete env.DENORT_BIN;
        delete env.DENORT_BIN_X86_64;
        const result = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            BUILD_SCRIPT,
            "--arch",
            "x86_64",
            "--out",
            outDir,
          ],
          env,
          clearEnv: true,
          stdout: "piped",
          stderr: "piped",
        }).output();
        const stderr = new TextDecoder().decode(result.stderr);
        assert.equal(result.code, 1, stderr);
        assert.match(
          stderr,
          /build failed: deno compile could not get the denort base binary for x86_64-unknown-linux-gnu/,
        );
        assert.match(stderr, /DENORT_BIN_X86_64=\/path\/to\/denort/);
        assert.match(stderr, /task build --portable/);
        assert.deepEqual(await listDir(outDir), []);
      } finally {
        await proxy.shutdown();
      }
    });
  },
});

Deno.test("resolveDenort: per-target variable, DENORT_BIN only for its own architecture, checks", async () => {
  const x86 = LAYER_TARGETS.x86_64;
  const arm = LAYER_TARGETS.arm64;
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.equal(await resolveDenort(x86, env({})), undefined);
  await assert.rejects(
    resolveDenort(x86, env({ DENORT_BIN_X86_64: "/nonexistent/denort" })),
    /DENORT_BIN_X86_64=\/nonexistent\/denort: no such file/,
  );
  await withTempDir(async (dir) => {
    // A fake denort of each architecture: ELF header only.
    const fake = async (name: string, machine: number) => {
      const header = new Uint8Array(64);
      header.set([0x7f, 0x45, 0x4c, 0x46, 2, 1]);
      header[18] = machine;
      await Deno.writeFile(join(dir, name), header);
      return join(dir, name);
    };
    const x86Denort = await fake("denort-x86", x86.elfMachine);
    const armDenort = await fake("denort-arm", arm.elfMachine);
    assert.equal(
      await resolveDenort(x86, env({ DENORT_BIN: x86Denort })),
      x86Denort,
    );
    // DENORT_BIN of another architecture is left to that one: this target downloads.
    assert.equal(
      await resolveDenort(arm, env({ DENORT_BIN: x86Denort })),
      undefined,
    );
    assert.equal(
      await resolveDenort(
        arm,
        env({ DENORT_BIN: x86Denort, DENORT_BIN_AARCH64: armDenort }),
      ),
      armDenort,
    );
    await assert.rejects(
      resolveDenort(arm, env({ DENORT_BIN_AARCH64: x86Denort })),
      /DENORT_BIN_AARCH64=.* is x86_64 ELF, not a arm64 binary/,
    );
  });
  // The full CLI is refused: a layer built on it only opens a REPL.
  const host = Deno.build.arch === "x86_64" ? x86 : arm;
  await assert.rejects(
    resolveDenort(host, env({ [host.denortVariable]: Deno.execPath() })),
    /is the full deno CLI, not denort/,
  );
});

Deno.test("the denort explanation names the variable, the version and the portable way out", () => {
  const message = denortMissingMessage(
    LAYER_TARGETS.arm64,
    "2.9.6",
    "dns error",
  );
  assert.match(message, /DENORT_BIN_AARCH64=\/path\/to\/denort/);
  assert.match(message, /Deno 2\.9\.6/);
  assert.match(message, /denort-aarch64-unknown-linux-gnu\.zip/);
  assert.match(message, /npx -y deno@2 task build --portable/);
  assert.match(message, /No layer was written/);
  assert.match(message, /dns error/);
});

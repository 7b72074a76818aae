/**
 * The portable layer for the bench: built with `scripts/build.ts --portable`
 * for this machine's architecture and unpacked like Lambda unpacks a layer
 * into /opt, so its `extensions/kinesis-telemetry` launcher can be started.
 *
 * @module
 */
import { LAYER_EXTENSION_PATH } from "../lib/launcher.ts";
import { readZip } from "../lib/zip.ts";
import { REPO_ROOT } from "./run_helpers.ts";

/** The unpacked layer's launcher, or why there is none. */
export type LayerLauncher =
  | { ok: true; launcher: string }
  | { ok: false; reason: string };

/** Builds and unpacks the x86_64 portable layer under `outDir`. */
export async function preparePortableLayer(
  outDir: string,
): Promise<LayerLauncher> {
  if (Deno.build.arch !== "x86_64") {
    return {
      ok: false,
      reason: `bench builds x86_64 layers only, not ${Deno.build.arch}`,
    };
  }
  const build = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${REPO_ROOT}scripts/build.ts`,
      "--portable",
      "--arch",
      "x86_64",
      "--out",
      outDir,
    ],
    cwd: REPO_ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!build.success) {
    const text = new TextDecoder().decode(build.stderr).trim().split("\n")
      .slice(-3).join(" | ");
    return { ok: false, reason: `portable build failed: ${text}` };
  }
  const optDir = `${outDir}/opt`;
  await Deno.remove(optDir, { recursive: true }).catch(() => {});
  const archive = await Deno.readFile(
    `${outDir}/kinesis-telemetry-x86_64.zip`,
  );
  for (const file of readZip(archive)) {
    const path = `${optDir}/${file.path}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(path, file.data, { mode: file.mode });
    await Deno.chmod(path, file.mode);
  }
  return { ok: true, launcher: `${optDir}/${LAYER_EXTENSION_PATH}` };
}

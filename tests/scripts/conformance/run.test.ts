/**
 * The files a conformance run lays out: the source launcher reports how the
 * extension exited (run for real with stand-in executables), the function's
 * bootstrap, and where Deno's cache is.
 */
import assert from "node:assert/strict";
import {
  denoDir,
  EXIT_LINE_PREFIX,
  functionBootstrap,
  sourceLauncher,
} from "../../../scripts/conformance/run.ts";
import { runCommand, toolPaths } from "../../../scripts/conformance/tools.ts";

async function runScript(text: string, name: string) {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/${name}`;
    await Deno.writeTextFile(path, text, { mode: 0o755 });
    await Deno.chmod(path, 0o755);
    return await runCommand(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("conformance run: the source launcher passes its name and reports the exit code", async () => {
  // `echo` stands in for deno: it prints the arguments and exits 0.
  const ok = await runScript(sourceLauncher("/bin/echo", "/"), "my-ext");
  assert.equal(ok.code, 0);
  assert.match(ok.stdout, /^run .*extension\/main\.ts --extension-name=my-ext/);
  assert.match(ok.stdout, /--allow-net/);
  assert.equal(ok.stderr.trim(), `${EXIT_LINE_PREFIX}0`);
  const failed = await runScript(sourceLauncher("/bin/false", "/"), "x");
  assert.equal(failed.code, 1);
  assert.equal(failed.stderr.trim(), `${EXIT_LINE_PREFIX}1`);
});

Deno.test("conformance run: the function bootstrap runs awslambdaric on the handler", async () => {
  const result = await runScript(functionBootstrap("/bin/echo"), "bootstrap");
  assert.equal(result.stdout.trim(), "-m awslambdaric handler.handler");
});

Deno.test("conformance run: Deno's cache folder and the tool paths", () => {
  const env = (values: Record<string, string>) => (name: string) =>
    values[name];
  assert.equal(denoDir(env({ DENO_DIR: "/d" })), "/d");
  assert.equal(denoDir(env({ XDG_CACHE_HOME: "/c" })), "/c/deno");
  assert.equal(denoDir(env({ HOME: "/h" })), "/h/.cache/deno");
  assert.deepEqual(toolPaths("/p"), {
    rie: "/p/.tools/go/bin/aws-lambda-rie",
    awslambdaric: "/p/.tools/awslambdaric",
  });
});

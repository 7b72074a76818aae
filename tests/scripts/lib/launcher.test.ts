import assert from "node:assert/strict";
import { join } from "node:path";
import { v8FlagsFor } from "../../../extension/memory_budget.ts";
import { EXTENSION_DENO_FLAGS } from "../../../scripts/lib/extension_flags.ts";
import {
  LAYER_EXTENSION_PATH,
  PORTABLE_BUNDLE_PATH,
  PORTABLE_DENO_DIR,
  PORTABLE_DENO_PATH,
  PORTABLE_PAYLOAD_DIR,
  renderLauncher,
  shellQuote,
} from "../../../scripts/lib/launcher.ts";

/**
 * A stand-in for the Deno binary: records its arguments (one per line) and
 * the variables the launcher sets, so the test sees exactly what a real
 * `deno` would be given.
 */
const RECORDING_DENO = `#!/bin/sh
out="\${0%/*}/invocation.txt"
: > "$out"
for arg in "$@"; do printf 'ARG %s\\n' "$arg" >> "$out"; done
printf 'DENO_DIR %s\\n' "$DENO_DIR" >> "$out"
printf 'DENO_NO_UPDATE_CHECK %s\\n' "$DENO_NO_UPDATE_CHECK" >> "$out"
printf 'PID %s\\n' "$$" >> "$out"
`;

async function makeLayer(root: string): Promise<void> {
  for (
    const [path, text] of [[LAYER_EXTENSION_PATH, renderLauncher()], [
      PORTABLE_DENO_PATH,
      RECORDING_DENO,
    ]]
  ) {
    await Deno.mkdir(join(root, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(root, path), text, { mode: 0o755 });
    await Deno.chmod(join(root, path), 0o755);
  }
  await Deno.writeTextFile(join(root, PORTABLE_BUNDLE_PATH), "// bundle\n");
}

async function runLauncher(
  command: string,
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<void> {
  const result = await new Deno.Command(command, {
    args,
    cwd,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(result.success, new TextDecoder().decode(result.stderr));
}

async function readInvocation(
  root: string,
): Promise<{ args: string[]; vars: Record<string, string> }> {
  const lines =
    (await Deno.readTextFile(join(root, "kinesis-telemetry", "invocation.txt")))
      .trimEnd().split("\n");
  const args: string[] = [];
  const vars: Record<string, string> = {};
  for (const line of lines) {
    const [key, ...rest] = line.split(" ");
    if (key === "ARG") args.push(rest.join(" "));
    else vars[key] = rest.join(" ");
  }
  return { args, vars };
}

function shells(): string[] {
  // Debian's /bin/sh is dash; Amazon Linux's is bash: the launcher must suit both.
  return ["sh", "dash", "bash"].filter((shell) => {
    try {
      return new Deno.Command(shell, { args: ["-c", "exit 0"] }).outputSync()
        .success;
    } catch {
      return false;
    }
  });
}

Deno.test("shellQuote survives single quotes and globs", async () => {
  const word = `it's AWS_* "x" $HOME`;
  const result = await new Deno.Command("sh", {
    args: ["-c", `printf %s ${shellQuote(word)}`],
    stdout: "piped",
  }).output();
  assert.equal(new TextDecoder().decode(result.stdout), word);
});

Deno.test("the launcher execs the layer's deno on the bundle with the extension's flags, from any folder", async () => {
  const base = await Deno.makeTempDir({ prefix: "launcher test " });
  try {
    const root = join(base, "unpacked layer");
    await makeLayer(root);
    const elsewhere = join(base, "elsewhere");
    await Deno.mkdir(elsewhere);
    const expectedRoot = await Deno.realPath(root);
    for (const shell of shells()) {
      for (
        const [how, path, cwd] of [
          ["absolute path", join(root, LAYER_EXTENSION_PATH), elsewhere],
          [
            "relative path",
            `../unpacked layer/${LAYER_EXTENSION_PATH}`,
            elsewhere,
          ],
          [
            "from its own folder",
            "kinesis-telemetry",
            join(root, "extensions"),
          ],
        ]
      ) {
        await runLauncher(shell, [path], cwd);
        const { args, vars } = await readInvocation(root);
        const label = `${shell}, ${how}`;
        assert.deepEqual(
          args,
          [
            "run",
            "--no-config",
            "--no-lock",
            "--no-remote",
            "--no-npm",
            "--node-modules-dir=none",
            "--no-code-cache",
            ...EXTENSION_DENO_FLAGS,
            // The bundle's chunks load outside the start-up graph.
            `--allow-read=${join(expectedRoot, PORTABLE_PAYLOAD_DIR)}`,
            join(expectedRoot, PORTABLE_BUNDLE_PATH),
            "--extension-name=kinesis-telemetry",
          ],
          label,
        );
        assert.equal(vars.DENO_DIR, PORTABLE_DENO_DIR, label);
        // Never created: Deno keeps its caches in memory, writes nothing.
        assert.ok(vars.DENO_DIR.startsWith("/dev/null/"), label);
        assert.equal(vars.DENO_NO_UPDATE_CHECK, "1", label);
      }
    }
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("the launcher derives the V8 heap limits from AWS_LAMBDA_FUNCTION_MEMORY_SIZE as memory_budget.ts does", async () => {
  const root = await Deno.makeTempDir({ prefix: "launcher-heap-" });
  try {
    await makeLayer(root);
    const cases: [string | undefined, number][] = [
      ["128", 128],
      ["512", 512],
      ["1024", 1024],
      ["1769", 1769],
      ["10240", 10240],
      // Not what Lambda sets: the smallest size's limits.
      [undefined, 128],
      ["", 128],
      ["64", 128],
      ["20480", 128],
      ["0256", 128],
      ["12a", 128],
      ["99999999999999999999", 128],
    ];
    for (const shell of shells()) {
      for (const [value, expected] of cases) {
        const env: Record<string, string> = value === undefined
          ? {}
          : { AWS_LAMBDA_FUNCTION_MEMORY_SIZE: value };
        if (value === undefined) {
          // Deno.Command inherits the test's environment unless cleared.
          await runLauncherWithout(shell, join(root, LAYER_EXTENSION_PATH));
        } else {
          await runLauncher(
            shell,
            [join(root, LAYER_EXTENSION_PATH)],
            root,
            env,
          );
        }
        const { args } = await readInvocation(root);
        assert.equal(
          args.find((arg) => arg.startsWith("--v8-flags=")),
          `--v8-flags=${v8FlagsFor(expected)}`,
          `${shell}, AWS_LAMBDA_FUNCTION_MEMORY_SIZE=${value}`,
        );
      }
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

async function runLauncherWithout(shell: string, path: string): Promise<void> {
  const result = await new Deno.Command(shell, {
    args: [path],
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(result.success, new TextDecoder().decode(result.stderr));
}

Deno.test("the launcher replaces itself (exec), so signals reach deno", async () => {
  const root = await Deno.makeTempDir({ prefix: "launcher-exec-" });
  try {
    await makeLayer(root);
    const child = new Deno.Command(join(root, LAYER_EXTENSION_PATH), {
      stdout: "null",
      stderr: "null",
    }).spawn();
    const pid = child.pid;
    assert.ok((await child.status).success);
    const { vars } = await readInvocation(root);
    assert.equal(Number(vars.PID), pid);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the launcher registers under its own file name when renamed", async () => {
  const root = await Deno.makeTempDir({ prefix: "launcher-name-" });
  try {
    await makeLayer(root);
    await Deno.rename(
      join(root, LAYER_EXTENSION_PATH),
      join(root, "extensions", "telemetry-2"),
    );
    await runLauncher(join(root, "extensions", "telemetry-2"), [], root);
    const { args } = await readInvocation(root);
    assert.equal(args.at(-1), "--extension-name=telemetry-2");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the launcher uses only shell built-ins", () => {
  const text = renderLauncher();
  assert.ok(text.startsWith("#!/bin/sh\n"));
  for (
    const external of ["dirname", "readlink", "realpath", "basename", "env "]
  ) {
    assert.ok(!text.includes(external), `launcher calls ${external}`);
  }
});

/**
 * The mount namespace of the conformance run: the script it runs (pure), and
 * the real thing under `unshare` (root): folders appear at fixed paths
 * inside, a missing mount point is made in an overlay, a private folder is
 * opened up for the unprivileged user, `/tmp` is fresh, and nothing changes
 * outside.
 */
import assert from "node:assert/strict";
import {
  exposuresFor,
  namespaceArgv,
  namespaceScript,
  parentOf,
  privateAncestor,
  tmpKeeps,
} from "../../../scripts/conformance/namespace.ts";
import { runCommand } from "../../../scripts/conformance/tools.ts";

Deno.test("namespace: tmpKeeps keeps outer folders under /tmp only", () => {
  assert.deepEqual(tmpKeeps(["/tmp/a/", "/tmp/a/b", "/usr/x", "/tmp/c"]), [
    "/tmp/a",
    "/tmp/c",
  ]);
});

Deno.test("namespace: parentOf", () => {
  assert.equal(parentOf("/opt"), "/");
  assert.equal(parentOf("/var/task"), "/var");
  assert.equal(parentOf("/a/b/c/"), "/a/b");
});

Deno.test("namespace: privateAncestor finds the first folder others cannot pass", () => {
  const modes: Record<string, number> = {
    "/root": 0o40700,
    "/root/.pyenv": 0o40755,
    "/usr": 0o40755,
  };
  assert.equal(
    privateAncestor("/root/.pyenv/versions/3.11", (f) => modes[f]),
    "/root",
  );
  assert.equal(privateAncestor("/usr/bin", (f) => modes[f]), undefined);
  assert.deepEqual(
    exposuresFor(
      ["/root/.pyenv/v", "/root/.npm/deno", "/usr/bin", "/root/.npm/deno"],
      (f) => modes[f],
    ),
    [{ hidden: "/root", keep: ["/root/.pyenv/v", "/root/.npm/deno"] }],
  );
});

Deno.test("namespace: the script refuses odd targets and never overlays /", () => {
  assert.throws(() =>
    namespaceScript({
      binds: [{ source: "/tmp/x", target: "/var/../etc" }],
      scratchDir: "/tmp/s",
      cwd: "/",
      command: ["true"],
    })
  );
  const script = namespaceScript({
    binds: [{ source: "/tmp/o", target: "/opt" }],
    scratchDir: "/tmp/s",
    cwd: "/",
    command: ["true"],
  });
  assert.match(script, /does not exist; the namespace will not overlay \//);
  assert.doesNotMatch(script, /lowerdir=\/,/);
  const argv = namespaceArgv({
    binds: [],
    scratchDir: "/tmp/s",
    cwd: "/",
    command: ["echo", "a b"],
  });
  assert.deepEqual(argv.slice(0, 4), [
    "unshare",
    "--mount",
    "--propagation",
    "private",
  ]);
  assert.deepEqual(argv.slice(-2), ["echo", "a b"]);
  assert.throws(
    () =>
      namespaceScript({
        exposures: [{ hidden: "/tmp/w", keep: ["/tmp/w/tool"] }],
        binds: [],
        scratchDir: "/tmp/w/scratch",
        cwd: "/",
        command: ["true"],
      }),
    /covers/,
  );
});

function run(argv: string[]) {
  return runCommand(argv[0], argv.slice(1));
}

Deno.test("namespace: under unshare the folders appear inside and nothing changes outside", async () => {
  const work = await Deno.makeTempDir({ prefix: "kt-ns-test-" });
  await Deno.chmod(work, 0o755);
  try {
    await Deno.mkdir(`${work}/src`);
    await Deno.mkdir(`${work}/scratch`);
    await Deno.writeTextFile(`${work}/src/marker`, "inside");
    // A private folder with an open subfolder, as /root holds Deno.
    await Deno.mkdir(`${work}/private/open`, { recursive: true });
    await Deno.chmod(`${work}/private`, 0o700);
    await Deno.writeTextFile(`${work}/private/open/tool`, "tool");
    // A mount point that does not exist on the host: made in an overlay.
    const missing = `/var/kt-ns-test-${crypto.randomUUID().slice(0, 8)}`;
    await Deno.writeTextFile(`${work}/outside-tmp`, "old tmp");
    const result = await run(namespaceArgv({
      exposures: exposuresFor([`${work}/private/open`]),
      binds: [{ source: `${work}/src`, target: missing }],
      scratchDir: `${work}/scratch`,
      cwd: missing,
      command: [
        "sh",
        "-c",
        `cat marker; echo; stat -c %a ${work}/private; cat ${work}/private/open/tool`,
      ],
    }));
    assert.equal(result.code, 0, result.stderr);
    const [marker, mode, tool] = result.stdout.trim().split("\n");
    assert.equal(marker, "inside");
    assert.equal(mode, "755", "the private folder is a tmpfs inside");
    assert.equal(tool, "tool");
    // A fresh /tmp keeps only the folders it is told to (here the
    // source folder, as a project cloned under /tmp).
    const fresh = await run(namespaceArgv({
      binds: [],
      freshTmp: { keep: tmpKeeps([`${work}/src`, `${work}/src/inner`]) },
      scratchDir: `${work}/scratch`,
      cwd: "/",
      command: [
        "sh",
        "-c",
        `ls -A /tmp | wc -l; stat -c %a /tmp; cat ${work}/src/marker; echo; ls ${work} | wc -l`,
      ],
    }));
    assert.equal(fresh.code, 0, fresh.stderr);
    assert.deepEqual(fresh.stdout.trim().split("\n"), [
      "1",
      "1777",
      "inside",
      "1",
    ]);
    // Outside: the mount point was never made, the private folder is as it was.
    await assert.rejects(() => Deno.stat(missing));
    assert.equal((await Deno.stat(`${work}/private`)).mode! & 0o777, 0o700);
    assert.equal(await Deno.readTextFile(`${work}/outside-tmp`), "old tmp");
  } finally {
    await Deno.chmod(`${work}/private`, 0o755).catch(() => {});
    await Deno.remove(work, { recursive: true });
  }
});

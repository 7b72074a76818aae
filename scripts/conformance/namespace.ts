/**
 * A private mount namespace for AWS's emulator, which reads the fixed paths
 * `/opt/extensions` and `/var/task`: temporary folders are bind-mounted
 * there inside `unshare --mount --propagation private`, so the host's
 * folders are neither read nor changed and every mount ends with the
 * namespace's last process.
 *
 * A mount point that does not exist is not created on the host: its parent
 * gets an overlay (upper and work folders in the scratch folder) inside the
 * namespace, and the mount point is made in that overlay. The root itself is
 * never overlaid: a missing top-level folder (`/opt` on a machine without
 * one) fails with a message that says what to create.
 *
 * In LMI mode the emulator runs the function and the extensions as an
 * unprivileged user (uid 993, as Lambda does), who cannot pass through a
 * private folder such as `/root` where Deno or Python may be installed. Such
 * a folder is covered by a tmpfs inside the namespace and only the folders
 * the run needs are bound back into it, at their own paths. Last, `/tmp`
 * gets a fresh tmpfs, like an execution environment's own `/tmp`, with the
 * folders the run needs from the old one bound back.
 *
 * @module
 */
import { shellQuote } from "../lib/launcher.ts";

/** One folder to show at a fixed path inside the namespace. */
export interface BindMount {
  /** Host folder (a temporary one). */
  source: string;
  /** Absolute path it appears at inside the namespace. */
  target: string;
}

/** A private folder covered by a tmpfs, with some of its subfolders bound back. */
export interface Exposure {
  /** The folder others cannot pass through (e.g. `/root`). */
  hidden: string;
  /** Folders under it that must be reachable, at the same paths. */
  keep: readonly string[];
}

/** What runs in the namespace. */
export interface NamespaceCommand {
  /** Private folders to open up, before anything else. */
  exposures?: readonly Exposure[];
  /** Folders to bind-mount, in order. */
  binds: readonly BindMount[];
  /**
   * Mounts a fresh tmpfs on `/tmp` after the binds (their sources may be in
   * the old one); the folders listed here (under `/tmp`: the project of a
   * clone made there, say) are bound back from the old one.
   */
  freshTmp?: { keep: readonly string[] };
  /** Folder for overlay upper/work folders (on the same file system as a temporary folder). */
  scratchDir: string;
  /** Working directory of the command, inside the namespace. */
  cwd: string;
  /** Executable and arguments (exec'd, so it keeps the process id). */
  command: readonly string[];
}

/** The parent folder of an absolute path (`/` for a top-level one). */
export function parentOf(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  const cut = trimmed.lastIndexOf("/");
  return cut <= 0 ? "/" : trimmed.slice(0, cut);
}

/** Throws unless `path` is absolute, normalized and free of shell-hostile surprises. */
function checkTarget(path: string): void {
  if (!/^(\/[A-Za-z0-9._-]+)+$/.test(path) || /\/\.\.?(\/|$)/.test(path)) {
    throw new Error(`mount target must be a plain absolute path: ${path}`);
  }
}

/**
 * The `sh` script that makes the mounts and execs the command; run it as
 * `unshare --mount --propagation private sh -c <script>`.
 */
export function namespaceScript(spec: NamespaceCommand): string {
  const lines = ["set -eu"];
  (spec.exposures ?? []).forEach((exposure, index) => {
    checkTarget(exposure.hidden);
    if (`${spec.scratchDir}/`.startsWith(`${exposure.hidden}/`)) {
      throw new Error(
        `the scratch folder ${spec.scratchDir} lies in ${exposure.hidden}, which the namespace covers`,
      );
    }
    const view = `${spec.scratchDir}/hidden-${index}`;
    lines.push(
      `mkdir -p ${shellQuote(view)}`,
      `mount --bind ${shellQuote(exposure.hidden)} ${shellQuote(view)}`,
      `mount -t tmpfs -o mode=0755 tmpfs ${shellQuote(exposure.hidden)}`,
    );
    for (const keep of exposure.keep) {
      checkTarget(keep);
      if (!keep.startsWith(`${exposure.hidden}/`)) {
        throw new Error(`${keep} is not under ${exposure.hidden}`);
      }
      const inside = keep.slice(exposure.hidden.length);
      lines.push(
        `mkdir -p ${shellQuote(keep)}`,
        `mount --bind ${shellQuote(view + inside)} ${shellQuote(keep)}`,
      );
    }
  });
  spec.binds.forEach((bind, index) => {
    checkTarget(bind.target);
    const target = shellQuote(bind.target);
    const parent = parentOf(bind.target);
    const upper = shellQuote(`${spec.scratchDir}/overlay-${index}/upper`);
    const work = shellQuote(`${spec.scratchDir}/overlay-${index}/work`);
    const missing = parent === "/"
      ? `echo ${
        shellQuote(
          `conformance: ${bind.target} does not exist; the namespace will not overlay /: create it once (mkdir ${bind.target})`,
        )
      } >&2; exit 1`
      : [
        `[ -d ${shellQuote(parent)} ] || { echo ${
          shellQuote(`conformance: ${parent} does not exist`)
        } >&2; exit 1; }`,
        `mkdir -p ${upper} ${work}`,
        `mount -t overlay overlay -o ${
          shellQuote(
            `lowerdir=${parent},upperdir=${spec.scratchDir}/overlay-${index}/upper,workdir=${spec.scratchDir}/overlay-${index}/work`,
          )
        } ${shellQuote(parent)}`,
        `mkdir ${target}`,
      ].join("; ");
    lines.push(
      `if [ -d ${target} ]; then :; elif [ -e ${target} ]; then echo ${
        shellQuote(`conformance: ${bind.target} is not a folder`)
      } >&2; exit 1; else ${missing}; fi`,
      `mount --bind ${shellQuote(bind.source)} ${target}`,
    );
  });
  if (spec.freshTmp) {
    // The shell's working folder keeps the old /tmp reachable by relative
    // paths once the new one covers it.
    lines.push("cd /tmp", "mount -t tmpfs -o mode=1777 tmpfs /tmp");
    for (const keep of spec.freshTmp.keep) {
      checkTarget(keep);
      if (!keep.startsWith("/tmp/")) {
        throw new Error(`${keep} is not under /tmp`);
      }
      lines.push(
        `mkdir -p ${shellQuote(keep)}`,
        `mount --no-canonicalize --bind ${
          shellQuote(`./${keep.slice("/tmp/".length)}`)
        } ${shellQuote(keep)}`,
      );
    }
  }
  lines.push(`cd ${shellQuote(spec.cwd)}`, `exec "$@"`);
  return lines.join("\n");
}

/** The full command line: `unshare` with the script and the command as its arguments. */
export function namespaceArgv(spec: NamespaceCommand): string[] {
  return [
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    namespaceScript(spec),
    "conformance-namespace",
    ...spec.command,
  ];
}

/**
 * The folder nearest the root on the way to `path` that others cannot pass
 * through (no `o+x`), given each folder's mode; undefined when the way is open.
 */
export function privateAncestor(
  path: string,
  modeOf: (folder: string) => number | undefined,
): string | undefined {
  const parts = path.split("/").filter((part) => part !== "");
  let folder = "";
  for (const part of parts.slice(0, -1)) {
    folder += `/${part}`;
    const mode = modeOf(folder);
    if (mode !== undefined && (mode & 0o001) === 0) return folder;
  }
  return undefined;
}

/** The paths under `/tmp`, which a fresh `/tmp` must keep (nested ones left to their parent). */
export function tmpKeeps(paths: readonly string[]): string[] {
  const under = [...new Set(paths.map((p) => p.replace(/\/+$/, "")))]
    .filter((p) => p.startsWith("/tmp/"));
  return under.filter((p) =>
    !under.some((other) => other !== p && p.startsWith(`${other}/`))
  );
}

/** Groups the paths that sit under private folders into exposures (reads folder modes with `Deno.statSync`). */
export function exposuresFor(
  paths: readonly string[],
  modeOf: (folder: string) => number | undefined = (folder) => {
    try {
      return Deno.statSync(folder).mode ?? undefined;
    } catch {
      return undefined;
    }
  },
): Exposure[] {
  const byHidden = new Map<string, string[]>();
  for (const path of paths) {
    const hidden = privateAncestor(path, modeOf);
    if (hidden === undefined) continue;
    const keep = byHidden.get(hidden) ?? [];
    if (!keep.includes(path)) keep.push(path);
    byHidden.set(hidden, keep);
  }
  return [...byHidden].map(([hidden, keep]) => ({ hidden, keep }));
}

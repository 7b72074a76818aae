/**
 * Which Lambda runtimes and architectures the extension's layers work with.
 *
 * The layer carries a Deno binary that needs glibc 2.27. Amazon Linux 2 has
 * glibc 2.26 and Amazon Linux 1 older still, so only Amazon Linux 2023 based
 * runtimes can run it: on the others the extension crashes at init
 * (`Extension.Crash`) and takes the function down with it.
 *
 * @module
 */

/** CPU architectures Lambda offers, spelled as Lambda spells them. */
export type Architecture = "x86_64" | "arm64";

/** Both architectures, in the order layers are published. */
export const ARCHITECTURES: readonly Architecture[] = ["x86_64", "arm64"];

/**
 * Runtimes declared on each layer version (`compatibleRuntimes`): the Amazon
 * Linux 2023 runtimes that @pulumi/aws's `lambda.Runtime` enum knows, less
 * those past Lambda's deprecation date on {@linkcode RUNTIMES_REVIEWED_ON}
 * (`nodejs20.x`, `dotnet8`): the console should not offer the layer for new
 * functions on them. Lambda accepts at most 15 per layer version. The list
 * only steers the console's layer picker; {@linkcode checkRuntime} decides
 * what may actually attach, and still accepts the deprecated ones, whose
 * functions keep running on Amazon Linux 2023.
 */
export const LAYER_COMPATIBLE_RUNTIMES: readonly string[] = [
  "nodejs22.x",
  "nodejs24.x",
  "python3.12",
  "python3.13",
  "python3.14",
  "java21",
  "java25",
  "dotnet10",
  "ruby3.3",
  "ruby3.4",
  "provided.al2023",
];

/**
 * Lambda's deprecation dates (ISO dates) of the Amazon Linux 2023 runtimes
 * whose date has passed or is near. After it a runtime gets no more
 * security patches; Lambda blocks creating, then updating, functions on it
 * months later.
 */
export const RUNTIME_DEPRECATIONS: Readonly<Record<string, string>> = {
  "nodejs20.x": "2026-04-30",
  "dotnet8": "2026-11-10",
  "ruby3.3": "2027-03-31",
  "nodejs22.x": "2027-04-30",
};

/**
 * The day {@linkcode LAYER_COMPATIBLE_RUNTIMES} was last checked against
 * {@linkcode RUNTIME_DEPRECATIONS}. A fixed date rather than today's, so the
 * published list (and every test) only changes with a reviewed commit.
 */
export const RUNTIMES_REVIEWED_ON = "2026-12-02";

/** Whether `runtime`'s deprecation date is on or before `date` (`YYYY-MM-DD`). */
export function deprecatedBy(runtime: string, date: string): boolean {
  const deprecation = RUNTIME_DEPRECATIONS[runtime];
  return deprecation !== undefined && deprecation <= date;
}

/** Most runtimes Lambda accepts on one layer version. */
export const MAX_LAYER_RUNTIMES = 15;

/** The operating system a runtime identifier runs on. */
export type RuntimeOs = "al2023" | "al2" | "al1";

/** What is known about one runtime identifier. */
export interface RuntimeVerdict {
  /** The identifier as given. */
  runtime: string;
  /** Its operating system; undefined when the identifier is not recognised. */
  os: RuntimeOs | undefined;
}

// One rule per runtime family: the first version on Amazon Linux 2023 and
// the first on Amazon Linux 2. Rules rather than a list, so a runtime Lambda
// adds later (nodejs26.x, python3.15, ...) is accepted without a code change.
interface FamilyRule {
  pattern: RegExp;
  version(match: RegExpExecArray): number;
  al2023From: number;
  al2From: number;
}

const FAMILY_RULES: readonly FamilyRule[] = [
  {
    pattern: /^nodejs(\d+)\.x$/,
    version: (m) => Number(m[1]),
    al2023From: 20,
    al2From: 10,
  },
  {
    pattern: /^python3\.(\d+)$/,
    version: (m) => Number(m[1]),
    al2023From: 12,
    al2From: 8,
  },
  {
    pattern: /^java(\d+)$/,
    version: (m) => Number(m[1]),
    al2023From: 21,
    al2From: 11,
  },
  {
    pattern: /^dotnet(\d+)$/,
    version: (m) => Number(m[1]),
    al2023From: 8,
    al2From: 6,
  },
  {
    pattern: /^ruby(\d+)\.(\d+)$/,
    version: (m) => Number(m[1]) * 100 + Number(m[2]),
    al2023From: 303,
    al2From: 207,
  },
];

// Identifiers no family rule covers. The `.al2023` Java runtimes exist
// since July 2026 and are not in @pulumi/aws 7.48's enum yet.
const NAMED_RUNTIMES: Readonly<Record<string, RuntimeOs>> = {
  "provided.al2023": "al2023",
  "java8.al2023": "al2023",
  "java11.al2023": "al2023",
  "java17.al2023": "al2023",
  "provided.al2": "al2",
  "dotnet5.0": "al2",
  "dotnetcore3.1": "al2",
  "java8.al2": "al2",
  "provided": "al1",
  "java8": "al1",
  "go1.x": "al1",
  "python2.7": "al1",
  "nodejs8.10": "al1",
};

/** Tells which operating system a Lambda runtime identifier runs on. */
export function classifyRuntime(runtime: string): RuntimeVerdict {
  const named = NAMED_RUNTIMES[runtime];
  if (named) return { runtime, os: named };
  // dotnetcore3.1 (Amazon Linux 2) is named above; 1.0 to 2.1 ran on 1.
  if (runtime.startsWith("dotnetcore")) return { runtime, os: "al1" };
  for (const rule of FAMILY_RULES) {
    const match = rule.pattern.exec(runtime);
    if (!match) continue;
    const version = rule.version(match);
    const os: RuntimeOs = version >= rule.al2023From
      ? "al2023"
      : version >= rule.al2From
      ? "al2"
      : "al1";
    return { runtime, os };
  }
  return { runtime, os: undefined };
}

/** A runtime or architecture that the extension's layer cannot serve. */
export class IncompatibleTargetError extends Error {
  /** Creates the error with a message that says what to change. */
  constructor(message: string) {
    super(message);
    this.name = "IncompatibleTargetError";
  }
}

const OS_NAMES: Readonly<Record<RuntimeOs, string>> = {
  al2023: "Amazon Linux 2023",
  al2: "Amazon Linux 2 (glibc 2.26)",
  al1: "Amazon Linux 1 (glibc 2.17)",
};

/**
 * Accepts an Amazon Linux 2023 runtime and throws
 * {@linkcode IncompatibleTargetError} for any other, naming the runtimes to
 * move to.
 */
export function checkRuntime(runtime: string): void {
  const { os } = classifyRuntime(runtime);
  if (os === "al2023") return;
  const choices = LAYER_COMPATIBLE_RUNTIMES.join(", ");
  if (os === undefined) {
    throw new IncompatibleTargetError(
      `Unknown Lambda runtime "${runtime}". The kinesis-telemetry layer runs on ` +
        `Amazon Linux 2023 runtimes only: ${choices} (container image functions cannot use layers).`,
    );
  }
  throw new IncompatibleTargetError(
    `Runtime "${runtime}" runs on ${
      OS_NAMES[os]
    }; the kinesis-telemetry layer's Deno binary ` +
      `needs glibc 2.27 and would crash at init (Extension.Crash). ` +
      `Move the function to an Amazon Linux 2023 runtime: ${choices}.`,
  );
}

const ARCHITECTURE_ALIASES: Readonly<Record<string, Architecture>> = {
  amd64: "x86_64",
  x64: "x86_64",
  "x86-64": "x86_64",
  aarch64: "arm64",
  arm: "arm64",
};

/**
 * Returns `value` as an {@linkcode Architecture}; throws
 * {@linkcode IncompatibleTargetError} otherwise, suggesting Lambda's
 * spelling for common aliases (amd64, aarch64, ...).
 */
export function parseArchitecture(value: string): Architecture {
  if (value === "x86_64" || value === "arm64") return value;
  const alias = ARCHITECTURE_ALIASES[value.toLowerCase()];
  const hint = alias ? ` Lambda calls it "${alias}".` : "";
  throw new IncompatibleTargetError(
    `Unknown architecture "${value}": use "x86_64" or "arm64".${hint}`,
  );
}

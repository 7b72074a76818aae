/**
 * `deno task test`: every check and every test, as CI runs them.
 * Formatting, lint and type checks first (fast failures), then the whole
 * suite with coverage, then the line coverage of `extension/` against its
 * floor. Ends with one `N passed, N failed` line.
 *
 * @module
 */

/** Lowest accepted line coverage of extension/, in percent. */
export const COVERAGE_FLOOR = 90;

/** Removes terminal colour codes. */
export function stripAnsi(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, "");
}

/** Parses Deno's closing test line (`ok | 12 passed (3 steps) | 0 failed (4s)`). */
export function parseDenoSummary(
  output: string,
): { passed: number; failed: number } | undefined {
  const matches = [
    ...stripAnsi(output).matchAll(
      /^(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/gm,
    ),
  ];
  const last = matches.at(-1);
  return last
    ? { passed: Number(last[1]), failed: Number(last[2]) }
    : undefined;
}

/**
 * Parses the line coverage of the `All files` row of `deno coverage`
 * (columns: Branch %, Function %, Line %).
 */
export function parseLineCoverage(output: string): number | undefined {
  const match = /All files\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|/
    .exec(stripAnsi(output));
  return match ? Number(match[3]) : undefined;
}

async function run(
  args: string[],
  capture = false,
): Promise<{ code: number; output: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdout: capture ? "piped" : "inherit",
    stderr: "inherit",
  }).spawn();
  let output = "";
  if (capture && child.stdout) {
    const decoder = new TextDecoder();
    for await (const chunk of child.stdout) {
      await Deno.stdout.write(chunk);
      output += decoder.decode(chunk, { stream: true });
    }
  }
  const status = await child.status;
  return { code: status.code, output };
}

if (import.meta.main) {
  let passed = 0;
  let failed = 0;
  const gate = async (name: string, args: string[]) => {
    console.log(`\n== ${name}`);
    const { code } = await run(args);
    if (code === 0) passed++;
    else {
      failed++;
      console.log(`${name}: FAILED`);
    }
  };
  await gate("deno fmt --check", ["fmt", "--check"]);
  await gate("deno lint", ["lint"]);
  await gate("deno check", [
    "check",
    "extension/",
    "scripts/",
    "tests/",
    "infra/",
  ]);
  await gate("deno task consumers", ["run", "-A", "scripts/consumers.ts"]);

  await gate("deno task conformance (AWS's emulator)", [
    "run",
    "-A",
    "scripts/conformance.ts",
  ]);

  console.log("\n== deno test");
  await Deno.remove("coverage", { recursive: true }).catch(() => {});
  const tests = await run(
    ["test", "-A", "--coverage=coverage/raw", ...Deno.args],
    true,
  );
  const summary = parseDenoSummary(tests.output);
  if (summary) {
    passed += summary.passed;
    failed += summary.failed;
  }
  if (!summary || tests.code !== 0 && summary.failed === 0) {
    failed++;
    console.log("deno test: did not finish cleanly");
  }

  console.log("\n== line coverage of extension/");
  const coverage = await run(
    ["coverage", "coverage/raw", "--include=/extension/", "--exclude=/tests/"],
    true,
  );
  const lines = parseLineCoverage(coverage.output);
  if (lines === undefined || lines < COVERAGE_FLOOR) {
    failed++;
    console.log(
      `coverage: ${
        lines ?? "unknown"
      }% of lines, floor ${COVERAGE_FLOOR}%: FAILED`,
    );
  } else {
    passed++;
    console.log(`coverage: ${lines}% of lines (floor ${COVERAGE_FLOOR}%)`);
  }

  console.log(`\n${passed} passed, ${failed} failed`);
  Deno.exit(failed === 0 ? 0 : 1);
}

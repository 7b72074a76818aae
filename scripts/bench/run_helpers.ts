/**
 * Small helpers the bench's scenarios share: bounded waits and the command
 * lines of the extension variants.
 *
 * @module
 */
import { SMALLEST_FUNCTION_MEMORY_MB } from "../../extension/memory_budget.ts";
import { extensionDenoFlags } from "../lib/extension_flags.ts";

/** Repository root (two folders up from this file). */
export const REPO_ROOT = new URL("../../", import.meta.url).pathname;

/**
 * Command line of the extension run from source, as the sandbox and tests
 * run it, with the V8 heap limits of a function of `memoryMB` (as the
 * portable layer's launcher derives them).
 */
export function sourceExtensionArgv(
  memoryMB: number = SMALLEST_FUNCTION_MEMORY_MB,
): string[] {
  return [
    Deno.execPath(),
    "run",
    ...extensionDenoFlags(memoryMB),
    `${REPO_ROOT}extension/main.ts`,
  ];
}

/** Resolves with `promise`, or rejects with `message` after `ms`. */
export async function within<T>(
  promise: Promise<T>,
  ms: number,
  message: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A promise that rejects when the process ends (it must not, mid-scenario). */
export function failOnExit(
  exited: Promise<number>,
  what: string,
  lines: readonly string[],
): Promise<never> {
  return exited.then((code) => {
    throw new Error(
      `${what} exited early with code ${code}; last output:\n${
        lines.slice(-10).join("\n")
      }`,
    );
  });
}

/** Waits `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The extension's shutdown summary among its log lines, if it wrote one. */
export function summaryOf(
  lines: readonly { line: string }[],
): Record<string, unknown> | undefined {
  let summary: Record<string, unknown> | undefined;
  for (const { line } of lines) {
    if (line.includes('"msg":"summary"')) summary = JSON.parse(line);
  }
  return summary;
}

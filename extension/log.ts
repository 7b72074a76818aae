/**
 * The extension's own logs: one JSON line per message on stderr, filtered by
 * level. Every line starts with {@linkcode OWN_LOG_PREFIX} so the listener can
 * recognise its own lines when Lambda sends them back as `extension` events.
 *
 * @module
 */
import type { LogLevel } from "./config.ts";

/** The first characters of every line this logger writes. */
export const OWN_LOG_PREFIX = '{"ext":"kinesis-telemetry"';

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** Structured fields added to a log line. */
export type LogFields = Record<string, unknown>;

/** A leveled, structured logger. */
export interface Logger {
  /** Logs at error level. */
  error(msg: string, fields?: LogFields): void;
  /** Logs at warn level. */
  warn(msg: string, fields?: LogFields): void;
  /** Logs at info level. */
  info(msg: string, fields?: LogFields): void;
  /** Logs at debug level. */
  debug(msg: string, fields?: LogFields): void;
  /** Whether a level is written (to skip building costly fields). */
  enabled(level: LogLevel): boolean;
}

/** Where finished lines go; stderr by default. */
export type LineSink = (line: string) => void;

const encoder = new TextEncoder();

/** Writes a line to stderr synchronously, so nothing is lost at exit. */
export const stderrSink: LineSink = (line) => {
  try {
    Deno.stderr.writeSync(encoder.encode(line + "\n"));
  } catch {
    // A closed stderr must never take the extension down.
  }
};

/** Creates a logger writing at `level` and above to `sink`. */
export function createLogger(
  level: LogLevel,
  sink: LineSink = stderrSink,
  now: () => number = Date.now,
): Logger {
  const threshold = RANK[level];
  const write = (lineLevel: LogLevel, msg: string, fields?: LogFields) => {
    if (RANK[lineLevel] > threshold) return;
    let line = `${OWN_LOG_PREFIX},"level":"${lineLevel}","time":"${
      new Date(now()).toISOString()
    }","msg":${JSON.stringify(msg)}`;
    if (fields) {
      for (const [key, value] of Object.entries(fields)) {
        line += `,${JSON.stringify(key)}:${safeJson(value)}`;
      }
    }
    sink(line + "}");
  };
  return {
    error: (msg, fields) => write("error", msg, fields),
    warn: (msg, fields) => write("warn", msg, fields),
    info: (msg, fields) => write("info", msg, fields),
    debug: (msg, fields) => write("debug", msg, fields),
    enabled: (lineLevel) => RANK[lineLevel] <= threshold,
  };
}

function safeJson(value: unknown): string {
  if (value instanceof Error) {
    return JSON.stringify(`${value.name}: ${value.message}`);
  }
  try {
    return JSON.stringify(value) ?? "null";
  } catch {
    return JSON.stringify(String(value));
  }
}

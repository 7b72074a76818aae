/**
 * How Lambda turns a line the function wrote into the `record` of a
 * `function` telemetry event, per the function's log format.
 *
 * @module
 */

/** Lambda's log formats (`LoggingConfig.LogFormat`). */
export type LogFormat = "Text" | "JSON";

/**
 * The record for one output line. Text format: the line itself. JSON format:
 * a line that is a JSON object is passed as that object (the runtime already
 * formatted it); any other line is wrapped as Lambda wraps plain text.
 */
export function functionLogRecord(
  line: string,
  format: LogFormat,
  context: {
    time: Date;
    requestId: string | null;
    stream: "stdout" | "stderr";
  },
): unknown {
  if (format === "Text") return line;
  if (line.startsWith("{")) {
    try {
      const parsed = JSON.parse(line);
      if (
        typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
      ) {
        return parsed;
      }
    } catch {
      // Not JSON after all: wrapped below like any text line.
    }
  }
  return {
    timestamp: context.time.toISOString(),
    level: context.stream === "stderr" ? "ERROR" : "INFO",
    ...(context.requestId ? { requestId: context.requestId } : {}),
    message: line,
  };
}

/**
 * Bench function: logs `logLines` lines of `lineBytes` bytes spread evenly
 * over `durationMs` (in slices of 10 ms), then returns — a long invocation
 * that logs all the time, for the load bench.
 *
 * @module
 */

/** A line of exactly `bytes` ASCII bytes, labelled with its number. */
function line(index, bytes) {
  const label = `paced ${index} `;
  return label + "p".repeat(Math.max(0, bytes - label.length));
}

/** The Lambda handler. */
export async function handler(event) {
  const lines = Number(event.logLines) || 0;
  const bytes = Number(event.lineBytes) || 200;
  const durationMs = Number(event.durationMs) || 0;
  const slices = Math.max(1, Math.floor(durationMs / 10));
  const started = Date.now();
  let written = 0;
  for (let slice = 1; slice <= slices; slice++) {
    const due = Math.round((lines * slice) / slices);
    for (; written < due; written++) console.log(line(written, bytes));
    const wait = started + slice * 10 - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  return { written, ms: Date.now() - started };
}

/**
 * A function that holds `event.mib` MiB (touched, so resident) and answers:
 * more than the function's memory gets it OOM-killed.
 */
const held = [];

/** Lambda entry point. */
export function handler(event = {}) {
  for (let mib = 0; mib < Number(event.mib ?? 0); mib += 8) {
    held.push(Buffer.alloc(8 * 1024 * 1024, 1));
  }
  return { heldMiB: held.length * 8 };
}

/**
 * A function for the sandbox's own tests: holds `event.mib` MiB (touched, so
 * resident; more than the function's memory gets it OOM-killed), and with
 * `event.ignoreSigterm` keeps running after SIGTERM (the sandbox must kill
 * it after its 300 ms).
 */
const held = [];

/** Lambda entry point. */
export function handler(event = {}) {
  for (let mib = 0; mib < Number(event.mib ?? 0); mib += 8) {
    held.push(Buffer.alloc(8 * 1024 * 1024, 1));
  }
  if (event.ignoreSigterm) {
    process.on("SIGTERM", () => console.log("SIGTERM ignored"));
  }
  return { heldMiB: held.length * 8 };
}

/**
 * kinesalite in a process of its own, so its CPU time is apart from the
 * extension's and the bench driver's and can be read from /proc.
 *
 * Usage: `deno run -A scripts/bench/kinesis_server.ts STREAM...` creates
 * each stream (one shard), then prints one line `{"endpoint":"http://…"}`
 * and serves until killed.
 *
 * @module
 */
import { startLocalKinesis } from "../sandbox/kinesis_local.ts";

/** Starts a kinesalite child and waits for its endpoint line. */
export async function startKinesisServer(
  streams: readonly string[],
): Promise<KinesisServer> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, ...streams],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { done, value } = await reader.read();
    if (done) {
      throw new Error(`kinesalite child ended before it was ready: ${text}`);
    }
    text += value;
  }
  // Keep draining so the child never blocks on a full pipe.
  (async () => {
    while (!(await reader.read()).done) { /* discard */ }
  })().catch(() => {});
  const { endpoint } = JSON.parse(text.slice(0, text.indexOf("\n")));
  return {
    endpoint,
    pid: child.pid,
    async stop() {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await child.status;
    },
  };
}

/** A kinesalite child process. */
export interface KinesisServer {
  /** `http://127.0.0.1:<port>`. */
  endpoint: string;
  /** Its process id (for CPU time). */
  pid: number;
  /** Kills it. */
  stop(): Promise<void>;
}

if (import.meta.main) {
  // A client that gives up on a request (the extension abandons one at its
  // deadline) makes node's HTTP server raise "aborted" with no handler
  // inside kinesalite: that must not end the emulator.
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    console.error(`kinesalite child: ${event.message}`);
  });
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    console.error(`kinesalite child: ${event.reason}`);
  });
  const kinesis = await startLocalKinesis();
  for (const stream of Deno.args) await kinesis.createStream(stream, 1);
  console.log(JSON.stringify({ endpoint: kinesis.endpoint }));
}

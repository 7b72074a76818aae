import assert from "node:assert/strict";
import { TextLineStream } from "../../../scripts/bench/text_lines.ts";

async function lines(chunks: string[]): Promise<string[]> {
  const stream = ReadableStream.from(chunks).pipeThrough(new TextLineStream());
  return await Array.fromAsync(stream);
}

Deno.test("lines split across chunks are joined, CRLF is stripped", async () => {
  assert.deepEqual(await lines(["a\nb", "c\r\n", "d\n"]), ["a", "bc", "d"]);
});

Deno.test("a last line without newline is kept, empty lines too", async () => {
  assert.deepEqual(await lines(["x\n\ny"]), ["x", "", "y"]);
  assert.deepEqual(await lines([]), []);
});

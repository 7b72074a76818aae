import assert from "node:assert/strict";
import { forEachLine, utf8Boundary } from "../../../scripts/sandbox/lines.ts";

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
}

async function collect(chunks: Uint8Array[], max?: number): Promise<string[]> {
  const lines: string[] = [];
  await forEachLine(streamOf(chunks), (line) => lines.push(line), max);
  return lines;
}

Deno.test("lines split on newlines; CRLF and empty lines are handled like Lambda", async () => {
  const bytes = new TextEncoder().encode(
    "first\r\n\nsecond\nlast without newline",
  );
  assert.deepEqual(await collect([bytes]), [
    "first",
    "second",
    "last without newline",
  ]);
});

Deno.test("a multi-byte character split between reads stays intact", async () => {
  const text = "héllo wörld ✓ 日本語 🚀\nnext\n";
  const bytes = new TextEncoder().encode(text);
  // Cut every possible way, including inside the 4-byte emoji.
  for (let cut = 1; cut < bytes.length; cut++) {
    assert.deepEqual(
      await collect([bytes.slice(0, cut), bytes.slice(cut)]),
      ["héllo wörld ✓ 日本語 🚀", "next"],
      `cut at ${cut}`,
    );
  }
  const oneByteAtATime = Array.from(bytes, (byte) => new Uint8Array([byte]));
  assert.deepEqual(await collect(oneByteAtATime), [
    "héllo wörld ✓ 日本語 🚀",
    "next",
  ]);
});

Deno.test("an overlong line is cut on a character boundary", async () => {
  const text = "ab✓✓✓cd\n";
  const lines = await collect([new TextEncoder().encode(text)], 4);
  assert.equal(lines.join(""), "ab✓✓✓cd");
  for (const line of lines) {
    assert.ok(new TextEncoder().encode(line).length <= 4, line);
    assert.ok(!line.includes("\uFFFD"), line);
  }
});

Deno.test("utf8Boundary steps back over continuation bytes only", () => {
  const bytes = new TextEncoder().encode("a✓b"); // 61 e2 9c 93 62
  assert.equal(utf8Boundary(bytes, 1), 1);
  assert.equal(utf8Boundary(bytes, 2), 1);
  assert.equal(utf8Boundary(bytes, 3), 1);
  assert.equal(utf8Boundary(bytes, 4), 4);
  assert.equal(utf8Boundary(bytes, 10), 5);
});

/**
 * Guards what Node's type stripping needs and Deno does not check: a
 * type-only import without `type` passes `deno check` but fails under Node
 * ("does not provide an export named ..."). Deno's verbatim-module-syntax
 * lint rule finds those in every environment; node_runtime.test.ts proves
 * the whole program under a real Node when one is available.
 */
import assert from "node:assert/strict";

Deno.test("infra/ imports types with `import type`, as Node's type stripping requires", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "lint",
      "--rules-tags=",
      "--rules-include=verbatim-module-syntax",
      "infra/",
    ],
    cwd: new URL("../../", import.meta.url),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  assert.equal(code, 0, `${decoder.decode(stdout)}${decoder.decode(stderr)}`);
});

import assert from "node:assert/strict";
import { deferRelativeDynamicImports } from "../../../scripts/lib/bundle_imports.ts";

Deno.test("bundle imports: sibling chunks are imported through a URL Deno does not analyse; node: modules and static imports stay", () => {
  const source = [
    'import"./chunk-A1.js";',
    'import { x } from "./chunk-B2.js";',
    'const sdk=()=>import("./dist-es-C3.js");',
    "const sts = () => import( './sts-D4.js' );",
    'const zlib=()=>import("node:zlib");',
    'const other=()=>import("../outside.js");',
  ].join("\n");
  const { text, rewritten } = deferRelativeDynamicImports(source);
  assert.equal(rewritten, 2);
  assert.equal(
    text,
    [
      'import"./chunk-A1.js";',
      'import { x } from "./chunk-B2.js";',
      'const sdk=()=>import(new URL("./dist-es-C3.js", import.meta.url).href);',
      'const sts = () => import(new URL("./sts-D4.js", import.meta.url).href);',
      'const zlib=()=>import("node:zlib");',
      'const other=()=>import("../outside.js");',
    ].join("\n"),
  );
});

Deno.test("bundle imports: a deferred chunk loads when imported, from the importing file's folder", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/chunk-Z9.js`, "export const answer = 42;");
    const { text, rewritten } = deferRelativeDynamicImports(
      'export const load = () => import("./chunk-Z9.js");',
    );
    assert.equal(rewritten, 1);
    await Deno.writeTextFile(`${dir}/entry.js`, text);
    const entry = await import(`file://${dir}/entry.js`);
    assert.equal((await entry.load()).answer, 42);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

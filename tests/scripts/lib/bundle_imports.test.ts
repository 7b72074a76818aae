import assert from "node:assert/strict";
import {
  deferNodeRequire,
  deferRelativeDynamicImports,
} from "../../../scripts/lib/bundle_imports.ts";

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

const EAGER_HELPER = [
  "var __defProp = Object.defineProperty;",
  'import { createRequire as __deno_internal_createRequire } from "node:module";',
  "var __require = __deno_internal_createRequire(import.meta.url);",
  "export { __require };",
].join("\n");

Deno.test("bundle imports: the bundler's require helper no longer imports node:module statically", () => {
  const { text, rewritten } = deferNodeRequire(EAGER_HELPER);
  assert.equal(rewritten, true);
  assert.doesNotMatch(text, /from "node:module"/);
  assert.match(text, /^var __defProp = Object\.defineProperty;\n/);
  assert.match(text, /\nexport \{ __require \};$/);
  assert.match(
    text,
    /process\.getBuiltinModule\("node:module"\)\.createRequire\(import\.meta\.url\)/,
  );
});

Deno.test("bundle imports: a file without the helper is left as it was", () => {
  const source = 'import "./chunk-A1.js";\nexport const x = 1;';
  assert.deepEqual(deferNodeRequire(source), {
    text: source,
    rewritten: false,
  });
});

Deno.test("bundle imports: the lazy require helper still requires built-in and relative CommonJS modules", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/answer.cjs`, "module.exports = 42;");
    await Deno.writeTextFile(
      `${dir}/runtime.js`,
      deferNodeRequire(EAGER_HELPER).text,
    );
    const { __require } = await import(`file://${dir}/runtime.js`);
    assert.equal(typeof __require("node:os").release, "function");
    assert.equal(__require("./answer.cjs"), 42);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

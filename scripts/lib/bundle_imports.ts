/**
 * Post-processing of the portable layer's bundle: its relative dynamic
 * imports (`import("./chunk.js")`) are made opaque to Deno's module-graph
 * analysis, and the bundler's `require` helper loads `node:module` only
 * when first called.
 *
 * The stock Deno binary analyses every statically written specifier of a
 * module before running it, dynamic imports included, and the analysis is
 * cached in `DENO_DIR`, which in Lambda is /tmp: empty at every init. So
 * the AWS SDK's chunks, imported only at the first flush, were parsed
 * before the extension could register (measured: 94 → 67 ms from spawn to
 * the first `/event/next`, portable layer, empty `DENO_DIR`). Written as
 * `import(new URL("./chunk.js", import.meta.url).href)`, a chunk is analysed
 * when it is imported. Such a module is outside the start-up graph, so the
 * launcher grants `--allow-read` on the layer's payload folder.
 *
 * @module
 */

const RELATIVE_DYNAMIC_IMPORT = /\bimport\(\s*(["'])(\.\/[\w.-]+\.js)\1\s*\)/g;

/** A bundle file with its relative dynamic imports deferred. */
export interface DeferredImports {
  /** The rewritten source. */
  text: string;
  /** How many imports were rewritten. */
  rewritten: number;
}

/**
 * Rewrites each `import("./name.js")` of `source` (a file of the bundle's
 * output folder) so that Deno resolves it only when it runs. Imports of
 * `node:` modules and of anything but a sibling file are left alone.
 */
export function deferRelativeDynamicImports(source: string): DeferredImports {
  let rewritten = 0;
  const text = source.replace(
    RELATIVE_DYNAMIC_IMPORT,
    (_match, _quote: string, path: string) => {
      rewritten++;
      return `import(new URL(${JSON.stringify(path)}, import.meta.url).href)`;
    },
  );
  return { text, rewritten };
}

/**
 * The bundler's `require` helper for CommonJS code, in its runtime chunk:
 * a static import of `node:module`, which every chunk (the entry too)
 * imports for its helpers.
 */
const EAGER_REQUIRE_HELPER =
  /^import \{ createRequire as (__deno_internal_createRequire) \} from "node:module";\r?\nvar (__require) = \1\(import\.meta\.url\);$/m;

/** A bundle file with its `require` helper made lazy, or left as it was. */
export interface LazyRequire {
  /** The rewritten source. */
  text: string;
  /** Whether the helper was found and rewritten. */
  rewritten: boolean;
}

/**
 * Rewrites the bundler's eager `require` helper of `source` into one that
 * loads `node:module` (through `process.getBuiltinModule`) at its first
 * call. Importing `node:module` starts Deno's Node.js compatibility layer:
 * about 23 ms before the extension could register (measured with the
 * stock binary), for a helper that only the AWS SDK's chunks call, after
 * init. The helper's behaviour is otherwise the same `createRequire`.
 */
export function deferNodeRequire(source: string): LazyRequire {
  let rewritten = false;
  const text = source.replace(
    EAGER_REQUIRE_HELPER,
    (_match, _createRequire: string, helper: string) => {
      rewritten = true;
      return [
        `var ${helper}_loaded;`,
        `var ${helper} = (id) => (${helper}_loaded ??= process.getBuiltinModule("node:module").createRequire(import.meta.url))(id);`,
      ].join("\n");
    },
  );
  return { text, rewritten };
}

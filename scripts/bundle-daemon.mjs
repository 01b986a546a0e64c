#!/usr/bin/env node
// The daemon as it ships: daemon/main.ts and everything it imports in one file,
// dist/netsessiond.cjs (package.json `bin.netsessiond`), so start-up reads and compiles one file
// instead of resolving ~85 modules. CommonJS, not ESM: on Node 20 the ESM loader alone costs
// ~3 MB VmRSS (0.85 MB RssAnon) and ~17 ms of start-up (docs/architecture.md, "Memory and
// start-up"), so no `import()` may survive either (`dynamic-import: false` turns them into
// require). koffi stays external: it loads its native addon relative to its own package
// directory. The optional adapters main.ts imports dynamically are in the file but only
// evaluated when imported (esbuild wraps each module in a lazy initializer).
// No source map: none is read at run time, and tsc's dist/ keeps readable per-file output.
// Run by `npm run build` and by the integration tests' global setup (test/integration/setup.ts).
import { copyFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
export const BUNDLE = `${ROOT}dist/netsessiond.cjs`;

export async function bundleDaemon() {
  mkdirSync(`${ROOT}dist`, { recursive: true });
  const result = await build({
    entryPoints: [`${ROOT}daemon/main.ts`],
    outfile: BUNDLE,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    supported: { 'dynamic-import': false },
    // The sources are ESM: import.meta.url is the bundle's own file URL.
    define: { 'import.meta.url': '__importMetaUrl' },
    banner: { js: '"use strict";var __importMetaUrl=require("node:url").pathToFileURL(__filename).href;' },
    external: ['koffi'],
    // Whitespace and syntax only: function and class names stay for stack traces.
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'warning',
    metafile: true,
  });
  // udhcpc's hook script is found next to the module that runs it (udhcpc-client.ts).
  copyFileSync(`${ROOT}daemon/adapters/dhcp/udhcpc-hook.sh`, `${ROOT}dist/udhcpc-hook.sh`);
  return result;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await bundleDaemon();
  const bytes = Object.values(r.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
  console.log(
    `daemon bundle: ${Object.keys(r.metafile.inputs).length} modules -> dist/netsessiond.cjs (${Math.round(bytes / 1024)} kB)`,
  );
}

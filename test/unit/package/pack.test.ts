/**
 * What `npm pack` puts in the tarball (prepack builds first, so this is what would be
 * published): the licence, the changelog, the man pages and the shell completion are in; no
 * source map points at a source that is not shipped; the registry fields people and tools look
 * for are set; publint has nothing to say.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../../..');

interface PackResult {
  files: Array<{ path: string }>;
}

let files: string[];

describe('npm pack', () => {
  beforeAll(() => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--loglevel=error'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    // prepack's build output comes first on stdout; the JSON array is the last thing printed.
    const json = out.slice(out.lastIndexOf('\n[') + 1);
    files = (JSON.parse(json) as PackResult[])[0]!.files.map((f) => f.path);
  }, 180_000);

  it('ships LICENSE, CHANGELOG.md, README.md and the built SDK, daemon and CLI', () => {
    for (const f of ['LICENSE', 'CHANGELOG.md', 'README.md', 'package.json', 'dist/lib/index.js', 'dist/lib/index.d.ts', 'dist/netsessiond.cjs', 'dist/udhcpc-hook.sh', 'dist/bin/netsessionctl.js']) expect(files, f).toContain(f);
  });

  it('ships the daemon as one bundled file, not the per-module tsc output', () => {
    expect(files.filter((f) => f.startsWith('dist/daemon/'))).toEqual([]);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(posix.normalize(pkg.bin.netsessiond!)).toBe('dist/netsessiond.cjs');
  });

  it('ships the bash and zsh completion', () => {
    expect(files).toEqual(expect.arrayContaining(['bin/completions/netsessionctl.bash', 'bin/completions/_netsessionctl']));
  });

  it('ships the man pages and names them in package.json `man` (npm installs them with a global install)', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { man: string[] };
    expect(pkg.man.map((m) => posix.normalize(m))).toEqual(['dist/man/netsessiond.8', 'dist/man/netsessionctl.1', 'dist/man/netsessiond.conf.5']);
    for (const m of pkg.man) expect(files, m).toContain(posix.normalize(m));
  });

  it('has no source map without the source it points at', () => {
    const shipped = new Set(files);
    const dead: string[] = [];
    for (const map of files.filter((f) => f.endsWith('.map'))) {
      const { sources, sourceRoot = '' } = JSON.parse(readFileSync(join(ROOT, map), 'utf8')) as { sources: string[]; sourceRoot?: string };
      for (const s of sources) {
        const target = posix.normalize(posix.join(posix.dirname(map), sourceRoot, s));
        if (!shipped.has(target)) dead.push(`${map} -> ${target}`);
      }
    }
    expect(dead).toEqual([]);
  });

  it('has no test, bench or tooling files', () => {
    expect(files.filter((f) => /^(test|bench|scripts|typings|node_modules)\//.test(f) || f.endsWith('.tsbuildinfo'))).toEqual([]);
  });

  it('publint (strict) finds nothing to fix', async () => {
    // Packs with --ignore-scripts: dist/ is the one the prepack build above made.
    const { messages, pkg } = await publint({ pkgDir: ROOT, strict: true, pack: 'npm' });
    expect(messages.map((m) => `${m.type}: ${formatMessage(m, pkg) ?? m.code}`)).toEqual([]);
  }, 120_000);

  it('package.json has repository, bugs, homepage, keywords, os and a licence matching LICENSE', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg.repository).toEqual({ type: 'git', url: 'git+https://github.com/netsession/netsession.git' });
    expect(pkg.bugs).toEqual({ url: 'https://github.com/netsession/netsession/issues' });
    expect(pkg.homepage).toMatch(/^https:\/\/github\.com\/netsession\/netsession/);
    expect((pkg.keywords as string[]).length).toBeGreaterThan(3);
    expect(pkg.os).toEqual(['linux']);
    expect(pkg.license).toBe('MIT');
    expect(readFileSync(join(ROOT, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n/);
  });

  it('CHANGELOG.md has an entry for the current version', () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(readFileSync(join(ROOT, 'CHANGELOG.md'), 'utf8')).toMatch(new RegExp(`^## \\[${version.replace(/\./g, '\\.')}\\] - \\d{4}-\\d{2}-\\d{2}$`, 'm'));
  });
});

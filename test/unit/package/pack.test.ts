/**
 * What `npm run pack` publishes (scripts/pack.mjs: build, stage both packages from the root
 * manifest, `npm pack` each): the SDK tarball holds only the SDK (ESM and CommonJS builds, their
 * types), the daemon tarball the daemon, CLI, man pages, completion, unit and policy; both carry
 * the licence and changelog; no source map points at a source that is not shipped; publint
 * (both) and attw (the SDK) have nothing to say. Installing them is
 * test/integration/pack-install.test.ts.
 *
 * The daemon's preinstall (scripts/koffi-musl-armhf.cjs) is run here on a fake install tree:
 * on armv7 musl it copies the shipped addon to <koffi>/build/koffi/musl_armhf/koffi.node and
 * elsewhere does nothing; and the installed koffi's own loader is shown to load an addon from
 * <koffi>/build/koffi/<triplet>/ when its @koromix package is absent (on this host's triplet,
 * musl_x64, since an armv7 musl Node is not at hand).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../../..');
const STAGE = join(ROOT, 'dist/packages');
const NAMES = ['netsession', 'netsessiond'] as const;
type Name = (typeof NAMES)[number];

interface Manifest {
  name: string;
  version: string;
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  bin?: Record<string, string>;
  man?: string[];
  exports?: Record<string, unknown>;
  [key: string]: unknown;
}

let out: string;
let tarballs: Record<Name, string>;
const files = {} as Record<Name, string[]>;
const manifests = {} as Record<Name, Manifest>;
const rootPkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest;

describe('npm run pack', () => {
  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'netsession-pack-'));
    const stdout = execFileSync('node', ['scripts/pack.mjs', '--out', out], {
      cwd: ROOT,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    tarballs = JSON.parse(stdout.trim().split('\n').pop()!) as Record<Name, string>;
    for (const name of NAMES) {
      files[name] = execFileSync('tar', ['-tzf', tarballs[name]], { encoding: 'utf8' })
        .split('\n')
        .filter((l) => l !== '' && !l.endsWith('/'))
        .map((l) => l.replace(/^package\//, ''));
      manifests[name] = JSON.parse(
        execFileSync('tar', ['-xzOf', tarballs[name], 'package/package.json'], { encoding: 'utf8' }),
      ) as Manifest;
    }
  }, 240_000);

  afterAll(() => {
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it('packs netsession and netsessiond at the root version; the root manifest itself is private', () => {
    expect(rootPkg.private).toBe(true);
    for (const name of NAMES) {
      expect(manifests[name].name).toBe(name);
      expect(manifests[name].version).toBe(rootPkg.version);
      expect(posix.basename(tarballs[name])).toBe(`${name}-${rootPkg.version}.tgz`);
    }
  });

  it('the SDK tarball holds the ESM and CommonJS builds with their types, and nothing of the daemon', () => {
    const f = files.netsession;
    for (const want of [
      'LICENSE',
      'CHANGELOG.md',
      'README.md',
      'package.json',
      'dist/lib/index.js',
      'dist/lib/index.d.ts',
      'dist/cjs/index.js',
      'dist/cjs/index.d.ts',
      'dist/cjs/package.json',
    ])
      expect(f, want).toContain(want);
    expect(
      f.filter((p) => /^dist\/(daemon|bin|man|cli)\/|netsessiond|udhcpc|completions|\.service$|\.conf$/.test(p)),
    ).toEqual([]);
  });

  it('the SDK has no install script, no native dependency, koffi only as an optional peer', () => {
    const m = manifests.netsession;
    expect(m.scripts ?? {}).toEqual({});
    expect(Object.keys(m.dependencies ?? {})).toEqual(['undici']);
    expect(m.peerDependencies).toEqual({ koffi: rootPkg.peerDependencies!.koffi });
    expect(m.peerDependenciesMeta).toEqual({ koffi: { optional: true } });
    expect(files.netsession.filter((p) => p.endsWith('.node') || p.endsWith('binding.gyp'))).toEqual([]);
  });

  it("the SDK's exports give `import` the ESM build and `require` the CommonJS one, for every root export", () => {
    const exp = manifests.netsession.exports!;
    expect(Object.keys(exp)).toEqual(Object.keys(rootPkg.exports!));
    expect(exp['.']).toEqual({
      import: { types: './dist/lib/index.d.ts', default: './dist/lib/index.js' },
      require: { types: './dist/cjs/index.d.ts', default: './dist/cjs/index.js' },
    });
    expect(
      JSON.parse(
        execFileSync('tar', ['-xzOf', tarballs.netsession, 'package/dist/cjs/package.json'], { encoding: 'utf8' }),
      ),
    ).toEqual({ type: 'commonjs' });
  });

  it('the daemon tarball holds the bundle, the CLI, man pages, completion, unit and D-Bus policy, and takes the SDK from netsession', () => {
    const f = files.netsessiond;
    for (const want of [
      'LICENSE',
      'CHANGELOG.md',
      'README.md',
      'dist/netsessiond.cjs',
      'dist/udhcpc-hook.sh',
      'dist/bin/netsessionctl.js',
      'bin/completions/netsessionctl.bash',
      'bin/completions/_netsessionctl',
      'daemon/netsessiond.service',
      'daemon/netsession-dbus.conf',
    ])
      expect(f, want).toContain(want);
    // The daemon ships as one bundled file, not the per-module tsc output; the CLI imports the SDK package.
    expect(f.filter((p) => /^dist\/(daemon|lib|cjs)\//.test(p))).toEqual([]);
    const cli = execFileSync('tar', ['-xzOf', tarballs.netsessiond, 'package/dist/bin/netsessionctl.js'], {
      encoding: 'utf8',
    });
    expect(cli).toMatch(/from\s*"netsession"/);
    const m = manifests.netsessiond;
    expect(m.dependencies?.netsession).toBe(rootPkg.version);
    expect(m.dependencies?.koffi).toBe(rootPkg.peerDependencies!.koffi);
    expect(m.scripts ?? {}).toEqual({ preinstall: 'node install/koffi-musl-armhf.cjs' });
    expect(m.bin).toEqual({ netsessiond: 'dist/netsessiond.cjs', netsessionctl: 'dist/bin/netsessionctl.js' });
  });

  it("the daemon tarball carries koffi's armv7 musl addon (ARM, hard-float EABI5, a shared object) and its preinstall; nothing else native", () => {
    expect(files.netsessiond.filter((p) => p.endsWith('.node'))).toEqual(['prebuilds/musl_armhf/koffi.node']);
    expect(files.netsessiond).toContain('install/koffi-musl-armhf.cjs');
    const elf = execFileSync('tar', ['-xzOf', tarballs.netsessiond, 'package/prebuilds/musl_armhf/koffi.node'], {
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(elf.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(elf[4]).toBe(1); // ELFCLASS32
    expect(elf.readUInt16LE(16)).toBe(3); // ET_DYN
    expect(elf.readUInt16LE(18)).toBe(40); // EM_ARM
    expect(elf.readUInt32LE(36) & 0xff000000).toBe(0x05000000); // EABI version 5
    expect(elf.readUInt32LE(36) & 0x400).toBe(0x400); // EF_ARM_ABI_FLOAT_HARD
  });

  it('names the man pages in `man` (npm installs them with a global install) and ships them', () => {
    const man = manifests.netsessiond.man!;
    expect(man.map((m) => posix.normalize(m))).toEqual([
      'dist/man/netsessiond.8',
      'dist/man/netsessionctl.1',
      'dist/man/netsessiond.conf.5',
    ]);
    for (const m of man) expect(files.netsessiond, m).toContain(posix.normalize(m));
  });

  it('has no source map without the source it points at', () => {
    const dead: string[] = [];
    for (const name of NAMES) {
      const shipped = new Set(files[name]);
      for (const map of files[name].filter((f) => f.endsWith('.map'))) {
        const { sources, sourceRoot = '' } = JSON.parse(readFileSync(join(STAGE, name, map), 'utf8')) as {
          sources: string[];
          sourceRoot?: string;
        };
        for (const s of sources) {
          const target = posix.normalize(posix.join(posix.dirname(map), sourceRoot, s));
          if (!shipped.has(target)) dead.push(`${name}: ${map} -> ${target}`);
        }
      }
    }
    expect(dead).toEqual([]);
  });

  it('has no test, bench or tooling files', () => {
    for (const name of NAMES)
      expect(
        files[name].filter((f) => /^(test|bench|scripts|typings|node_modules)\//.test(f) || f.endsWith('.tsbuildinfo')),
      ).toEqual([]);
  });

  it.each(NAMES)(
    'publint (strict) finds nothing to fix in %s',
    async (name) => {
      const { messages, pkg } = await publint({ pkgDir: join(STAGE, name), strict: true, pack: 'npm' });
      expect(messages.map((m) => `${m.type}: ${formatMessage(m, pkg) ?? m.code}`)).toEqual([]);
    },
    120_000,
  );

  it('attw (strict profile) finds no problem in the SDK tarball: node10, node16 from CJS and ESM, bundler', () => {
    const r = spawnSync(
      join(ROOT, 'node_modules/.bin/attw'),
      [tarballs.netsession, '--format', 'json', '--no-definitely-typed', '--profile', 'strict'],
      { encoding: 'utf8' },
    );
    const report = JSON.parse(r.stdout) as {
      analysis: {
        problems: unknown[];
        entrypoints: Record<string, { resolutions: Record<string, { resolution?: { fileName: string } }> }>;
        programInfo: { node16: { moduleKinds: Record<string, { detectedKind: number }> } };
      };
    };
    expect(report.analysis.problems, r.stdout).toEqual([]);
    expect(r.status).toBe(0);
    // `require` gets types TypeScript reads as CommonJS (kind 1), `import` ESM ones (kind 99).
    const { resolutions } = report.analysis.entrypoints['.']!;
    const kind = (mode: string) =>
      report.analysis.programInfo.node16.moduleKinds[resolutions[mode]!.resolution!.fileName]?.detectedKind;
    expect(resolutions['node16-cjs']!.resolution!.fileName).toBe('/node_modules/netsession/dist/cjs/index.d.ts');
    expect(kind('node16-cjs')).toBe(1);
    expect(kind('node16-esm')).toBe(99);
  });

  it('both manifests have repository, bugs, homepage, keywords, os, engines and a licence matching LICENSE', () => {
    for (const name of NAMES) {
      const pkg = manifests[name];
      expect(pkg.repository).toEqual({ type: 'git', url: 'git+https://github.com/netsession/netsession.git' });
      expect(pkg.bugs).toEqual({ url: 'https://github.com/netsession/netsession/issues' });
      expect(pkg.homepage).toMatch(/^https:\/\/github\.com\/netsession\/netsession/);
      expect((pkg.keywords as string[]).length).toBeGreaterThan(3);
      expect(pkg.os).toEqual(['linux']);
      expect(pkg.engines).toEqual(rootPkg.engines);
      expect(pkg.license).toBe('MIT');
    }
    expect(readFileSync(join(ROOT, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n/);
  });

  it('CHANGELOG.md has an entry for the current version', () => {
    expect(readFileSync(join(ROOT, 'CHANGELOG.md'), 'utf8')).toMatch(
      new RegExp(`^## \\[${rootPkg.version.replace(/\./g, '\\.')}\\] - \\d{4}-\\d{2}-\\d{2}$`, 'm'),
    );
  });
});

describe("netsessiond's preinstall: koffi's armv7 musl addon where koffi's loader looks", () => {
  const req = createRequire(import.meta.url);
  const { install, findKoffi } = req('../../../scripts/koffi-musl-armhf.cjs') as {
    install: (o: { pkgDir: string; target: boolean }) => string;
    findKoffi: (from: string) => string | null;
  };
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'netsession-preinstall-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  /** app/node_modules/{netsessiond (with the addon), koffi}, optionally koffi nested in netsessiond. */
  function tree(name: string, nested: boolean) {
    const app = join(tmp, name);
    const pkgDir = join(app, 'node_modules/netsessiond');
    mkdirSync(join(pkgDir, 'prebuilds/musl_armhf'), { recursive: true });
    writeFileSync(join(pkgDir, 'prebuilds/musl_armhf/koffi.node'), 'addon');
    const koffi = nested ? join(pkgDir, 'node_modules/koffi') : join(app, 'node_modules/koffi');
    mkdirSync(koffi, { recursive: true });
    writeFileSync(join(koffi, 'package.json'), '{"name":"koffi"}');
    return { pkgDir, koffi };
  }

  it('on armv7 musl it copies the addon into the koffi node resolves from netsessiond (hoisted or nested)', () => {
    for (const nested of [false, true]) {
      const { pkgDir, koffi } = tree(`t-${nested}`, nested);
      expect(findKoffi(pkgDir)).toBe(koffi);
      expect(install({ pkgDir, target: true })).toContain(join(koffi, 'build/koffi/musl_armhf/koffi.node'));
      expect(readFileSync(join(koffi, 'build/koffi/musl_armhf/koffi.node'), 'utf8')).toBe('addon');
    }
  });

  it('anywhere else it does nothing, and on this host it detects no armv7 musl', () => {
    const { pkgDir, koffi } = tree('other', false);
    expect(install({ pkgDir, target: false })).toMatch(/nothing to do/);
    expect(existsSync(join(koffi, 'build'))).toBe(false);
    expect(install({ pkgDir } as { pkgDir: string; target: boolean })).toMatch(/nothing to do/);
  });

  it("koffi's loader takes <koffi>/build/koffi/<triplet>/koffi.node when its prebuild package is absent", () => {
    const koffi = join(tmp, 'loader/node_modules/koffi');
    cpSync(join(ROOT, 'node_modules/koffi'), koffi, { recursive: true });
    // This host's addon under the musl triplet, the second name the loader tries on linux.
    const triplet = `musl_${process.arch}`;
    const hostAddon = join(ROOT, `node_modules/@koromix/koffi-linux-${process.arch}/linux_${process.arch}/koffi.node`);
    mkdirSync(join(koffi, 'build/koffi', triplet), { recursive: true });
    cpSync(hostAddon, join(koffi, 'build/koffi', triplet, 'koffi.node'));
    const r = spawnSync(process.execPath, ['-e', 'const k = require(process.argv[1]); console.log(k.version)', koffi], {
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(rootPkg.peerDependencies!.koffi);
    // …and without it, the copy finds no addon at all (so the one above is what loaded).
    rmSync(join(koffi, 'build'), { recursive: true });
    expect(spawnSync(process.execPath, ['-e', 'require(process.argv[1])', koffi], { encoding: 'utf8' }).stderr).toMatch(
      /Cannot find the native Koffi module/,
    );
  });
});

/**
 * The two packages as a user gets them: `npm run pack` (scripts/pack.mjs) makes both tarballs,
 * each is installed from its tarball into a fresh directory (dependencies such as undici and
 * koffi come from the npm registry), and the installed code is what runs:
 *
 * | install                                   | checked                                                                  |
 * |-------------------------------------------|--------------------------------------------------------------------------|
 * | netsession into a fresh app               | no `*.node`, no binding.gyp, no install script, no xml2js < 0.5, `npm ls --all` ≤ 8 packages |
 * | the same app: strict TypeScript, nodenext | `tsc --strict` compiles an ESM file (import) and a CommonJS one (import = require) |
 * | ESM app / CommonJS app (require)          | each creates a session against the installed netsessiond in the sandbox, waits for online, fetches through it: 200 from one uplink's address; under this machine's Node, the oldest Node `engines` admits and the newest 22.x and 24.x (official builds, support/node-releases.ts) |
 * | netsession installed by npm running on the oldest Node `engines` admits | no EBADENGINE warning: every installed package admits that Node |
 * | netsession + netsessiond, global --prefix | `netsessiond --version`, `netsessionctl --version`, `man -M` and `man -l` of netsessiond(8); netsessionctl lists the uplinks; its preinstall ran and, off armv7 musl, left koffi alone; the armv7 musl koffi addon is installed |
 * | both tarballs                             | no `.map` file                                                           |
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, shebangNodeFlags, startNetsessiond } from './harness/daemon.js';
import { createSandbox, requireRoot, type Sandbox } from './harness/sandbox.js';
import { sandboxDaemonArgs, testConfig } from './harness/test-daemon.js';
import { engineFloor, NEWEST_EVEN_MAJORS, officialNode } from './support/node-releases.js';

const supported = requireRoot();
const MANIFEST = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  version: string;
  engines: { node: string };
};
const VERSION = MANIFEST.version;
/** The oldest Node the published manifests admit (scripts/packages.mjs copies `engines`). */
const NODE_FLOOR = engineFloor(MANIFEST.engines.node);
/** Node versions the apps run on besides this machine's: the floor and the newest of the next even majors. */
const OTHER_NODES = [NODE_FLOOR, ...NEWEST_EVEN_MAJORS];
/** Official Node builds, fetched once and kept for later runs. */
const NODE_CACHE = join(REPO_ROOT, 'node_modules/.cache/netsession-test-node');
/** npm, node and the installed bins' `#!/usr/bin/env node` find node on this PATH. */
const PATH = `${dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`;

let work: string;
let tarballs: { netsession: string; netsessiond: string };
let app: string;
let prefix: string;
let installLog: string;
let daemonInstallLog: string;
let floorInstallLog: string;
let sb: Sandbox;
/** Node version → its binary: this machine's and the official builds of OTHER_NODES. */
const nodes = new Map<string, string>([[process.versions.node, process.execPath]]);

function npm(args: string[], cwd: string): string {
  const r = spawnSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=warn'], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, PATH },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`npm ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return `${r.stdout}${r.stderr}`;
}

/** Every file below `dir` (symlinks not followed). */
function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

const ESM_APP = `import { createSession, type Session, type SessionInfo } from 'netsession';

const url = process.argv[2]!;
const session: Session = await createSession({ connectionType: 'internet', sourceIPRule: true });
try {
  const info: SessionInfo = await session.waitFor('online', { timeout: 20_000 });
  const res = await session.fetch(url);
  console.log(JSON.stringify({ module: 'esm', node: process.version, state: info.state, interface: session.interface, address: session.ipv4?.address ?? null, status: res.status, body: await res.text() }));
} finally {
  await session.destroy();
}
`;

// Types of the CommonJS entry: compiled by the same strict tsc run, never executed.
const CJS_TYPES = `import netsession = require('netsession');

const create: (options?: netsession.SessionOptions) => Promise<netsession.Session> = netsession.createSession;
export = create;
`;

const CJS_APP = `'use strict';
const { createSession } = require('netsession');

(async () => {
  const session = await createSession({ connectionType: 'internet', sourceIPRule: true });
  try {
    const info = await session.waitFor('online', { timeout: 20000 });
    const res = await session.fetch(process.argv[2]);
    console.log(JSON.stringify({ module: 'cjs', node: process.version, resolved: require.resolve('netsession'), state: info.state, interface: session.interface, address: session.ipv4 && session.ipv4.address, status: res.status, body: await res.text() }));
  } finally {
    await session.destroy();
  }
})().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
`;

describe.skipIf(!supported)('packed packages installed into fresh apps', () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'netsession-install-'));
    const out = execFileSync(process.execPath, ['scripts/pack.mjs', '--out', join(work, 'tgz')], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      env: { ...process.env, PATH },
      maxBuffer: 64 * 1024 * 1024,
    });
    tarballs = JSON.parse(out.trim().split('\n').pop()!) as typeof tarballs;

    // The SDK alone, as an app adds it.
    app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }),
    );
    installLog = npm(['install', tarballs.netsession], app);

    for (const v of OTHER_NODES) nodes.set(v, officialNode(v, NODE_CACHE, { ...process.env, PATH }));
    // The same install by npm running on the floor Node, which checks every package's `engines`
    // against that Node and warns EBADENGINE where one asks for a newer one.
    const floorApp = join(work, 'app-floor');
    mkdirSync(floorApp);
    writeFileSync(
      join(floorApp, 'package.json'),
      JSON.stringify({ name: 'app-floor', version: '1.0.0', private: true }),
    );
    const npmCli = realpathSync(
      execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8', env: { PATH } }).trim(),
    );
    const floorNode = nodes.get(NODE_FLOOR)!;
    const r = spawnSync(
      floorNode,
      [npmCli, 'install', tarballs.netsession, '--no-audit', '--no-fund', '--loglevel=warn'],
      {
        cwd: floorApp,
        encoding: 'utf8',
        env: { ...process.env, PATH: `${dirname(floorNode)}:${PATH}` },
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    if (r.status !== 0) throw new Error(`npm install on Node ${NODE_FLOOR} failed (${r.status}):\n${r.stderr}`);
    floorInstallLog = `${r.stdout}${r.stderr}`;

    // The daemon package as a device image installs it: globally (bins linked, man pages in
    // share/man), with the SDK from its tarball, not from the registry.
    // Its preinstall (koffi's armv7 musl addon, a no-op here) allowed, as an armv7 musl image must.
    prefix = join(work, 'prefix');
    daemonInstallLog = npm(
      [
        'install',
        '--global',
        '--prefix',
        prefix,
        '--allow-scripts=netsessiond',
        '--foreground-scripts',
        tarballs.netsession,
        tarballs.netsessiond,
      ],
      work,
    );

    sb = await createSandbox();
    const installed = join(prefix, 'lib/node_modules/netsessiond/dist/netsessiond.cjs');
    const conf = join(sb.tmpDir, 'netsessiond.conf');
    writeFileSync(conf, testConfig([], null));
    const args = sandboxDaemonArgs(sb, conf);
    const daemon = await startNetsessiond(sb, {
      command: [process.execPath, ...shebangNodeFlags(installed), installed, ...args],
    });
    await daemon.waitForLine(/ready:/, { timeoutMs: 15_000 });
  }, 300_000);

  afterAll(async () => {
    await sb?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('the SDK install has no native addon, no install script and no xml2js below 0.5', () => {
    const files = walk(join(app, 'node_modules'));
    expect(files.filter((f) => f.endsWith('.node') || f.endsWith('/binding.gyp'))).toEqual([]);
    const manifests = files.filter(
      (f) => f.endsWith('/package.json') && !f.slice(join(app, 'node_modules').length).includes('/dist/'),
    );
    const withScripts = manifests.filter((f) => {
      const scripts = (JSON.parse(readFileSync(f, 'utf8')) as { scripts?: Record<string, string> }).scripts ?? {};
      return ['preinstall', 'install', 'postinstall'].some((k) => k in scripts);
    });
    expect(withScripts).toEqual([]);
    expect(installLog).not.toMatch(/install-scripts|gyp/);
    const xml2js = manifests
      .filter((f) => f.endsWith('/xml2js/package.json'))
      .map((f) => (JSON.parse(readFileSync(f, 'utf8')) as { version: string }).version);
    expect(xml2js.filter((v) => /^0\.[0-4]\./.test(v))).toEqual([]);
  });

  it('`npm ls --all` of the SDK install lists at most 8 packages', () => {
    const lines = npm(['ls', '--all', '--parseable'], app).trim().split('\n');
    // The first line is the app itself.
    const packages = lines.slice(1).map((l) => l.slice(join(app, 'node_modules/').length));
    expect(packages).toContain('netsession');
    expect(packages.length, packages.join('\n')).toBeLessThanOrEqual(8);
  });

  it(`npm on Node ${NODE_FLOOR} (engines ${MANIFEST.engines.node}) installs the SDK without an EBADENGINE warning`, () => {
    expect(floorInstallLog).not.toMatch(/EBADENGINE/);
  });

  it('a strict TypeScript app (module nodenext) compiles against it, as ESM and as CommonJS', () => {
    writeFileSync(join(app, 'main.ts'), ESM_APP);
    writeFileSync(join(app, 'cjs-types.cts'), CJS_TYPES);
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          lib: ['es2022', 'esnext.disposable'],
          outDir: 'out',
          types: ['node'],
          typeRoots: [join(REPO_ROOT, 'node_modules/@types')],
        },
        files: ['main.ts', 'cjs-types.cts'],
      }),
    );
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', app], {
      cwd: app,
      encoding: 'utf8',
    });
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
    expect(statSync(join(app, 'out/main.js')).isFile()).toBe(true);
  });

  it.each(
    [...new Set([process.versions.node, ...OTHER_NODES])].flatMap((node) => [
      ['ESM (TypeScript, compiled)', 'out/main.js', node],
      ['CommonJS (require)', 'main.cjs', node],
    ]),
  )(
    'the %s app (%s) runs a session against the installed netsessiond and fetches through its uplink on Node %s',
    async (_kind, entry, node) => {
      writeFileSync(join(app, 'main.cjs'), CJS_APP);
      const url = `http://${sb.inet.addr4}/pack-install-${node.replace(/\W/g, '')}-${entry.replace(/\W/g, '')}`;
      const { stdout } = await sb.run(sb.devNs, [nodes.get(node)!, entry, url], {
        cwd: app,
        timeoutMs: 40_000,
        env: { PATH },
      });
      const line = JSON.parse(stdout.trim().split('\n').pop()!) as {
        module: string;
        node: string;
        resolved?: string;
        state: string;
        interface: string;
        address: string;
        status: number;
      };
      console.log(`pack-install: the ${line.module} app ran on Node ${line.node}: ${line.state}, HTTP ${line.status}`);
      expect(line.node).toBe(`v${node}`);
      expect(line.state).toBe('online');
      expect(line.status).toBe(200);
      expect(sb.uplinks.map((u) => u.name)).toContain(line.interface);
      if (entry === 'main.cjs') expect(line.resolved).toBe(join(app, 'node_modules/netsession/dist/cjs/index.js'));
      // The request left from the session's uplink address.
      const seen = (await sb.httpLog()).filter((e) => url.endsWith(e.path));
      expect(seen.map((e) => e.client)).toEqual([sb.uplinks.find((u) => u.name === line.interface)!.devAddr4]);
    },
    60_000,
  );

  it('from the daemon install: netsessiond --version, netsessionctl --version, and its man page', () => {
    const env = { ...process.env, PATH: `${join(prefix, 'bin')}:${PATH}`, MANPAGER: 'cat', MANWIDTH: '80' };
    expect(execFileSync(join(prefix, 'bin/netsessiond'), ['--version'], { encoding: 'utf8', env })).toBe(
      `netsessiond ${VERSION}\n`,
    );
    expect(execFileSync(join(prefix, 'bin/netsessionctl'), ['--version'], { encoding: 'utf8', env })).toBe(
      `netsessionctl ${VERSION}\n`,
    );
    const byName = execFileSync('man', ['-M', join(prefix, 'share/man'), '8', 'netsessiond'], {
      encoding: 'utf8',
      env,
    });
    expect(byName).toMatch(/^NAME\n\s+netsessiond - /m);
    const byFile = execFileSync('man', ['-l', join(prefix, 'lib/node_modules/netsessiond/dist/man/netsessionctl.1')], {
      encoding: 'utf8',
      env,
    });
    expect(byFile).toMatch(/^NAME\n\s+netsessionctl - /m);
  });

  it("the installed netsessionctl (the SDK from the netsession package) lists the sandbox's uplinks", async () => {
    const { stdout } = await sb.run(sb.devNs, [join(prefix, 'bin/netsessionctl'), '--json', 'services'], {
      env: { PATH },
    });
    const names = (JSON.parse(stdout) as Array<{ interface?: string; Interface?: string }>).map(
      (s) => s.interface ?? s.Interface,
    );
    expect(names.sort()).toEqual(sb.uplinks.map((u) => u.name).sort());
  });

  it('the daemon install ran its preinstall, which leaves koffi alone off armv7 musl; the armv7 musl addon is installed', () => {
    expect(daemonInstallLog).toMatch(/netsessiond: not an armv7 hard-float musl system: nothing to do/);
    const pkg = join(prefix, 'lib/node_modules/netsessiond');
    expect(existsSync(join(pkg, 'prebuilds/musl_armhf/koffi.node'))).toBe(true);
    const koffi = [join(pkg, 'node_modules/koffi'), join(prefix, 'lib/node_modules/koffi')].find((d) =>
      existsSync(join(d, 'package.json')),
    );
    expect(koffi).toBeDefined();
    expect(existsSync(join(koffi!, 'build'))).toBe(false);
  });

  it('neither tarball has a .map file', () => {
    for (const t of Object.values(tarballs))
      expect(
        execFileSync('tar', ['-tzf', t], { encoding: 'utf8' })
          .split('\n')
          .filter((f) => f.endsWith('.map')),
      ).toEqual([]);
  });
});

#!/usr/bin/env node
// The daemon's native code on the devices it targets: koffi's prebuilt addon for linux x64,
// arm64 and armv7, glibc and musl (koffi ships five in @koromix/koffi-linux-{x64,arm64,arm};
// armv7 musl is ours, scripts/build-koffi-musl-armhf.mjs, shipped in netsessiond; nothing is
// compiled on the device). For each target:
//   exists   the prebuild is in the package of the koffi version package.json pins (armv7 musl:
//            our build, made here if the cache lacks it)
//   elf      machine, class and (armv7) hard-float ABI match; NEEDED names only the target's C
//            library (glibc builds: glibc sonames, the newest GLIBC_ symbol version they need;
//            musl builds: musl's libc and no glibc soname) besides the C++ runtime Node itself
//            links on both (libstdc++, libgcc_s); ours links libc++ statically and needs none
//   symbols  (musl, where a musl loader for the arch is at hand) every C symbol the addon
//            imports is defined by musl's libc (musl's `ldd`; Node-API, libuv and C++ runtime
//            symbols are the host's and not checked there)
//   loads    (glibc) a Node of that arch dlopens the addon, loads libc through it and calls
//            getpid(): natively on x64, under qemu-user with Debian bookworm's nodejs and libc
//            for arm64 and armhf in a sysroot (`--prepare` makes them). (armv7 musl, ours) no
//            Node for musl exists here, so a small musl program built with the same Zig stands
//            in for it: it exports every Node-API/libuv symbol the addon imports (as stubs never
//            called), dlopens the addon with RTLD_NOW under qemu-arm and Debian's musl loader
//            (static constructors run, every relocation resolved) and finds its Node-API entry
//   twin     (armv7 musl, ours) the same recipe built for armv7 glibc runs in Debian's armhf
//            Node under qemu-arm: getpid(), a double returned in VFP registers (strtod) and a
//            JS callback through koffi's ARM trampolines (qsort) give the right answers
// A check that cannot run here prints why. Exit 1 if any check that ran failed.
//
//   node scripts/native-targets.mjs [--json]     check
//   node scripts/native-targets.mjs --prepare [--force]
//                                    (root) sysroots: dpkg foreign architectures, apt-get
//                                    download, dpkg-deb -x; nothing is installed on this system
// Sysroots live in $NETSESSION_SYSROOTS (default /var/tmp/netsession-sysroots).
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADDON as OUR_MUSL_ARMHF, TWIN, TARGET as ZIG_TARGET, zig, zigEnv } from './build-koffi-musl-armhf.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const KOFFI = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).peerDependencies.koffi;
export const SYSROOTS = process.env.NETSESSION_SYSROOTS ?? '/var/tmp/netsession-sysroots';
const CACHE = join(ROOT, 'node_modules/.cache/netsession-native', KOFFI);

const GLIBC = /^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|ld-linux[-\w.]*\.so\.\d)$/;
const CXX_RUNTIME = /^(libstdc\+\+\.so\.6|libgcc_s\.so\.1)$/;

/** The six targets; `deb` is Debian's architecture, `qemu` the qemu-user binary. */
export const TARGETS = [
  {
    arch: 'x64',
    libc: 'glibc',
    pkg: 'x64',
    dir: 'linux_x64',
    machine: 'X86-64',
    bits: 64,
    deb: 'amd64',
    triplet: 'x86_64-linux-gnu',
    musl: 'x86_64',
  },
  {
    arch: 'x64',
    libc: 'musl',
    pkg: 'x64',
    dir: 'musl_x64',
    machine: 'X86-64',
    bits: 64,
    deb: 'amd64',
    triplet: 'x86_64-linux-gnu',
    musl: 'x86_64',
  },
  {
    arch: 'arm64',
    libc: 'glibc',
    pkg: 'arm64',
    dir: 'linux_arm64',
    machine: 'AArch64',
    bits: 64,
    deb: 'arm64',
    triplet: 'aarch64-linux-gnu',
    qemu: 'qemu-aarch64',
    musl: 'aarch64',
  },
  {
    arch: 'arm64',
    libc: 'musl',
    pkg: 'arm64',
    dir: 'musl_arm64',
    machine: 'AArch64',
    bits: 64,
    deb: 'arm64',
    triplet: 'aarch64-linux-gnu',
    qemu: 'qemu-aarch64',
    musl: 'aarch64',
  },
  {
    arch: 'armv7',
    libc: 'glibc',
    pkg: 'arm',
    dir: 'linux_armhf',
    machine: 'ARM',
    bits: 32,
    hardFloat: true,
    deb: 'armhf',
    triplet: 'arm-linux-gnueabihf',
    qemu: 'qemu-arm',
    musl: 'armhf',
  },
  {
    arch: 'armv7',
    libc: 'musl',
    pkg: 'arm',
    dir: 'musl_armhf',
    machine: 'ARM',
    bits: 32,
    hardFloat: true,
    deb: 'armhf',
    triplet: 'arm-linux-gnueabihf',
    qemu: 'qemu-arm',
    musl: 'armhf',
    ours: true,
  },
];

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const arch = process.arch;

/** The directory of @koromix/koffi-linux-PKG at the pinned version: the install's own, or fetched with `npm pack`. */
function koffiPackage(pkg) {
  const installed = join(ROOT, 'node_modules/@koromix', `koffi-linux-${pkg}`);
  if (
    existsSync(join(installed, 'package.json')) &&
    JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')).version === KOFFI
  )
    return installed;
  const dir = join(CACHE, pkg);
  if (!existsSync(join(dir, 'package.json'))) {
    mkdirSync(CACHE, { recursive: true });
    const out = execFileSync(
      'npm',
      ['pack', `@koromix/koffi-linux-${pkg}@${KOFFI}`, '--json', '--loglevel=error', '--pack-destination', CACHE],
      { encoding: 'utf8' },
    );
    const tgz = join(CACHE, JSON.parse(out)[0].filename);
    mkdirSync(dir, { recursive: true });
    execFileSync('tar', ['-xzf', tgz, '-C', dir, '--strip-components=1']);
    rmSync(tgz);
  }
  return dir;
}

function elfCheck(t, file) {
  const header = execFileSync('readelf', ['-h', file], { encoding: 'utf8' });
  const dynamic = execFileSync('readelf', ['-d', file], { encoding: 'utf8' });
  const versions = execFileSync('readelf', ['-V', '--wide', file], { encoding: 'utf8' });
  const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const problems = [];
  if (!new RegExp(`Machine:\\s+.*${t.machine}`).test(header)) problems.push(`machine is not ${t.machine}`);
  if (!header.includes(`Class:                             ELF${t.bits}`)) problems.push(`not ELF${t.bits}`);
  if (t.hardFloat && !/hard-float ABI/.test(header)) problems.push('not the hard-float ABI');
  // Symbol versions asked of the C library (.gnu.version_r, per needed file): libgcc_s on
  // aarch64 tags its own symbols GLIBC_2.0 too, on musl systems as well, so that one does not count.
  const glibcVersions = new Set();
  let from = '';
  for (const line of versions.slice(versions.indexOf('.gnu.version_r')).split('\n')) {
    const file = /File: (\S+)/.exec(line);
    if (file) from = file[1];
    const v = /Name: GLIBC_(\d+\.\d+(?:\.\d+)?)/.exec(line);
    if (v && !CXX_RUNTIME.test(from)) glibcVersions.add(v[1]);
  }
  const sorted = [...glibcVersions].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const other = needed.filter((n) => !CXX_RUNTIME.test(n));
  if (t.libc === 'glibc') {
    const foreign = other.filter((n) => !GLIBC.test(n));
    if (foreign.length) problems.push(`needs ${foreign.join(', ')} beyond glibc`);
    if (!other.includes('libc.so.6')) problems.push('does not link glibc');
  } else {
    // Alpine's soname, or the plain `libc.so` a Zig-linked addon names: musl's loader resolves
    // any `libc.*` NEEDED entry to itself (ldso's reserved names), whatever files exist.
    const muslLibc = `libc.musl-${t.musl}.so.1`;
    const foreign = other.filter((n) => n !== muslLibc && n !== 'libc.so');
    if (foreign.length) problems.push(`needs ${foreign.join(', ')} beyond musl's ${muslLibc}`);
    if (sorted.length) problems.push(`asks for glibc symbol versions ${sorted.join(', ')}`);
  }
  if (t.ours) {
    // libc++ is linked in: an imported C++ symbol is a piece of koffi or libc++ left out
    // (__cxa_atexit and __cxa_finalize are the C library's).
    const syms = execFileSync('readelf', ['--dyn-syms', '-W', file], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.trim().split(/\s+/));
    const cxx = syms
      .filter(
        (f) =>
          f[6] === 'UND' && /^(_Z|__gxx_|_Unwind_)|^__cxa_(?!atexit$|finalize$|thread_atexit_impl$)/.test(f[7] ?? ''),
      )
      .map((f) => f[7]);
    if (cxx.length)
      problems.push(
        `imports C++ symbols ${cxx.slice(0, 5).join(', ')}${cxx.length > 5 ? ` and ${cxx.length - 5} more` : ''}`,
      );
  }
  const detail = `NEEDED ${needed.join(' ')}${t.libc === 'glibc' && sorted.length ? `; newest glibc symbol version GLIBC_${sorted.at(-1)}` : ''}`;
  return { ok: problems.length === 0, detail: problems.length ? `${problems.join('; ')} (${detail})` : detail };
}

/** argv prefix that runs a program of `t`'s architecture with its sysroot, or a reason it cannot run. */
function runner(t, sysroot) {
  if (t.arch === arch) return { argv: [] };
  if (!has(t.qemu)) return { skip: `${t.qemu} is not installed (Debian: qemu-user)` };
  if (!existsSync(sysroot))
    return { skip: `no ${t.deb} sysroot at ${sysroot} (make it: node scripts/native-targets.mjs --prepare, as root)` };
  return { argv: [t.qemu, '-L', sysroot] };
}

function symbolCheck(t, file) {
  const sysroot = join(SYSROOTS, t.deb);
  const loader = `/lib/ld-musl-${t.musl}.so.1`;
  const run = runner(t, sysroot);
  if (run.skip) return { skip: run.skip };
  const loaderFile = run.argv.length ? join(sysroot, loader) : loader;
  if (!existsSync(loaderFile))
    return { skip: `no musl loader ${loaderFile} (Debian: musl${run.argv.length ? `:${t.deb} in the sysroot` : ''})` };
  const r = spawnSync(
    run.argv[0] ?? loader,
    [...run.argv.slice(1), ...(run.argv.length ? [loader] : []), '--list', file],
    { encoding: 'utf8' },
  );
  const missing = [...`${r.stdout}${r.stderr}`.matchAll(/Error relocating [^:]+: ([^:]+): symbol not found/g)]
    .map((m) => m[1])
    // Node-API and libuv come from the node binary, C++ runtime symbols from libstdc++/libgcc_s.
    .filter(
      (s) => !/^(napi_|node_api_|uv_|_Z|__cxa_|__gxx_|_Unwind_|__dynamic_cast|__gcc_personality|__once_)/.test(s),
    );
  return missing.length
    ? { ok: false, detail: `musl lacks ${missing.join(', ')}` }
    : { ok: true, detail: 'every C symbol it imports is in musl' };
}

const LOAD =
  'const [file, libc] = process.argv.slice(1); const m = { exports: {} }; process.dlopen(m, file); const lib = m.exports.load(libc); const getpid = lib.func("int getpid()"); console.log(JSON.stringify({ version: m.exports.version, arch: process.arch, node: process.version, getpid: getpid() === process.pid }));';

/** A musl armhf program that dlopens `file` as Node would (see the header); built once per addon. */
function dlopenCheck(t, file) {
  const sysroot = join(SYSROOTS, t.deb);
  const run = runner(t, sysroot);
  if (run.skip) return { skip: run.skip };
  if (!existsSync(join(sysroot, `lib/ld-musl-${t.musl}.so.1`)))
    return { skip: `no musl loader in ${sysroot} (Debian: musl:${t.deb}; --prepare --force adds it)` };
  const dir = join(file, '..');
  const harness = join(dir, 'dlopen-harness');
  if (!existsSync(harness)) {
    const syms = execFileSync('readelf', ['--dyn-syms', '-W', file], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[6] === 'UND' && /^(napi_|node_api_|uv_)/.test(f[7] ?? ''))
      .map((f) => f[7].replace(/@.*/, ''));
    const stubs = [...new Set(syms)].map((s) => `void ${s}(void) { abort(); }`).join('\n');
    const src = join(dir, 'dlopen-harness.c');
    writeFileSync(
      src,
      `#include <dlfcn.h>\n#include <stdio.h>\n#include <stdlib.h>\n${stubs}\nint main(int argc, char **argv) {\n  void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);\n  if (!h) { printf("dlopen: %s\\n", dlerror()); return 1; }\n  printf("%s\\n", dlsym(h, "napi_register_module_v1") ? "napi_register_module_v1" : "no Node-API entry");\n  return 0;\n}\n`,
    );
    execFileSync(
      zig(),
      ['build-exe', ...ZIG_TARGET, '-dynamic', '-rdynamic', '-lc', '-O', 'ReleaseSmall', src, `-femit-bin=${harness}`],
      { env: zigEnv(), cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
    );
  }
  const r = spawnSync(run.argv[0], [...run.argv.slice(1), harness, file], { encoding: 'utf8', timeout: 60_000 });
  const out = `${r.stdout}${r.stderr}`.trim();
  const ok = r.status === 0 && out === 'napi_register_module_v1';
  return {
    ok,
    detail: ok
      ? `dlopen(RTLD_NOW) in a musl process under ${t.qemu}: constructors ran, every symbol bound, Node-API entry exported (no Node for musl here to call it)`
      : `exit ${r.status}: ${out.split('\n').slice(0, 3).join(' | ')}`,
  };
}

const TWIN_RUN = `const [file] = process.argv.slice(1); const m = { exports: {} }; process.dlopen(m, file); const k = m.exports;
const libc = k.load('libc.so.6');
const getpid = libc.func('int getpid()');
const strtod = libc.func('double strtod(const char *s, void *end)');
const Cmp = k.proto('int Cmp(const void *a, const void *b)');
const qsort = libc.func('void qsort(_Inout_ void *base, size_t n, size_t size, Cmp *cmp)');
const ints = new Int32Array([5, 3, 9, 1]);
qsort(ints, ints.length, 4, (a, b) => k.decode(a, 'int') - k.decode(b, 'int'));
console.log(JSON.stringify({ version: k.version, node: process.version, getpid: getpid() === process.pid, strtod: strtod('2.75', null), qsort: [...ints] }));`;

/** Our recipe's glibc twin in Debian's armhf Node (see the header). */
function twinCheck(t) {
  const sysroot = join(SYSROOTS, t.deb);
  const run = runner(t, sysroot);
  if (run.skip) return { skip: run.skip };
  const built = spawnSync(process.execPath, [join(ROOT, 'scripts/build-koffi-musl-armhf.mjs'), '--twin'], {
    encoding: 'utf8',
  });
  if (built.status !== 0)
    return { ok: false, detail: `build: ${(built.stderr || built.stdout).trim().split('\n').slice(-3).join(' | ')}` };
  const r = spawnSync(run.argv[0], [...run.argv.slice(1), join(sysroot, 'usr/bin/node'), '-e', TWIN_RUN, TWIN], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  let got;
  try {
    got = JSON.parse(r.stdout.trim());
  } catch {
    return {
      ok: false,
      detail: `exit ${r.status}: ${(r.stderr || r.stdout).trim().split('\n').slice(0, 3).join(' | ')}`,
    };
  }
  const ok = got.version === KOFFI && got.getpid === true && got.strtod === 2.75 && got.qsort.join() === '1,3,5,9';
  return {
    ok,
    detail: `glibc twin in Node ${got.node} under ${t.qemu}: getpid ${got.getpid ? 'matches' : 'differs'}, strtod("2.75") = ${got.strtod}, qsort through a JS comparator = [${got.qsort}]`,
  };
}

function loadCheck(t, file) {
  if (t.ours) return dlopenCheck(t, file);
  if (t.libc === 'musl')
    return { skip: 'no Node.js for musl on this machine (Debian packages none): the ELF and symbol checks stand in' };
  const sysroot = join(SYSROOTS, t.deb);
  const run = runner(t, sysroot);
  if (run.skip) return { skip: run.skip };
  const node = run.argv.length ? join(sysroot, 'usr/bin/node') : process.execPath;
  const r = spawnSync(
    run.argv[0] ?? node,
    [...run.argv.slice(1), ...(run.argv.length ? [node] : []), '-e', LOAD, file, 'libc.so.6'],
    { encoding: 'utf8', timeout: 120_000 },
  );
  let got = null;
  try {
    got = JSON.parse(r.stdout.trim());
  } catch {
    return {
      ok: false,
      detail: `exit ${r.status}: ${(r.stderr || r.stdout).trim().split('\n').slice(0, 3).join(' | ')}`,
    };
  }
  const ok = got.version === KOFFI && got.getpid === true && got.arch === (t.arch === 'armv7' ? 'arm' : t.arch);
  return {
    ok,
    detail: `Node ${got.node} (${got.arch})${run.argv.length ? ` under ${t.qemu}` : ''}: koffi ${got.version}, getpid() through libc ${got.getpid ? 'matches' : 'does NOT match'} process.pid`,
  };
}

/** Runs every check; returns one row per target and check. */
export function checkTargets() {
  const rows = [];
  for (const t of TARGETS) {
    const name = `linux-${t.arch}-${t.libc}`;
    if (t.ours) {
      // Built once and cached (~40 s cold); the build prints why if this host cannot.
      const built = spawnSync(process.execPath, [join(ROOT, 'scripts/build-koffi-musl-armhf.mjs')], {
        encoding: 'utf8',
      });
      if (built.status !== 0 || !existsSync(OUR_MUSL_ARMHF)) {
        rows.push({
          target: name,
          check: 'exists',
          ok: false,
          detail: `scripts/build-koffi-musl-armhf.mjs: ${(built.stderr || built.stdout).trim().split('\n').slice(-3).join(' | ')}`,
        });
        continue;
      }
      // A koffi that ships the target itself makes ours redundant: the test's pattern then fails.
      let upstream = false;
      try {
        upstream = existsSync(join(koffiPackage(t.pkg), t.dir, 'koffi.node'));
      } catch {}
      const whose = upstream ? `koffi ${KOFFI} now ships ${t.dir} itself: drop ours` : `koffi ${KOFFI} has none`;
      rows.push({
        target: name,
        check: 'exists',
        ok: true,
        detail: `ours (${whose}): ${OUR_MUSL_ARMHF.slice(ROOT.length)}`,
      });
      checkFile(rows, name, t, OUR_MUSL_ARMHF);
      continue;
    }
    let dir;
    try {
      dir = koffiPackage(t.pkg);
    } catch (err) {
      rows.push({
        target: name,
        check: 'exists',
        ok: false,
        detail: `@koromix/koffi-linux-${t.pkg}@${KOFFI}: ${err.message.split('\n')[0]}`,
      });
      continue;
    }
    const file = join(dir, t.dir, 'koffi.node');
    if (!existsSync(file)) {
      rows.push({
        target: name,
        check: 'exists',
        ok: false,
        detail: `@koromix/koffi-linux-${t.pkg}@${KOFFI} has no ${t.dir}/ (it has ${readdirSync(dir)
          .filter((d) => existsSync(join(dir, d, 'koffi.node')))
          .join(', ')})`,
      });
      continue;
    }
    rows.push({
      target: name,
      check: 'exists',
      ok: true,
      detail: `@koromix/koffi-linux-${t.pkg}@${KOFFI}/${t.dir}/koffi.node`,
    });
    checkFile(rows, name, t, file);
  }
  return rows;
}

function checkFile(rows, name, t, file) {
  rows.push({ target: name, check: 'elf', ...elfCheck(t, file) });
  if (t.libc === 'musl') rows.push({ target: name, check: 'symbols', ...symbolCheck(t, file) });
  rows.push({ target: name, check: 'loads', ...loadCheck(t, file) });
  if (t.ours) rows.push({ target: name, check: 'twin', ...twinCheck(t) });
}

/** Debian bookworm's nodejs (with its libraries) and musl for each foreign arch, unpacked into a sysroot. */
function prepare() {
  if (process.getuid?.() !== 0) throw new Error('--prepare needs root (dpkg --add-architecture, apt-get update)');
  const foreign = execFileSync('dpkg', ['--print-foreign-architectures'], { encoding: 'utf8' }).split('\n');
  const debs = [...new Set(TARGETS.filter((t) => t.qemu).map((t) => t.deb))];
  const missing = debs.filter((d) => !foreign.includes(d));
  for (const d of missing) execFileSync('dpkg', ['--add-architecture', d], { stdio: 'inherit' });
  if (missing.length) execFileSync('apt-get', ['update', '-q'], { stdio: 'inherit' });
  for (const deb of debs) {
    if (existsSync(join(SYSROOTS, deb, 'usr/bin/node')) && !process.argv.includes('--force')) {
      console.log(`sysroot ${join(SYSROOTS, deb)}: already there (--force to make it again)`);
      continue;
    }
    const lines = execFileSync(
      'apt-cache',
      [
        'depends',
        '--recurse',
        '--no-recommends',
        '--no-suggests',
        '--no-conflicts',
        '--no-breaks',
        '--no-replaces',
        '--no-enhances',
        `nodejs:${deb}`,
        `musl:${deb}`,
      ],
      { encoding: 'utf8' },
    ).split('\n');
    const names = new Set(lines.filter((l) => /^[a-z0-9]/.test(l)));
    // Foreign-arch packages, and the architecture-independent ones (Node's externalised JS builtins).
    const plain = [...names].filter((n) => !n.includes(':'));
    const shown = execFileSync('apt-cache', ['show', '--no-all-versions', ...plain], { encoding: 'utf8' }).split(
      '\n\n',
    );
    const archAll = new Set(
      shown.filter((p) => /^Architecture: all$/m.test(p)).map((p) => /^Package: (\S+)$/m.exec(p)?.[1]),
    );
    const want = [...names].filter((n) => n.endsWith(`:${deb}`) || archAll.has(n));
    const dl = join(SYSROOTS, `${deb}.debs`);
    const root = join(SYSROOTS, deb);
    rmSync(root, { recursive: true, force: true });
    mkdirSync(dl, { recursive: true });
    execFileSync('apt-get', ['download', '-q', ...want], { cwd: dl, stdio: ['ignore', 'inherit', 'inherit'] });
    for (const f of readdirSync(dl).filter((f) => f.endsWith('.deb')))
      execFileSync('dpkg-deb', ['-x', join(dl, f), root]);
    // The foreign loader searches usr/lib/<triplet> but not lib/<triplet> without an ld.so.cache.
    const t = TARGETS.find((x) => x.deb === deb);
    cpSync(join(root, 'lib', t.triplet), join(root, 'usr/lib', t.triplet), {
      recursive: true,
      force: false,
      errorOnExist: false,
    });
    rmSync(dl, { recursive: true, force: true });
    console.log(`sysroot ${root}: ${want.length} packages`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--prepare')) prepare();
  else {
    const rows = checkTargets();
    if (process.argv.includes('--json')) console.log(JSON.stringify(rows));
    else
      for (const r of rows)
        console.log(
          `${r.skip ? 'SKIP' : r.ok ? 'ok  ' : 'FAIL'} ${r.target.padEnd(20)} ${r.check.padEnd(8)} ${r.skip ?? r.detail}`,
        );
    process.exitCode = rows.some((r) => !r.skip && !r.ok) ? 1 : 0;
  }
}

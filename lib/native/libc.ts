/**
 * libc through koffi, found by name so the same code runs on glibc and musl: `libc.so.6`
 * (glibc), then musl's `libc.musl-<arch>.so.1` (Alpine's name for its one libc/loader), then plain
 * `libc.so` (musl's own install name; on glibc it is a linker script, which is why it comes
 * last). One loader for the SDK (abstract bus sockets) and the daemon (netlink, packet and
 * bound sockets), so no caller hard-codes glibc's soname.
 *
 * koffi is an optional peer dependency of the SDK (an app that talks to a `unix:path=` bus
 * never needs a native addon), so it is imported only here, only when called, and its absence is
 * a {@link NativeModuleMissingError} rather than a crash at import time.
 */
import type KoffiModule from 'koffi';
import { NativeModuleMissingError } from '../errors.js';

/** The koffi module. */
export type Koffi = typeof KoffiModule;
/** A loaded shared library, as koffi returns it. */
export type KoffiLibrary = ReturnType<Koffi['load']>;
/** Loads koffi; injectable so that its absence can be tested without uninstalling it. */
export type KoffiImporter = () => Promise<Koffi>;

const MUSL_ARCH: Readonly<Record<string, string>> = {
  x64: 'x86_64',
  arm64: 'aarch64',
  arm: 'armhf',
  ia32: 'x86',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
};

/** Names tried in order; see the module comment. */
export function libcNames(arch: string = process.arch): string[] {
  const musl = MUSL_ARCH[arch];
  return ['libc.so.6', ...(musl ? [`libc.musl-${musl}.so.1`] : []), 'libc.so'];
}

/** The real import (a variable specifier would defeat bundlers; this one stays a literal). */
export const importKoffi: KoffiImporter = () => import('koffi').then((m) => m.default);

let loaded: Promise<{ koffi: Koffi; lib: KoffiLibrary }> | undefined;

async function open(importer: KoffiImporter): Promise<{ koffi: Koffi; lib: KoffiLibrary }> {
  let koffi: Koffi;
  try {
    koffi = await importer();
  } catch (err) {
    throw new NativeModuleMissingError(
      'koffi',
      `the optional package koffi cannot be loaded: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const problems: string[] = [];
  for (const name of libcNames()) {
    try {
      return { koffi, lib: koffi.load(name) };
    } catch (err) {
      problems.push(`${name}: ${(err as Error).message}`);
    }
  }
  throw new Error(`cannot load libc (${problems.join('; ')})`);
}

/**
 * koffi and libc, loaded once and lazily: a process that never needs them never loads the
 * native module. Each caller binds the functions it uses (koffi caches declarations). A failure
 * is not kept, so installing koffi later is noticed. `importer` replaces the import (tests).
 * @throws NativeModuleMissingError when koffi cannot be imported.
 * @throws Error naming every library name tried when none loads.
 */
export function loadLibcLibrary(importer: KoffiImporter = importKoffi): Promise<{ koffi: Koffi; lib: KoffiLibrary }> {
  if (importer !== importKoffi) return open(importer);
  if (!loaded) {
    const attempt = open(importer);
    loaded = attempt;
    attempt.catch(() => {
      if (loaded === attempt) loaded = undefined;
    });
  }
  return loaded;
}

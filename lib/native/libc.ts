/**
 * libc through koffi, found by name so the same code runs on glibc and musl: `libc.so.6`
 * (glibc), then musl's `libc.musl-<arch>.so.1` (Alpine's name for its one libc/loader), then plain
 * `libc.so` (musl's own install name; on glibc it is a linker script, which is why it comes
 * last). One loader for the SDK (abstract bus sockets) and the daemon (netlink, packet and
 * bound sockets), so no caller hard-codes glibc's soname.
 */
import type KoffiModule from 'koffi';

type Koffi = typeof KoffiModule;
/** A loaded shared library, as koffi returns it. */
export type KoffiLibrary = ReturnType<Koffi['load']>;

const MUSL_ARCH: Readonly<Record<string, string>> = { x64: 'x86_64', arm64: 'aarch64', arm: 'armhf', ia32: 'x86', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

/** Names tried in order; see the module comment. */
export function libcNames(arch: string = process.arch): string[] {
  const musl = MUSL_ARCH[arch];
  return ['libc.so.6', ...(musl ? [`libc.musl-${musl}.so.1`] : []), 'libc.so'];
}

let loaded: Promise<{ koffi: Koffi; lib: KoffiLibrary }> | undefined;

/**
 * koffi and libc, loaded once and lazily: a process that never needs them never loads the
 * native module. Each caller binds the functions it uses (koffi caches declarations).
 * @throws Error naming every library name tried when none loads.
 */
export function loadLibcLibrary(): Promise<{ koffi: Koffi; lib: KoffiLibrary }> {
  loaded ??= import('koffi').then(({ default: koffi }) => {
    const problems: string[] = [];
    for (const name of libcNames()) {
      try {
        return { koffi, lib: koffi.load(name) };
      } catch (err) {
        problems.push(`${name}: ${(err as Error).message}`);
      }
    }
    throw new Error(`cannot load libc (${problems.join('; ')})`);
  });
  return loaded;
}

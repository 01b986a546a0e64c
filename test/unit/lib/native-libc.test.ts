/**
 * koffi is the SDK's optional peer dependency: its absence is a typed error that says what to do,
 * never a crash at import time, and a later successful load is not blocked by an earlier failure.
 * The import is replaced through the loader's injectable importer (uninstalling koffi is not
 * needed to test the path without it); the real dbus-daemon side is in
 * test/integration/dbus-wire.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { connectAbstract } from '../../../lib/dbus/abstract-socket.js';
import { NativeModuleMissingError } from '../../../lib/errors.js';
import { loadLibcLibrary } from '../../../lib/native/libc.js';

const missing = () =>
  Promise.reject(
    Object.assign(new Error("Cannot find package 'koffi' imported from /app/node_modules/netsession"), {
      code: 'ERR_MODULE_NOT_FOUND',
    }),
  );

describe('the libc loader without koffi', () => {
  it('rejects with NativeModuleMissingError naming koffi and keeping the cause', async () => {
    const err = await loadLibcLibrary(missing).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NativeModuleMissingError);
    expect((err as NativeModuleMissingError).code).toBe('NS_ERR_NATIVE_MODULE_MISSING');
    expect((err as NativeModuleMissingError).module).toBe('koffi');
    expect(((err as Error).cause as { code: string }).code).toBe('ERR_MODULE_NOT_FOUND');
  });

  it('loads libc with the real koffi after a failed attempt', async () => {
    await expect(loadLibcLibrary(missing)).rejects.toBeInstanceOf(NativeModuleMissingError);
    const { koffi, lib } = await loadLibcLibrary();
    expect(typeof koffi.errno).toBe('function');
    expect(typeof lib.func).toBe('function');
  });

  it('an abstract bus socket says to install koffi or use a unix:path= address', async () => {
    const err = await connectAbstract('/netsession-test/nobody', missing).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NativeModuleMissingError);
    expect((err as Error).message).toMatch(
      /^the bus address unix:abstract=\/netsession-test\/nobody needs the optional package koffi .*install it \(npm install koffi\) or use a unix:path= bus address/,
    );
  });
});

import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  isValidStoreKey,
  openFileStore,
  removeStaleTemps,
  StoreKeyError,
  writeFileAtomic,
} from '../../../../../daemon/adapters/system/file-store.js';

const ROOT = resolve(import.meta.dirname, '../../../../..');
const tmp = mkdtempSync(join(tmpdir(), 'file-store-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
/** A fresh, not yet existing directory path under the test's temp dir. */
const freshDir = () => join(tmp, `d${++n}`);
/** Above Linux's PID_MAX_LIMIT (2^22): no process can have it, so its temps are stale. */
const DEAD_PID = 4_194_304 + 7;
const mode = (p: string) => statSync(p).mode & 0o777;

describe('FileStore', () => {
  it('round-trips values and reads a missing key as null', async () => {
    const store = await openFileStore(freshDir());
    expect(await store.read('settings')).toBeNull();
    await store.write('settings', 'one\n');
    expect(await store.read('settings')).toBe('one\n');
    await store.write('settings', '');
    expect(await store.read('settings')).toBe('');
    await store.write('settings', 'ünïcode ✓');
    expect(await store.read('settings')).toBe('ünïcode ✓');
    expect(readdirSync(store.dir)).toEqual(['settings']);
  });

  it('rejects keys that are not safe file names', async () => {
    const store = await openFileStore(freshDir());
    for (const key of [
      '',
      '.',
      '..',
      '../x',
      'a/b',
      '/etc/passwd',
      'a\0b',
      '.hidden',
      'x'.repeat(256),
      'sp ace',
      'new\nline',
    ]) {
      expect(isValidStoreKey(key)).toBe(false);
      await expect(store.write(key, 'v')).rejects.toBeInstanceOf(StoreKeyError);
      await expect(store.read(key)).rejects.toBeInstanceOf(StoreKeyError);
    }
    for (const key of ['settings', 'resolv.conf', 'service_ab12-x', 'x'.repeat(255)])
      expect(isValidStoreKey(key)).toBe(true);
    expect(readdirSync(store.dir)).toEqual([]);
  });

  it('serialises concurrent writes of a key: the last call wins and no value is mixed', async () => {
    const store = await openFileStore(freshDir());
    const values = Array.from({ length: 20 }, (_, i) => JSON.stringify({ i, pad: String(i).repeat(50_000) }));
    const reads: Array<Promise<string | null>> = [];
    await Promise.all(values.map((v, i) => (i === 10 && reads.push(store.read('k')), store.write('k', v))));
    expect(await store.read('k')).toBe(values[19]);
    // A read issued after write #9 sees it (or a later one), never a torn value.
    const mid = JSON.parse((await reads[0])!) as { i: number; pad: string };
    expect(mid.i).toBeGreaterThanOrEqual(9);
    expect(mid.pad).toBe(String(mid.i).repeat(50_000));
    expect(readdirSync(store.dir)).toEqual(['k']);
  });

  it('a failed write removes its temp and does not wedge later writes of the key', async () => {
    const dir = freshDir();
    const store = await openFileStore(dir);
    // A directory at the key's path makes the rename fail, even for root.
    mkdirSync(join(dir, 'k', 'sub'), { recursive: true });
    const first = store.write('k', 'lost');
    const second = store.write('k', 'lost too');
    await expect(first).rejects.toThrow();
    await expect(second).rejects.toThrow();
    expect(readdirSync(dir)).toEqual(['k']);
    rmSync(join(dir, 'k'), { recursive: true });
    await store.write('k', 'landed');
    expect(await store.read('k')).toBe('landed');
    expect(readdirSync(dir)).toEqual(['k']);
  });

  it('starts fine after a crash mid-write: the target keeps the old value and stale temps go', async () => {
    const dir = freshDir();
    mkdirSync(dir);
    writeFileSync(join(dir, 'settings'), '{"old":true}');
    // A complete temp (crash before rename) and a truncated one (crash mid-write).
    writeFileSync(join(dir, `.settings.${DEAD_PID}.0a1b2c.tmp`), '{"new":true}');
    writeFileSync(join(dir, `.settings.${DEAD_PID}.ffee00.tmp`), '{"ne');
    // A temp of a live writer (this process) may be in flight; other files are not the store's.
    writeFileSync(join(dir, `.settings.${process.pid}.123456.tmp`), 'in flight');
    writeFileSync(join(dir, 'notes.txt'), 'kept');
    const store = await openFileStore(dir);
    expect(readdirSync(dir).sort()).toEqual([`.settings.${process.pid}.123456.tmp`, 'notes.txt', 'settings']);
    expect(await store.read('settings')).toBe('{"old":true}');
    await store.write('settings', '{"newer":true}');
    expect(await store.read('settings')).toBe('{"newer":true}');
    expect(await removeStaleTemps(dir)).toEqual([]);
  });

  it('creates the directory 0700 (tightening an existing one) and files 0600', async () => {
    const dir = join(freshDir(), 'nested', 'state');
    const store = await openFileStore(dir);
    expect(mode(dir)).toBe(0o700);
    await store.write('k', 'v');
    expect(mode(join(dir, 'k'))).toBe(0o600);
    chmodSync(dir, 0o755);
    await openFileStore(dir);
    expect(mode(dir)).toBe(0o700);
  });

  it('writeFileAtomic honours the requested mode and leaves no temp behind', async () => {
    const dir = freshDir();
    mkdirSync(dir);
    const p = join(dir, 'resolv.conf');
    await writeFileAtomic(p, 'a', { mode: 0o644 });
    expect(mode(p)).toBe(0o644);
    expect(readFileSync(p, 'utf8')).toBe('a');
    await expect(writeFileAtomic(join(dir, 'missing-dir', 'x'), 'a')).rejects.toThrow();
    expect(readdirSync(dir)).toEqual(['resolv.conf']);
  });
});

/** A child that writes ever larger sequence numbers with a 1 MiB pad, forever. */
const CHILD = `
import { openFileStore } from ${JSON.stringify(pathToFileURL(join(ROOT, 'daemon/adapters/system/file-store.ts')).href)};
const [dir, start] = process.argv.slice(2);
const store = await openFileStore(dir);
const pad = 'p'.repeat(1 << 20);
for (let seq = Number(start) + 1; ; seq++) {
  await store.write('big', JSON.stringify({ seq, pad }));
  if (seq === Number(start) + 2) process.stdout.write('writing\\n');
}
`;

function runAndKill(script: string, dir: string, start: number): Promise<void> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, dir, String(start)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.once('data', () => {
      // A random moment inside the write loop (each write takes about a millisecond or more).
      setTimeout(() => child.kill('SIGKILL'), Math.random() * 40);
    });
    child.on('error', rej);
    child.on('exit', (_code, signal) =>
      signal === 'SIGKILL' ? res() : rej(new Error(`child exited without being killed: ${err}`)),
    );
  });
}

describe('FileStore under SIGKILL', () => {
  it('after each kill the key holds a complete value, and the store reopens cleanly', async () => {
    const dir = freshDir();
    mkdirSync(dir);
    const script = join(tmp, 'crash-writer.mjs');
    writeFileSync(script, CHILD);
    let last = 0;
    let torn = 0;
    for (let round = 0; round < 5; round++) {
      await runAndKill(script, dir, last);
      torn += (await removeStaleTemps(dir)).length;
      // The value is over the default 1 MiB read cap on purpose (a long write is likelier to be cut).
      const store = await openFileStore(dir, { maxFileBytes: 4 << 20 });
      const v = JSON.parse((await store.read('big'))!) as { seq: number; pad: string };
      expect(v.pad.length).toBe(1 << 20);
      // Never older than what the child had already reported written (start + 2).
      expect(v.seq).toBeGreaterThanOrEqual(last + 2);
      last = v.seq;
      expect(readdirSync(dir)).toEqual(['big']);
    }
    // How often a kill landed mid-write varies from run to run; it is reported, not asserted.
    console.log(`crash test: ${torn} of 5 kills left a temp file behind`);
  }, 30_000);
});

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  FileRefusedError,
  readCappedFile,
  readCappedFileSync,
} from '../../../../../daemon/adapters/files/capped-read.js';
import { createLogger, isJournalStream } from '../../../../../daemon/adapters/system/logger.js';

const dir = mkdtempSync(join(tmpdir(), 'ns-capped-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function refusal(path: string, max = 1024): Promise<string> {
  const a = await readCappedFile(path, max).then(
    () => 'read',
    (e: Error) => (e instanceof FileRefusedError ? e.detail : ((e as NodeJS.ErrnoException).code ?? e.message)),
  );
  let b: string;
  try {
    readCappedFileSync(path, max);
    b = 'read';
  } catch (e) {
    b = e instanceof FileRefusedError ? e.detail : ((e as NodeJS.ErrnoException).code ?? (e as Error).message);
  }
  // The sync and async readers must agree on every case.
  expect(b).toBe(a);
  return a;
}

describe('capped file reads', () => {
  it('reads a regular file (also through a symlink) and gives null for a missing one', async () => {
    writeFileSync(join(dir, 'ok'), 'héllo');
    symlinkSync(join(dir, 'ok'), join(dir, 'ok-link'));
    expect(await readCappedFile(join(dir, 'ok-link'))).toBe('héllo');
    expect(readCappedFileSync(join(dir, 'ok'))).toBe('héllo');
    expect(await readCappedFile(join(dir, 'missing'))).toBeNull();
    expect(readCappedFileSync(join(dir, 'missing'))).toBeNull();
  });

  it('refuses a FIFO at once (no writer needed), a device behind a symlink, a directory, a loop, big and non-UTF-8 files', async () => {
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    symlinkSync('/dev/zero', join(dir, 'zero'));
    mkdirSync(join(dir, 'sub'));
    symlinkSync(join(dir, 'loop-b'), join(dir, 'loop-a'));
    symlinkSync(join(dir, 'loop-a'), join(dir, 'loop-b'));
    writeFileSync(join(dir, 'big'), 'x'.repeat(1025));
    writeFileSync(join(dir, 'edge'), 'x'.repeat(1024));
    writeFileSync(join(dir, 'bin'), Buffer.from([0xff, 0xfe, 0x00, 0x80]));
    const t0 = Date.now();
    expect(await refusal(join(dir, 'fifo'))).toBe('a FIFO, not a regular file');
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(await refusal(join(dir, 'zero'))).toBe('a character device, not a regular file');
    expect(await refusal(join(dir, 'sub'))).toBe('a directory, not a regular file');
    expect(await refusal(join(dir, 'loop-a'))).toBe('ELOOP');
    expect(await refusal(join(dir, 'big'))).toBe('1025 bytes is over MaxFileSize 1024 (--max-file-size)');
    expect(await refusal(join(dir, 'edge'))).toBe('read');
    expect(await refusal(join(dir, 'bin'))).toBe('not UTF-8 text');
  });
});

describe('daemon log lines', () => {
  it('filter by level; carry <N> syslog priorities only for the journal', () => {
    const lines: string[] = [];
    const plain = createLogger({ level: 'info', journal: false, write: (l) => lines.push(l) });
    plain('debug', 'd');
    plain('info', 'i');
    plain('error', 'e');
    const journal = createLogger({ level: 'debug', journal: true, write: (l) => lines.push(l) });
    journal('debug', 'd');
    journal('warn', 'w');
    expect(lines).toEqual(['netsessiond info: i\n', 'netsessiond error: e\n', '<7>debug: d\n', '<4>warn: w\n']);
  });

  it('knows the journal only by the dev:ino of the very stream', () => {
    expect(isJournalStream(undefined)).toBe(false);
    expect(isJournalStream('garbage')).toBe(false);
    expect(isJournalStream('1:1')).toBe(false);
  });
});

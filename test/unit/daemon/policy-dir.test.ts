import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createPolicyDir } from '../../../daemon/adapters/policy-dir/policy-dir.js';
import { until } from '../../fakes/until.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('policy directory source', () => {
  it('delivers existing files at start, then changes, deletions, and never a half-written file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ns-pol-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'a.policy'), '[a]\nuid=1\n');
    writeFileSync(join(dir, '.hidden.policy'), 'x');
    writeFileSync(join(dir, 'notes.txt'), 'x');
    const seen: Array<[string, string | null]> = [];
    const src = createPolicyDir(dir, () => {}, 50);
    await src.start((f, t) => seen.push([f, t]));
    expect(seen).toEqual([['a.policy', '[a]\nuid=1\n']]);

    // Truncate, pause, then write: an in-place editor. Only the final text may arrive.
    const fd = openSync(join(dir, 'a.policy'), 'r+');
    ftruncateSync(fd, 0);
    await new Promise((r) => setTimeout(r, 10));
    writeSync(fd, '[a]\nuid=2\n', 0);
    closeSync(fd);
    await until(() => seen.length === 2);
    expect(seen[1]).toEqual(['a.policy', '[a]\nuid=2\n']);

    rmSync(join(dir, 'a.policy'));
    await until(() => seen.length === 3);
    expect(seen[2]).toEqual(['a.policy', null]);
    await src.stop();
  });
});

describe('policy directory caps', () => {
  it('holds at most maxFiles files, refuses unreadable ones in one line each, and keeps the previous version of a file turned bad', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ns-polcap-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'a.policy'), '[a]\nuid=1\n');
    writeFileSync(join(dir, 'b.policy'), '[b]\nuid=2\n');
    writeFileSync(join(dir, 'c.policy'), '[c]\nuid=3\n');
    const logs: string[] = [];
    const seen: Array<[string, string | null]> = [];
    const src = createPolicyDir(dir, (level, msg) => logs.push(`${level} ${msg}`), 30, {
      maxFiles: 2,
      maxFileBytes: 64,
    });
    await src.start((f, t) => seen.push([f, t]));
    expect(seen.map(([f]) => f)).toEqual(['a.policy', 'b.policy']);
    expect(logs.filter((l) => l.includes('file(s) not loaded'))).toEqual([
      expect.stringMatching(
        /1 file\(s\) not loaded from .*, from c\.policy on: 3 files is over MaxDirFiles 2 \(--max-dir-files\)/,
      ),
    ]);
    // a.policy grows past the size cap: refused, its previous version is not withdrawn.
    writeFileSync(join(dir, 'a.policy'), `[a]\nuid=1\n#${'x'.repeat(100)}\n`);
    await until(() => logs.some((l) => l.includes('a.policy') && l.includes('over MaxFileSize 64')));
    expect(seen.filter(([f]) => f === 'a.policy')).toHaveLength(1);
    await src.stop();
  });
});

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createProvisioningDir } from '../../../daemon/adapters/policy-dir/provisioning-dir.js';
import type { PolicySource } from '../../../daemon/ports.js';
import { until } from '../../fakes/until.js';

const dirs: string[] = [];
const sources: PolicySource[] = [];
afterEach(async () => {
  for (const s of sources.splice(0)) await s.stop();
  dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ns-prov-'));
  dirs.push(dir);
  return dir;
}

describe('provisioning directory source', () => {
  it('delivers only *.config files with a plain name, sorted, at start; logs unreadable ones under its label', async () => {
    const dir = tempDir();
    for (const name of [
      'b.config',
      'a.config',
      'Z9.config',
      'a.policy',
      'a-b.config',
      '.config',
      'a.config~',
      'notes.txt',
    ]) {
      writeFileSync(join(dir, name), `# ${name}\n`);
    }
    mkdirSync(join(dir, 'd.config'));
    const logs: string[] = [];
    const seen: Array<[string, string | null]> = [];
    const src = createProvisioningDir(dir, (level, msg) => logs.push(`${level} ${msg}`), 30);
    sources.push(src);
    await src.start((f, t) => seen.push([f, t]));
    expect(seen).toEqual([
      ['Z9.config', '# Z9.config\n'],
      ['a.config', '# a.config\n'],
      ['b.config', '# b.config\n'],
    ]);
    expect(
      logs.filter(
        (l) =>
          l.startsWith('error provisioning rejected, previous version kept:') &&
          l.includes('d.config: a directory, not a regular file'),
      ),
    ).toHaveLength(1);
    expect(logs.filter((l) => l.startsWith('info provisioning: ignoring 4 file(s)'))).toHaveLength(1);
  });

  it('creates a missing directory', async () => {
    const dir = join(tempDir(), 'sub', 'dir');
    const seen: Array<[string, string | null]> = [];
    const src = createProvisioningDir(dir, () => {}, 30);
    sources.push(src);
    await src.start((f, t) => seen.push([f, t]));
    expect(seen).toEqual([]);
    writeFileSync(join(dir, 'new.config'), 'x\n');
    await until(() => seen.length === 1);
    expect(seen).toEqual([['new.config', 'x\n']]);
  });

  it('delivers a burst of writes once, after settling, with the final text; ignores other names; a deletion delivers null', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.config'), 'v1\n');
    const seen: Array<[string, string | null]> = [];
    const src = createProvisioningDir(dir, () => {}, 50);
    sources.push(src);
    await src.start((f, t) => seen.push([f, t]));
    expect(seen).toEqual([['a.config', 'v1\n']]);

    // Three writes back to back fall into one settle window: only the last text may arrive.
    writeFileSync(join(dir, 'a.config'), 'v2\n');
    writeFileSync(join(dir, 'a.config'), 'v3\n');
    writeFileSync(join(dir, 'a.config'), 'v4\n');
    writeFileSync(join(dir, 'a.policy'), 'ignored\n');
    writeFileSync(join(dir, 'a-b.config'), 'ignored\n');
    await until(() => seen.length > 1);
    // Rewriting the same text is not a change; a later marker file shows nothing else was queued.
    writeFileSync(join(dir, 'a.config'), 'v4\n');
    writeFileSync(join(dir, 'marker.config'), 'm\n');
    await until(() => seen.some(([f]) => f === 'marker.config'));
    expect(seen).toEqual([
      ['a.config', 'v1\n'],
      ['a.config', 'v4\n'],
      ['marker.config', 'm\n'],
    ]);

    rmSync(join(dir, 'a.config'));
    await until(() => seen.length === 4);
    expect(seen[3]).toEqual(['a.config', null]);
  });
});

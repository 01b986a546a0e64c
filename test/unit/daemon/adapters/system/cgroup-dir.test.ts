import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createCgroupDirectory } from '../../../../../daemon/adapters/system/cgroup-dir.js';

const tmp = mkdtempSync(join(tmpdir(), 'cgdir-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A mountinfo line that mounts cgroup2 (root `/`) at `dir`. */
const cgroup2At = (dir: string) => `41 31 0:38 / ${dir} rw,relatime - cgroup2 cgroup2 rw\n`;

describe('CgroupDirectory', () => {
  it('reports the owner of the directory under the cgroup2 mount', async () => {
    mkdirSync(join(tmp, 'app', 'x'), { recursive: true });
    const dir = createCgroupDirectory({ readMountinfo: async () => cgroup2At(tmp) });
    expect(await dir.ownerOf('/app/x')).toBe(process.getuid!());
    expect(await dir.ownerOf('/app/missing')).toBeNull();
  });

  it('does not follow symlinks and refuses paths that leave the mount', async () => {
    symlinkSync(join(tmp, 'app'), join(tmp, 'link'));
    const seen: string[] = [];
    const dir = createCgroupDirectory({ readMountinfo: async () => cgroup2At(tmp) });
    expect(await dir.ownerOf('/link')).toBeNull();
    const spy = createCgroupDirectory({
      readMountinfo: async () => cgroup2At(tmp),
      dirOwner: async (d) => (seen.push(d), 0),
    });
    expect(await spy.ownerOf('/../etc')).toBeNull();
    expect(await spy.ownerOf('/')).toBeNull();
    expect(seen).toEqual([]);
  });

  it('knows no cgroup when cgroup2 is not mounted', async () => {
    const dir = createCgroupDirectory({
      readMountinfo: async () => '22 1 0:21 / /sys rw - sysfs sysfs rw\n',
      dirOwner: async () => 0,
    });
    expect(await dir.ownerOf('/a')).toBeNull();
  });
});

import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cgroupV2Path, createIdentityResolver } from '../../../daemon/adapters/system/identity.js';

describe('identity resolver', () => {
  it('names users and groups from the account files and reads the cgroupv2 path', async () => {
    const d = mkdtempSync(join(tmpdir(), 'ns-id-'));
    writeFileSync(join(d, 'passwd'), 'root:x:0:0::/root:/bin/sh\nalice:x:1001:1001::/home/alice:/bin/sh\n');
    writeFileSync(join(d, 'group'), 'root:x:0:\nalice:x:1001:\nstaff:x:2000:alice\n');
    mkdirSync(join(d, 'proc', '42'), { recursive: true });
    writeFileSync(join(d, 'proc', '42', 'cgroup'), '0::/system.slice/app.service\n');
    const r = createIdentityResolver({ passwd: join(d, 'passwd'), group: join(d, 'group'), proc: join(d, 'proc') });
    expect(await r.resolve({ sender: ':1.1', uid: 1001, gids: [1001, 2000, 3000], pid: 42 })).toEqual({
      uid: 1001,
      user: 'alice',
      groups: [{ gid: 1001, name: 'alice' }, { gid: 2000, name: 'staff' }, { gid: 3000 }],
      pid: 42,
      cgroup: '/system.slice/app.service',
    });
    // A vanished caller has no cgroup, and an unknown uid no name; neither is an error.
    expect(await r.resolve({ sender: ':1.2', uid: 4242, gids: [], pid: 99 })).toEqual({
      uid: 4242,
      groups: [],
      pid: 99,
    });
  });
  it('parses only the v2 line of /proc/<pid>/cgroup', () => {
    expect(cgroupV2Path('12:cpu:/x\n0::/user.slice/u.scope\n')).toBe('/user.slice/u.scope');
    expect(cgroupV2Path('12:cpu:/x\n')).toBeUndefined();
  });
});

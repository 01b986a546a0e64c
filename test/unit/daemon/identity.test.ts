import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cgroupV2Path, createIdentityResolver, RECHECK_MS } from '../../../daemon/adapters/system/identity.js';

describe('identity resolver', () => {
  it('names users and groups from the account files and reads the cgroupv2 path', async () => {
    const d = mkdtempSync(join(tmpdir(), 'ns-id-'));
    writeFileSync(join(d, 'passwd'), 'root:x:0:0::/root:/bin/sh\nalice:x:1001:1001::/home/alice:/bin/sh\n');
    writeFileSync(join(d, 'group'), 'root:x:0:\nalice:x:1001:\nstaff:x:2000:alice\n');
    mkdirSync(join(d, 'proc', '42'), { recursive: true });
    writeFileSync(join(d, 'proc', '42', 'cgroup'), '0::/system.slice/app.service\n');
    const r = createIdentityResolver({ passwd: join(d, 'passwd'), group: join(d, 'group'), proc: join(d, 'proc') });
    expect(r.resolve({ sender: ':1.1', uid: 1001, gids: [1001, 2000, 3000], pid: 42 })).toEqual({
      uid: 1001,
      user: 'alice',
      groups: [{ gid: 1001, name: 'alice' }, { gid: 2000, name: 'staff' }, { gid: 3000 }],
      pid: 42,
      cgroup: '/system.slice/app.service',
    });
    // A vanished caller has no cgroup, and an unknown uid no name; neither is an error.
    expect(r.resolve({ sender: ':1.2', uid: 4242, gids: [], pid: 99 })).toEqual({
      uid: 4242,
      groups: [],
      pid: 99,
    });
  });
  it('sees renamed users and groups within RECHECK_MS, without asking the file system on every call', async () => {
    const d = mkdtempSync(join(tmpdir(), 'ns-id-'));
    const passwd = join(d, 'passwd');
    const group = join(d, 'group');
    writeFileSync(passwd, 'alice:x:1001:1001::/home/alice:/bin/sh\n');
    writeFileSync(group, 'alice:x:1001:\n');
    let t = 0;
    const r = createIdentityResolver({ passwd, group, proc: join(d, 'proc'), now: () => t });
    const caller = { sender: ':1.1', uid: 1001, gids: [1001], pid: undefined };
    expect(r.resolve(caller)).toMatchObject({ user: 'alice', groups: [{ gid: 1001, name: 'alice' }] });
    // Renamed as useradd/usermod do it: a new file moved over the old one.
    writeFileSync(join(d, 'passwd.new'), 'carol:x:1001:1001::/home/carol:/bin/sh\n');
    renameSync(join(d, 'passwd.new'), passwd);
    writeFileSync(join(d, 'group.new'), 'devs:x:1001:\n');
    renameSync(join(d, 'group.new'), group);
    // Within the window the cached names still answer (no stat on this call)...
    t = RECHECK_MS - 1;
    expect(r.resolve(caller)).toMatchObject({ user: 'alice', groups: [{ gid: 1001, name: 'alice' }] });
    // ...and once it has passed, the new names do.
    t = RECHECK_MS;
    expect(r.resolve(caller)).toMatchObject({ user: 'carol', groups: [{ gid: 1001, name: 'devs' }] });
    // An edit in place (same inode) is seen too, and a removed file leaves ids without names.
    writeFileSync(passwd, 'dave:x:1001:1001::/home/dave:/bin/sh\nxx:x:1:1::/:/bin/sh\n');
    t = 2 * RECHECK_MS;
    expect(r.resolve(caller).user).toBe('dave');
    writeFileSync(group, '');
    t = 3 * RECHECK_MS;
    expect(r.resolve(caller).groups).toEqual([{ gid: 1001 }]);
  });
  it("reads a caller's cgroup again on every call, and a caller that exited has none (real /proc)", async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const pid = child.pid!;
    const r = createIdentityResolver();
    const caller = { sender: ':1.3', uid: 0, gids: [0], pid };
    const own = cgroupV2Path(readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
    expect(r.resolve(caller).cgroup).toBe(own);
    expect(r.resolve(caller).cgroup).toBe(own);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    // Reaped: its kept /proc file reads nothing and the path is gone; no cgroup, no error.
    expect(r.resolve(caller).cgroup).toBeUndefined();
  });

  it('sees a caller moved to another cgroup (the file read again from its start)', async () => {
    const d = mkdtempSync(join(tmpdir(), 'ns-id-'));
    mkdirSync(join(d, 'proc', '7'), { recursive: true });
    const file = join(d, 'proc', '7', 'cgroup');
    writeFileSync(file, '0::/a.slice/one.scope\n');
    const r = createIdentityResolver({ passwd: join(d, 'x'), group: join(d, 'y'), proc: join(d, 'proc') });
    const caller = { sender: ':1.4', uid: 0, gids: [], pid: 7 };
    expect(r.resolve(caller).cgroup).toBe('/a.slice/one.scope');
    writeFileSync(file, '0::/b.slice/two.scope\n');
    expect(r.resolve(caller).cgroup).toBe('/b.slice/two.scope');
  });

  it('leaves the cgroup out when asked to (the runtime reads it after the reply), and cgroupOf reads it alone', () => {
    const d = mkdtempSync(join(tmpdir(), 'ns-id-'));
    mkdirSync(join(d, 'proc', '8'), { recursive: true });
    writeFileSync(join(d, 'proc', '8', 'cgroup'), '0::/c.slice/three.scope\n');
    const r = createIdentityResolver({ passwd: join(d, 'x'), group: join(d, 'y'), proc: join(d, 'proc') });
    const caller = { sender: ':1.5', uid: 0, gids: [], pid: 8 };
    const id = r.resolve(caller, { cgroup: false });
    expect(id).toEqual({ uid: 0, groups: [], pid: 8 });
    expect(r.cgroupOf(8)).toBe('/c.slice/three.scope');
    expect(r.cgroupOf(9)).toBeUndefined();
  });

  it('parses only the v2 line of /proc/<pid>/cgroup', () => {
    expect(cgroupV2Path('12:cpu:/x\n0::/user.slice/u.scope\n')).toBe('/user.slice/u.scope');
    expect(cgroupV2Path('12:cpu:/x\n')).toBeUndefined();
  });
});

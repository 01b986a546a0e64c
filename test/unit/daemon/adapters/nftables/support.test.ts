import { describe, expect, it } from 'vitest';
import {
  cgroupComponents,
  createCgroupResolver,
  findCgroup2Mount,
} from '../../../../../daemon/adapters/firewall/cgroup.js';
import { parseCounters } from '../../../../../daemon/adapters/nftables/counters.js';
import { summariseNftError } from '../../../../../daemon/adapters/nftables/nft.js';

const HYBRID = [
  '22 1 0:21 / /sys rw,nosuid shared:7 - sysfs sysfs rw',
  '30 22 0:26 / /sys/fs/cgroup ro shared:9 - tmpfs tmpfs ro,mode=755',
  '31 30 0:27 / /sys/fs/cgroup/unified rw shared:10 - cgroup2 cgroup2 rw,nsdelegate',
  '32 30 0:28 / /sys/fs/cgroup/systemd rw shared:11 - cgroup cgroup rw,name=systemd',
].join('\n');
const PURE = '30 22 0:26 / /sys/fs/cgroup rw shared:9 - cgroup2 cgroup2 rw,nsdelegate';
const ELSEWHERE = '40 1 0:30 / /mnt/cg\\0402 rw - cgroup2 none rw';

describe('cgroup resolution for nft', () => {
  it('finds the cgroup2 mount (pure, hybrid, elsewhere, none)', () => {
    expect(findCgroup2Mount(PURE)).toBe('/sys/fs/cgroup');
    expect(findCgroup2Mount(HYBRID)).toBe('/sys/fs/cgroup/unified');
    expect(findCgroup2Mount(ELSEWHERE)).toBe('/mnt/cg 2');
    expect(findCgroup2Mount('93 79 0:41 / /sys rw,relatime - sysfs ns rw')).toBeNull();
    // A bind mount of a sub-tree is not the hierarchy's root.
    expect(findCgroup2Mount('50 1 0:27 /sub /x rw - cgroup2 cgroup2 rw')).toBeNull();
  });

  it('gives nft the path relative to /sys/fs/cgroup, the id and the level', () => {
    const seen: string[] = [];
    const inodeOf = (dir: string) => {
      seen.push(dir);
      return dir.endsWith('/gone') ? null : '4242';
    };
    expect(createCgroupResolver({ mountinfo: PURE, inodeOf })('/system.slice/app.service')).toEqual({
      id: '4242',
      nftPath: 'system.slice/app.service',
      level: 2,
    });
    expect(createCgroupResolver({ mountinfo: HYBRID, inodeOf })('/a')).toEqual({
      id: '4242',
      nftPath: 'unified/a',
      level: 1,
    });
    expect(createCgroupResolver({ mountinfo: ELSEWHERE, inodeOf })('/a/b')).toEqual({
      id: '4242',
      nftPath: '../../../mnt/cg 2/a/b',
      level: 2,
    });
    expect(createCgroupResolver({ mountinfo: PURE, inodeOf })('/')).toEqual({ id: '4242', nftPath: '.', level: 0 });
    expect(createCgroupResolver({ mountinfo: PURE, inodeOf })('/gone')).toBeNull();
    expect(createCgroupResolver({ mountinfo: '', inodeOf })('/a')).toBeNull();
    expect(seen).toContain('/sys/fs/cgroup/unified/a');
  });

  it('refuses relative paths, dot segments and characters nft cannot quote', () => {
    expect(cgroupComponents('a/b')).toBeNull();
    expect(cgroupComponents('/a/../b')).toBeNull();
    expect(cgroupComponents('/a"b')).toBeNull();
    expect(cgroupComponents('//a//b/')).toEqual(['a', 'b']);
  });
});

describe('counters', () => {
  it('maps tx_/rx_ counters to sessions, exactly beyond 2^53', () => {
    const json = `{"nftables": [{"metainfo": {}}, {"counter": {"family": "inet", "name": "tx_s1", "table": "netsession", "handle": 1, "packets": 3, "bytes": 18446744073709551615}},
      {"counter": {"family": "inet", "name": "rx_s1", "table": "netsession", "handle": 2, "packets": 9007199254740993, "bytes": 100}},
      {"counter": {"family": "inet", "name": "rx_s2", "table": "netsession", "handle": 3, "packets": 1, "bytes": 60}},
      {"counter": {"family": "inet", "name": "tx_s9", "table": "other", "handle": 3, "packets": 1, "bytes": 60}},
      {"counter": {"family": "inet", "name": "stray", "table": "netsession", "handle": 4, "packets": 1, "bytes": 1}}]}`;
    const m = parseCounters(json, 'netsession');
    expect([...m.keys()]).toEqual(['s1', 's2']);
    expect(m.get('s1')).toEqual({
      txBytes: 18446744073709551615n,
      txPackets: 3n,
      rxBytes: 100n,
      rxPackets: 9007199254740993n,
    });
    expect(m.get('s2')).toEqual({ txBytes: 0n, txPackets: 0n, rxBytes: 60n, rxPackets: 1n });
  });
});

describe('nft error messages', () => {
  it('keeps the first error and the command it points at, on one line', () => {
    const stderr = [
      'Error: Could not process rule: No such file or directory',
      'add element inet t uid2 { 5 : goto s_nonexist }',
      '                          ^',
      'Error: second',
    ].join('\n');
    expect(summariseNftError(stderr, 1)).toBe(
      'nft: Could not process rule: No such file or directory (in: add element inet t uid2 { 5 : goto s_nonexist })',
    );
    expect(summariseNftError('/dev/shm/x.nft:3:1-9: Error: syntax error, unexpected foo\nfoo bar\n^^^\n', 1)).toBe(
      'nft: syntax error, unexpected foo (in: foo bar)',
    );
    expect(summariseNftError('', null)).toBe('nft failed (killed)');
    expect(summariseNftError('weird\n', 2)).toBe('nft failed (exit 2): weird');
  });
});

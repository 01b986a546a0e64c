/** netsessionctl's output formatting and the run cgroup plan (pure functions). */
import { describe, expect, it } from 'vitest';
import { cgroup2Mounts, ownCgroup, planRunCgroup } from '../../../bin/cli/cgroup.js';
import {
  formatServices,
  formatSessions,
  formatState,
  formatStats,
  formatTechnologies,
  formatUpdate,
  formatUplink,
  humanBytes,
  table,
  toJson,
} from '../../../bin/cli/format.js';
import type { SessionInfo, SessionListEntry } from '../../../lib/index.js';
import { NO_UPLINK_PROPERTIES } from '../../../lib/uplink-props.js';

const INFO: SessionInfo = {
  state: 'online',
  name: 'eth-c',
  ipv4: { method: 'manual', address: '198.51.100.26', netmask: '255.255.255.248' },
  ipv6: { method: 'manual', address: '2001:db8:3::2', prefixLength: 64 },
  interface: 'eth-c',
  bearer: 'cellular',
  connectionType: 'any',
  allowedBearers: ['cellular'],
  allowedInterface: 'eth-c',
  contextIdentifier: '',
  sourceIPRule: false,
  ...NO_UPLINK_PROPERTIES,
};

describe('formatting', () => {
  it('toJson writes counters as numbers, huge ones as strings', () => {
    expect(toJson({ a: 5n, b: 2n ** 60n, c: 'x' })).toBe('{"a":5,"b":"1152921504606846976","c":"x"}');
  });

  it('table pads columns and trims line ends', () => {
    expect(
      table(
        ['A', 'BB'],
        [
          ['xxx', 'y'],
          ['z', ''],
        ],
      ),
    ).toBe('A    BB\nxxx  y\nz');
  });

  it('humanBytes', () => {
    expect(humanBytes(0n)).toBe('0 B');
    expect(humanBytes(1023)).toBe('1023 B');
    expect(humanBytes(1536n)).toBe('1.5 KiB');
    expect(humanBytes(5 * 1024 * 1024)).toBe('5.0 MiB');
    expect(humanBytes(null)).toBe('-');
  });

  it('state, services and technologies', () => {
    expect(formatState({ state: 'online', offlineMode: false, sessionMode: false })).toBe(
      'State:        online\nOfflineMode:  off',
    );
    const services = formatServices([
      {
        path: '/net/connman/service/ethernet_020000000001_cable',
        name: 'eth-a',
        interface: 'eth-a',
        bearer: 'ethernet',
        state: 'online',
        ipv4: null,
        ipv6: null,
        ...NO_UPLINK_PROPERTIES,
      },
      {
        path: '/net/connman/service/x',
        name: '',
        interface: null,
        bearer: null,
        state: 'idle',
        ipv4: null,
        ipv6: null,
        ...NO_UPLINK_PROPERTIES,
      },
    ]);
    expect(services.split('\n')).toEqual([
      'INTERFACE  BEARER    STATE   NAME   PATH',
      'eth-a      ethernet  online  eth-a  /net/connman/service/ethernet_020000000001_cable',
      '-          -         idle    -      /net/connman/service/x',
    ]);
    expect(formatServices([])).toBe('no services');
    expect(
      formatTechnologies([
        { path: '/t/wifi', type: 'wifi', name: 'WiFi', powered: false, connected: false, tethering: false },
      ]).split('\n')[1],
    ).toBe('wifi  WiFi  no       no');
  });

  it('sessions and stats', () => {
    const entry: SessionListEntry = {
      path: '/sessions/_1_5/n',
      owner: ':1.5',
      uid: 0,
      service: null,
      policyGroup: null,
      active: true,
      cgroups: ['/netsession.run/9'],
      settings: INFO,
      rxBytes: 2048n,
      txBytes: null,
    };
    expect(formatSessions([entry]).split('\n')[1]).toBe(
      '/sessions/_1_5/n  :1.5   0    online  eth-c      cellular  2.0 KiB  -   /netsession.run/9',
    );
    expect(formatStats([{ path: '/s', rxBytes: 1n, txBytes: 2n, rxPackets: 3n, txPackets: 4n }]).split('\n')[1]).toBe(
      '/s    1         2         3           4',
    );
  });

  it('a session on one line, updates as key=value in ConnMan order', () => {
    expect(formatUplink(INFO)).toBe('online eth-c cellular 198.51.100.26 2001:db8:3::2');
    expect(formatUplink({ ...INFO, state: 'disconnected', interface: null })).toBe('disconnected');
    expect(
      formatUpdate({ interface: 'eth-a', state: 'connected', ipv4: { address: '198.51.100.10' }, allowedBearers: [] }),
    ).toBe('state=connected ipv4=198.51.100.10 interface=eth-a allowedBearers=-');
    expect(formatUpdate({ ipv6: { address: '2001:db8::1', prefixLength: 64 }, bearer: null })).toBe(
      'ipv6=2001:db8::1/64 bearer=-',
    );
  });
});

describe('the run cgroup', () => {
  const HYBRID = [
    '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
    '40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd',
    '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
  ].join('\n');

  it('finds cgroup2 wherever it is mounted, the whole hierarchy first', () => {
    expect(cgroup2Mounts(HYBRID)).toEqual([{ root: '/', mountPoint: '/sys/fs/cgroup/unified' }]);
    const two = '50 1 0:40 /sub /mnt/sub rw - cgroup2 none rw\n51 1 0:40 / /mnt/my\\040cg rw - cgroup2 none rw';
    expect(cgroup2Mounts(two).map((m) => m.mountPoint)).toEqual(['/mnt/my cg', '/mnt/sub']);
    expect(ownCgroup('1:name=systemd:/\n0::/user.slice/app.scope\n')).toBe('/user.slice/app.scope');
    expect(ownCgroup('1:cpu:/\n')).toBeNull();
  });

  it('root: <mount>/netsession.run/<pid>; others: a child of their own cgroup', () => {
    expect(planRunCgroup({ mountinfo: HYBRID, procCgroup: '0::/\n', uid: 0, pid: 42 })).toEqual({
      dir: '/sys/fs/cgroup/unified/netsession.run/42',
      path: '/netsession.run/42',
    });
    expect(planRunCgroup({ mountinfo: HYBRID, procCgroup: '0::/user.slice/u.scope\n', uid: 1000, pid: 7 })).toEqual({
      dir: '/sys/fs/cgroup/unified/user.slice/u.scope/netsession.run.7',
      path: '/user.slice/u.scope/netsession.run.7',
    });
  });

  it('fails with a reason without cgroup2', () => {
    expect(() =>
      planRunCgroup({ mountinfo: '22 1 0:21 / /sys rw - sysfs sysfs rw', procCgroup: '', uid: 0, pid: 1 }),
    ).toThrow(/no cgroup2/);
    expect(() => planRunCgroup({ mountinfo: HYBRID, procCgroup: '', uid: 1000, pid: 1 })).toThrow(/no cgroup v2 group/);
  });
});

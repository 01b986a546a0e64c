import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type BearerLinkInput,
  type BearerPolicy,
  compileBearerPolicy,
  createBearerDecider,
  decideBearer,
  readSysfsHints,
  type SysfsHints,
} from '../../../../../daemon/adapters/rtnetlink/bearer.js';
import { ARPHRD } from '../../../../../daemon/adapters/rtnetlink/messages/constants.js';

const NO_HINTS: SysfsHints = { wireless: false, devtype: '' };

function link(over: Partial<BearerLinkInput> = {}): BearerLinkInput {
  return { name: 'eth0', kind: '', arphrd: ARPHRD.ETHER, loopback: false, enslaved: false, ...over };
}

function decide(l: BearerLinkInput, policy: BearerPolicy = {}, hints: SysfsHints = NO_HINTS) {
  return decideBearer(l, compileBearerPolicy(policy), () => hints);
}

describe('decideBearer: policy', () => {
  it('never makes loopback a service, even with an override', () => {
    expect(decide(link({ name: 'lo', arphrd: ARPHRD.LOOPBACK, loopback: true }))).toBeNull();
    expect(
      decide(link({ name: 'lo', arphrd: ARPHRD.LOOPBACK, loopback: true }), {
        overrides: [{ glob: 'lo', bearer: 'ethernet' }],
      }),
    ).toBeNull();
  });

  it('applies the first matching override', () => {
    const policy: BearerPolicy = {
      overrides: [
        { glob: 'usb0', bearer: 'cellular' },
        { glob: 'usb*', bearer: 'gadget' },
      ],
    };
    expect(decide(link({ name: 'usb0' }), policy)).toBe('cellular');
    expect(decide(link({ name: 'usb1' }), policy)).toBe('gadget');
    expect(decide(link({ name: 'eth0' }), policy)).toBe('ethernet');
  });

  it("an 'ignore' override makes the link no service", () => {
    expect(decide(link({ name: 'eth1' }), { overrides: [{ glob: 'eth1', bearer: 'ignore' }] })).toBeNull();
  });

  it('an override beats the include and ignore lists, the enslaved check and sysfs', () => {
    const policy: BearerPolicy = {
      overrides: [{ glob: 'wl*', bearer: 'cellular' }],
      include: ['eth*'],
      ignore: ['wl*'],
    };
    expect(decide(link({ name: 'wl0', enslaved: true }), policy, { wireless: true, devtype: 'wlan' })).toBe('cellular');
  });

  it('a non-empty include list excludes every name it does not match', () => {
    const policy: BearerPolicy = { include: ['eth*', 'wlan0'] };
    expect(decide(link({ name: 'eth3' }), policy)).toBe('ethernet');
    expect(decide(link({ name: 'wlan0' }), policy, { wireless: true, devtype: 'wlan' })).toBe('wifi');
    expect(decide(link({ name: 'veth9' }), policy)).toBeNull();
  });

  it('the ignore list wins over the include list', () => {
    expect(decide(link({ name: 'eth1' }), { include: ['eth*'], ignore: ['eth1'] })).toBeNull();
    expect(decide(link({ name: 'eth2' }), { include: ['eth*'], ignore: ['eth1'] })).toBe('ethernet');
  });

  it('bridge ports and bond slaves are not services', () => {
    expect(decide(link({ name: 'eth0', enslaved: true }))).toBeNull();
  });

  it('reads sysfs lazily: not when the policy decided, and at most once', () => {
    let calls = 0;
    const compiled = compileBearerPolicy({ overrides: [{ glob: 'x*', bearer: 'vpn' }], ignore: ['y*'] });
    const hints = () => {
      calls++;
      return NO_HINTS;
    };
    expect(decideBearer(link({ name: 'x1' }), compiled, hints)).toBe('vpn');
    expect(decideBearer(link({ name: 'y1' }), compiled, hints)).toBeNull();
    expect(decideBearer(link({ name: 'lo', arphrd: ARPHRD.LOOPBACK, loopback: true }), compiled, hints)).toBeNull();
    expect(calls).toBe(0);
    expect(decideBearer(link({ name: 'eth0' }), compiled, hints)).toBe('ethernet');
    expect(calls).toBe(1);
  });
});

describe('decideBearer: sysfs and link kind', () => {
  it('a wireless directory or phy80211 link means wifi', () => {
    expect(decide(link({ name: 'wlp2s0' }), {}, { wireless: true, devtype: '' })).toBe('wifi');
  });

  it('maps uevent DEVTYPE', () => {
    expect(decide(link(), {}, { wireless: false, devtype: 'wlan' })).toBe('wifi');
    expect(decide(link(), {}, { wireless: false, devtype: 'wwan' })).toBe('cellular');
    expect(decide(link(), {}, { wireless: false, devtype: 'bluetooth' })).toBe('bluetooth');
    expect(decide(link(), {}, { wireless: false, devtype: 'gadget' })).toBe('gadget');
  });

  it('Ethernet-type links with another or no DEVTYPE are ethernet (NIC, veth, bridge, bond, vlan, tap)', () => {
    expect(decide(link({ kind: '' }))).toBe('ethernet');
    expect(decide(link({ kind: 'veth' }))).toBe('ethernet');
    expect(decide(link({ kind: 'bridge' }), {}, { wireless: false, devtype: 'bridge' })).toBe('ethernet');
    expect(decide(link({ kind: 'bond' }), {}, { wireless: false, devtype: 'bond' })).toBe('ethernet');
    expect(decide(link({ kind: 'vlan' }), {}, { wireless: false, devtype: 'vlan' })).toBe('ethernet');
    // tap devices report kind "tun" with an Ethernet hardware type.
    expect(decide(link({ kind: 'tun' }))).toBe('ethernet');
  });

  it('L3 tunnels are vpn', () => {
    expect(decide(link({ name: 'wg0', kind: 'wireguard', arphrd: ARPHRD.NONE }))).toBe('vpn');
    expect(decide(link({ name: 'tun0', kind: 'tun', arphrd: ARPHRD.NONE }))).toBe('vpn');
    expect(decide(link({ name: 'ipip1', kind: 'ipip', arphrd: ARPHRD.TUNNEL }))).toBe('vpn');
    expect(decide(link({ name: 'gre1', kind: 'gre', arphrd: ARPHRD.IPGRE }))).toBe('vpn');
    expect(decide(link({ name: 'sit1', kind: 'sit', arphrd: ARPHRD.SIT }))).toBe('vpn');
  });

  it('PPP and raw-IP links are cellular', () => {
    expect(decide(link({ name: 'ppp0', kind: 'ppp', arphrd: ARPHRD.PPP }))).toBe('cellular');
    expect(decide(link({ name: 'rmnet0', arphrd: ARPHRD.RAWIP }))).toBe('cellular');
  });

  it('a raw-IP modem (ARPHRD_NONE) with DEVTYPE=wwan is cellular, not unknown', () => {
    expect(decide(link({ name: 'wwan0', arphrd: ARPHRD.NONE }), {}, { wireless: false, devtype: 'wwan' })).toBe(
      'cellular',
    );
  });

  it('ARPHRD_NONE with an unknown kind, and unknown hardware types, are not services', () => {
    expect(decide(link({ name: 'x0', kind: 'mystery', arphrd: ARPHRD.NONE }))).toBeNull();
    expect(decide(link({ name: 'ib0', arphrd: 32 /* INFINIBAND */ }))).toBeNull();
    expect(
      decide(link({ name: 'mon0', arphrd: 803 /* IEEE80211_RADIOTAP */ }), {}, { wireless: true, devtype: '' }),
    ).toBeNull();
    expect(decide(link({ name: 'can0', arphrd: 280 }))).toBeNull();
  });
});

describe('readSysfsHints', () => {
  const root = mkdtempSync(join(tmpdir(), 'ns-sysfs-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('finds wireless/, phy80211 and DEVTYPE', () => {
    mkdirSync(join(root, 'wlan0', 'wireless'), { recursive: true });
    writeFileSync(join(root, 'wlan0', 'uevent'), 'DEVTYPE=wlan\nINTERFACE=wlan0\nIFINDEX=3\n');
    mkdirSync(join(root, 'phy'), { recursive: true });
    mkdirSync(join(root, 'wlan1'), { recursive: true });
    symlinkSync(join(root, 'phy'), join(root, 'wlan1', 'phy80211'));
    writeFileSync(join(root, 'wlan1', 'uevent'), 'INTERFACE=wlan1\nIFINDEX=4\n');
    mkdirSync(join(root, 'usb0'), { recursive: true });
    writeFileSync(join(root, 'usb0', 'uevent'), 'INTERFACE=usb0\nDEVTYPE=gadget\n');

    expect(readSysfsHints('wlan0', root)).toEqual({ wireless: true, devtype: 'wlan' });
    expect(readSysfsHints('wlan1', root)).toEqual({ wireless: true, devtype: '' });
    expect(readSysfsHints('usb0', root)).toEqual({ wireless: false, devtype: 'gadget' });
  });

  it('gives empty hints for a missing link and refuses names that could leave the directory', () => {
    expect(readSysfsHints('gone0', root)).toEqual({ wireless: false, devtype: '' });
    mkdirSync(join(root, 'evil'), { recursive: true });
    writeFileSync(join(root, 'evil', 'uevent'), 'DEVTYPE=wlan\n');
    expect(readSysfsHints(`../${root.split('/').pop()}/evil`, root)).toEqual({ wireless: false, devtype: '' });
    expect(readSysfsHints('..', root)).toEqual({ wireless: false, devtype: '' });
  });

  it('createBearerDecider asks its reader for the link name', () => {
    const asked: string[] = [];
    const decider = createBearerDecider({ ignore: ['p*'] }, (name) => {
      asked.push(name);
      return name === 'wl0' ? { wireless: true, devtype: 'wlan' } : NO_HINTS;
    });
    expect(decider(link({ name: 'wl0' }))).toBe('wifi');
    expect(decider(link({ name: 'p1' }))).toBeNull();
    expect(decider(link({ name: 'e1' }))).toBe('ethernet');
    expect(asked).toEqual(['wl0', 'e1']);
  });
});

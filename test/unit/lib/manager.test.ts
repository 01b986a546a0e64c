/**
 * getManager() and Session.claimCgroup() against the mock daemon, and the D-Bus decoding of
 * the Manager's replies (GetProperties, GetTechnologies, ListSessions).
 */

import { describe, expect, it } from 'vitest';
import { decodeManagerProps, decodeSessionList, decodeTechnologyList } from '../../../lib/dbus/codec.js';
import { Variant } from '../../../lib/dbus/message.js';
import {
  AlreadyDisabledError,
  AlreadyEnabledError,
  createSession,
  ExtensionNotSupportedError,
  getManager,
  InvalidArgumentsError,
  InvalidOptionError,
  MockTransport,
  PermissionDeniedError,
  type Transport,
} from '../../../lib/index.js';
import { NO_UPLINK_PROPERTIES } from '../../../lib/uplink-props.js';

const UPLINKS = [
  { interface: 'eth0', bearer: 'ethernet' as const, ipv4: '198.51.100.7/24' },
  { interface: 'wwan0', bearer: 'cellular' as const, ipv4: '203.0.113.9' },
];

describe('getManager with the mock daemon', () => {
  it('reads the properties, technologies and services', async () => {
    const mock = new MockTransport({ uplinks: UPLINKS });
    const m = getManager(mock);
    expect(await m.properties()).toEqual({ state: 'online', offlineMode: false, sessionMode: false });
    expect(await m.technologies()).toEqual([
      {
        path: '/net/connman/technology/ethernet',
        type: 'ethernet',
        name: 'Wired',
        powered: true,
        connected: true,
        tethering: false,
      },
      {
        path: '/net/connman/technology/cellular',
        type: 'cellular',
        name: 'Cellular',
        powered: true,
        connected: true,
        tethering: false,
      },
    ]);
    expect((await m.services()).map((s) => [s.interface, s.state])).toEqual([
      ['eth0', 'online'],
      ['wwan0', 'online'],
    ]);
    expect(mock.calls.map((c) => c.method)).toEqual(['GetProperties', 'GetTechnologies', 'GetServices']);
  });

  it('OfflineMode and Powered take uplinks from sessions until undone', async () => {
    const mock = new MockTransport({ uplinks: UPLINKS });
    const m = getManager(mock);
    const s = await createSession({ transport: mock });
    expect(s.interface).toBe('eth0');
    await m.setPowered('ethernet', false);
    expect(s.interface).toBe('wwan0');
    await expect(m.setPowered('ethernet', false)).rejects.toBeInstanceOf(AlreadyDisabledError);
    await m.setOfflineMode(true);
    expect(s.state).toBe('disconnected');
    expect(await m.properties()).toMatchObject({ state: 'offline', offlineMode: true });
    expect((await m.services()).map((x) => x.state)).toEqual(['idle', 'idle']);
    await m.setOfflineMode(false);
    await m.setPowered('ethernet', true);
    expect(s.interface).toBe('eth0');
    await expect(m.setPowered('ethernet', true)).rejects.toBeInstanceOf(AlreadyEnabledError);
    expect(mock.calls.filter((c) => c.method === 'SetProperty').map((c) => [c.path, ...c.args])).toEqual([
      ['/net/connman/technology/ethernet', 'Powered', false],
      ['/net/connman/technology/ethernet', 'Powered', false],
      [null, 'OfflineMode', true],
      [null, 'OfflineMode', false],
      ['/net/connman/technology/ethernet', 'Powered', true],
      ['/net/connman/technology/ethernet', 'Powered', true],
    ]);
    await s.destroy();
  });

  it('root-only calls are PermissionDenied for another uid', async () => {
    const m = getManager(new MockTransport({ uplinks: UPLINKS, uid: 1000 }));
    await expect(m.setOfflineMode(true)).rejects.toBeInstanceOf(PermissionDeniedError);
    await expect(m.setPowered('wifi', false)).rejects.toBeInstanceOf(PermissionDeniedError);
    await expect(m.sessions()).rejects.toBeInstanceOf(PermissionDeniedError);
  });

  it('lists sessions with settings, bound service, claims and counters', async () => {
    const mock = new MockTransport({ uplinks: UPLINKS });
    const s = await createSession({ transport: mock, allowedBearers: ['cellular'] });
    mock.sessionFor(s).statistics = { rxBytes: 10n, txBytes: 20n, rxPackets: 1n, txPackets: 2n };
    await s.claimCgroup('/netsession.run/7');
    const [entry, ...rest] = await getManager(mock).sessions();
    expect(rest).toEqual([]);
    expect(entry).toMatchObject({
      path: s.path,
      owner: ':1.1',
      uid: 0,
      service: '/net/connman/service/mock_wwan0',
      active: true,
      cgroups: ['/netsession.run/7'],
      rxBytes: 10n,
      txBytes: 20n,
    });
    // ListSessions carries the Update keys; the uplink's properties are not listed.
    expect(entry!.settings).toEqual({ ...s.settings, ...NO_UPLINK_PROPERTIES });
    expect(await getManager(mock).statistics(s.path)).toEqual({
      rxBytes: 10n,
      txBytes: 20n,
      rxPackets: 1n,
      txPackets: 2n,
    });
    await s.destroy();
    expect(await getManager(mock).sessions()).toEqual([]);
  });

  it('extensions are ExtensionNotSupportedError against a connmand-like daemon', async () => {
    const mock = new MockTransport({ uplinks: UPLINKS, capabilities: null });
    await expect(getManager(mock).sessions()).rejects.toBeInstanceOf(ExtensionNotSupportedError);
    await expect(getManager(mock).statistics('/sessions/x')).rejects.toBeInstanceOf(ExtensionNotSupportedError);
    const s = await createSession({ transport: mock });
    await expect(s.claimCgroup('/a')).rejects.toMatchObject({
      code: 'NS_ERR_EXTENSION_NOT_SUPPORTED',
      feature: 'ClaimCgroup',
    });
    expect(mock.calls.some((c) => c.method === 'ClaimCgroup')).toBe(false);
  });

  it('claimCgroup validates locally, and the daemon rejects unnormalised paths', async () => {
    const mock = new MockTransport({ uplinks: UPLINKS });
    const s = await createSession({ transport: mock });
    await expect(s.claimCgroup('relative')).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(s.claimCgroup('/a/../b')).rejects.toBeInstanceOf(InvalidArgumentsError);
    await s.destroy();
    await expect(s.claimCgroup('/a')).rejects.toMatchObject({ code: 'NS_ERR_SESSION_CLOSED' });
  });

  it('a transport without the optional methods: InvalidOptionError naming the method', async () => {
    const mock = new MockTransport();
    const bare: Transport = {
      createSession: mock.createSession.bind(mock),
      capabilities: mock.capabilities.bind(mock),
      statistics: mock.statistics.bind(mock),
      close: mock.close.bind(mock),
    };
    await expect(getManager(bare).technologies()).rejects.toThrow(/must implement technologies/);
    expect(() => getManager(bare).watchServices(() => {})).toThrow(InvalidOptionError);
    expect(() => getManager({} as Transport)).toThrow(InvalidOptionError);
  });
});

describe('decoding the Manager replies', () => {
  const v = (sig: string, value: unknown) => new Variant(sig, value);

  it('GetProperties', () => {
    expect(
      decodeManagerProps({ State: v('s', 'ready'), OfflineMode: v('b', true), SessionMode: v('b', false) }),
    ).toEqual({ state: 'ready', offlineMode: true, sessionMode: false });
    expect(decodeManagerProps({ State: v('s', 'weird') }).state).toBe('idle');
  });

  it('GetTechnologies', () => {
    const list = [
      [
        '/net/connman/technology/wifi',
        {
          Name: v('s', 'WiFi'),
          Type: v('s', 'wifi'),
          Powered: v('b', false),
          Connected: v('b', false),
          Tethering: v('b', false),
        },
      ],
    ];
    expect(decodeTechnologyList(list)).toEqual([
      {
        path: '/net/connman/technology/wifi',
        type: 'wifi',
        name: 'WiFi',
        powered: false,
        connected: false,
        tethering: false,
      },
    ]);
  });

  it('ListSessions: properties, nested settings, counters', () => {
    const settings = {
      State: v('s', 'online'),
      Name: v('s', 'eth-c'),
      IPv4: v('a{sv}', { Method: v('s', 'manual'), Address: v('s', '198.51.100.26') }),
      IPv6: v('a{sv}', {}),
      Interface: v('s', 'eth-c'),
      Bearer: v('s', 'cellular'),
      ConnectionType: v('s', 'any'),
      AllowedBearers: v('as', ['cellular']),
      AllowedInterface: v('s', 'eth-c'),
      ContextIdentifier: v('s', ''),
      SourceIPRule: v('b', false),
    };
    const list = [
      [
        '/sessions/_1_5/n',
        {
          Owner: v('s', ':1.5'),
          UID: v('u', 1001),
          Service: v('s', 'cellular_020000000003_eth_c'),
          PolicyGroup: v('s', ''),
          Active: v('b', true),
          Cgroups: v('as', ['/a']),
          Settings: v('a{sv}', settings),
          'RX.Bytes': v('t', 5n),
          'TX.Bytes': v('t', 6n),
        },
      ],
    ];
    const [e] = decodeSessionList(list);
    expect(e).toMatchObject({
      path: '/sessions/_1_5/n',
      owner: ':1.5',
      uid: 1001,
      service: '/net/connman/service/cellular_020000000003_eth_c',
      policyGroup: null,
      active: true,
      cgroups: ['/a'],
      rxBytes: 5n,
      txBytes: 6n,
    });
    expect(e!.settings).toMatchObject({
      state: 'online',
      interface: 'eth-c',
      bearer: 'cellular',
      ipv4: { method: 'manual', address: '198.51.100.26' },
      ipv6: null,
      allowedBearers: ['cellular'],
    });
    // Without the datapath there are no counters, and an older daemon sends no Cgroups.
    const [bare] = decodeSessionList([
      ['/s', { Owner: v('s', ':1.2'), UID: v('u', 0), Service: v('s', ''), Settings: v('a{sv}', settings) }],
    ]);
    expect(bare).toMatchObject({ service: null, rxBytes: null, txBytes: null, cgroups: [] });
  });
});

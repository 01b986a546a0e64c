/**
 * The service list behind monitorUplinks: decoding GetServices/ServicesChanged dicts, and the
 * MockTransport's services and watch.
 */

import { describe, expect, it } from 'vitest';
import { applyServiceProperty, decodeServiceList, decodeServiceProps, toServiceInfo } from '../../../lib/dbus/codec.js';
import { Variant } from '../../../lib/dbus/message.js';
import { MockTransport, type ServiceInfo } from '../../../lib/index.js';

describe('service dicts', () => {
  it('decodes a GetServices entry as netsessiond and connmand send it', () => {
    const wire = [
      [
        '/net/connman/service/ethernet_020000000002_cable',
        {
          Type: new Variant('s', 'wifi'),
          State: new Variant('s', 'online'),
          Name: new Variant('s', 'eth-b'),
          Ethernet: new Variant('a{sv}', {
            Method: new Variant('s', 'auto'),
            Interface: new Variant('s', 'eth-b'),
            MTU: new Variant('q', 1500),
          }),
          IPv4: new Variant('a{sv}', {
            Method: new Variant('s', 'dhcp'),
            Address: new Variant('s', '198.51.100.18'),
            Netmask: new Variant('s', '255.255.255.248'),
            Gateway: new Variant('s', '198.51.100.17'),
          }),
          IPv6: new Variant('a{sv}', {
            Method: new Variant('s', 'auto'),
            Address: new Variant('s', '2001:db8:2::2'),
            PrefixLength: new Variant('y', 64),
            Gateway: new Variant('s', 'fe80::1'),
          }),
          Nameservers: new Variant('as', ['198.51.100.17']),
        },
      ],
      ['/net/connman/service/x', { Type: new Variant('s', 'p2p'), State: new Variant('s', 'weird') }],
      'garbage',
    ];
    const list = decodeServiceList(wire);
    expect(list.length).toBe(2);
    expect(list[0]![1]).toMatchObject({
      Type: 'wifi',
      Ethernet: { Interface: 'eth-b', MTU: 1500 },
      IPv4: { Address: '198.51.100.18' },
      Nameservers: ['198.51.100.17'],
    });
    // Without netsessiond's status dict (connmand): nameservers from ConnMan's own key, the rest unknown.
    const unknown = { metered: null, roaming: null, captivePortal: null, portalUrl: null };
    expect(list.map(([p, props]) => toServiceInfo(p, props))).toEqual([
      {
        path: '/net/connman/service/ethernet_020000000002_cable',
        name: 'eth-b',
        interface: 'eth-b',
        bearer: 'wifi',
        state: 'online',
        ipv4: { method: 'dhcp', address: '198.51.100.18', netmask: '255.255.255.248', gateway: '198.51.100.17' },
        ipv6: { method: 'auto', address: '2001:db8:2::2', prefixLength: 64, gateway: 'fe80::1' },
        nameservers: ['198.51.100.17'],
        ...unknown,
      },
      // Unknown type and state are not trusted; no Ethernet dict, no interface; no address dicts.
      {
        path: '/net/connman/service/x',
        name: '',
        interface: null,
        bearer: null,
        state: 'idle',
        ipv4: null,
        ipv6: null,
        nameservers: [],
        ...unknown,
      },
    ]);
    // With it (netsessiond): metered, roaming and the portal; the URL only while there is a portal.
    const status = { Metered: true, Roaming: false, CaptivePortal: true, PortalURL: 'http://portal.example/' };
    expect(toServiceInfo(list[0]![0], list[0]![1], status)).toMatchObject({
      metered: true,
      roaming: false,
      captivePortal: true,
      portalUrl: 'http://portal.example/',
    });
    expect(toServiceInfo(list[0]![0], list[0]![1], { ...status, CaptivePortal: false })).toMatchObject({
      captivePortal: false,
      portalUrl: null,
    });
    // Nameservers.Configuration stands in while Nameservers is empty; connmand's cellular Roaming is read.
    expect(
      toServiceInfo('/s', { Nameservers: [], 'Nameservers.Configuration': ['2001:db8::53'], Roaming: true }),
    ).toMatchObject({ nameservers: ['2001:db8::53'], roaming: true });
    // A PropertyChanged of a followed key updates the list; others change nothing.
    const next = applyServiceProperty(list, list[0]![0], 'sv', [
      'Nameservers',
      new Variant('as', ['198.51.100.25', '2001:db8:3::1']),
    ]);
    expect(next?.[0]![1].Nameservers).toEqual(['198.51.100.25', '2001:db8:3::1']);
    expect(applyServiceProperty(list, list[0]![0], 'sv', ['Strength', new Variant('y', 5)])).toBeNull();
    expect(applyServiceProperty(list, '/nope', 'sv', ['Nameservers', new Variant('as', [])])).toBeNull();
    expect(decodeServiceList(null)).toEqual([]);
    expect(decodeServiceProps([1, 2])).toEqual({});
  });
});

describe('MockTransport services', () => {
  it('lists one service per uplink and tells watchers about every change', async () => {
    const mock = new MockTransport({
      uplinks: [
        { interface: 'eth-a', bearer: 'ethernet', ipv4: '198.51.100.10/29' },
        { interface: 'wwan0', bearer: 'cellular', state: 'connected', name: 'Operator', ipv6: '2001:db8:3::2/64' },
      ],
    });
    const none = { nameservers: [], roaming: false, captivePortal: false, portalUrl: null };
    expect(await mock.services()).toEqual([
      {
        path: '/net/connman/service/mock_eth_a',
        name: 'eth-a',
        interface: 'eth-a',
        bearer: 'ethernet',
        state: 'online',
        ipv4: { method: 'manual', address: '198.51.100.10', netmask: '255.255.255.248' },
        ipv6: null,
        ...none,
        metered: false,
      },
      {
        path: '/net/connman/service/mock_wwan0',
        name: 'Operator',
        interface: 'wwan0',
        bearer: 'cellular',
        state: 'ready',
        ipv4: null,
        ipv6: { method: 'manual', address: '2001:db8:3::2', prefixLength: 64 },
        ...none,
        metered: true,
      },
    ]);
    const seen: Array<Array<string | null>> = [];
    const stop = mock.watchServices((list: readonly ServiceInfo[]) => seen.push(list.map((s) => s.interface)));
    await Promise.resolve();
    mock.setUplinks([{ interface: 'wlan0', bearer: 'wifi' }]);
    mock.stopDaemon();
    mock.startDaemon();
    stop();
    mock.setUplinks([]);
    expect(seen).toEqual([['eth-a', 'wwan0'], ['wlan0'], [], ['wlan0']]);
    expect(mock.calls.filter((c) => c.method === 'GetServices').length).toBe(2);
  });

  it('shows no addresses for a service that is not connected (as the daemon)', async () => {
    const mock = new MockTransport({
      uplinks: [{ interface: 'eth-a', bearer: 'ethernet', ipv4: '198.51.100.10/29', ipv6: '2001:db8:1::2/64' }],
    });
    expect((await mock.services())[0]!.ipv6).toEqual({ method: 'manual', address: '2001:db8:1::2', prefixLength: 64 });
    await mock.setOfflineMode(true);
    expect((await mock.services()).map((s) => [s.state, s.ipv4, s.ipv6])).toEqual([['idle', null, null]]);
  });

  it('reports a failed read to the watcher', async () => {
    const mock = new MockTransport();
    mock.failNext('GetServices', 'org.freedesktop.DBus.Error.ServiceUnknown');
    const errors: unknown[] = [];
    mock.watchServices(
      () => undefined,
      (e) => errors.push(e),
    );
    await new Promise((r) => setTimeout(r, 0));
    expect(errors).toEqual([expect.objectContaining({ code: 'NS_ERR_DAEMON_UNAVAILABLE' })]);
  });
});

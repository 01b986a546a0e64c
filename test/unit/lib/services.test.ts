/**
 * The service list behind monitorUplinks: decoding GetServices/ServicesChanged dicts, and the
 * MockTransport's services and watch.
 */
import { Variant } from '../../../lib/dbus/message.js';
import { describe, expect, it } from 'vitest';
import { decodeServiceList, decodeServiceProps, toServiceInfo } from '../../../lib/dbus/codec.js';
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
          Ethernet: new Variant('a{sv}', { Method: new Variant('s', 'auto'), Interface: new Variant('s', 'eth-b'), MTU: new Variant('q', 1500) }),
          IPv4: new Variant('a{sv}', { Method: new Variant('s', 'dhcp'), Address: new Variant('s', '198.51.100.18'), Netmask: new Variant('s', '255.255.255.248'), Gateway: new Variant('s', '198.51.100.17') }),
          IPv6: new Variant('a{sv}', { Method: new Variant('s', 'auto'), Address: new Variant('s', '2001:db8:2::2'), PrefixLength: new Variant('y', 64), Gateway: new Variant('s', 'fe80::1') }),
          Nameservers: new Variant('as', ['198.51.100.17']),
        },
      ],
      ['/net/connman/service/x', { Type: new Variant('s', 'p2p'), State: new Variant('s', 'weird') }],
      'garbage',
    ];
    const list = decodeServiceList(wire);
    expect(list.length).toBe(2);
    expect(list[0]![1]).toMatchObject({ Type: 'wifi', Ethernet: { Interface: 'eth-b', MTU: 1500 }, IPv4: { Address: '198.51.100.18' }, Nameservers: ['198.51.100.17'] });
    expect(list.map(([p, props]) => toServiceInfo(p, props))).toEqual([
      {
        path: '/net/connman/service/ethernet_020000000002_cable',
        name: 'eth-b',
        interface: 'eth-b',
        bearer: 'wifi',
        state: 'online',
        ipv4: { method: 'dhcp', address: '198.51.100.18', netmask: '255.255.255.248', gateway: '198.51.100.17' },
        ipv6: { method: 'auto', address: '2001:db8:2::2', prefixLength: 64, gateway: 'fe80::1' },
      },
      // Unknown type and state are not trusted; no Ethernet dict, no interface; no address dicts.
      { path: '/net/connman/service/x', name: '', interface: null, bearer: null, state: 'idle', ipv4: null, ipv6: null },
    ]);
    expect(decodeServiceList(null)).toEqual([]);
    expect(decodeServiceProps([1, 2])).toEqual({});
  });
});

describe('MockTransport services', () => {
  it('lists one service per uplink and tells watchers about every change', async () => {
    const mock = new MockTransport({ uplinks: [{ interface: 'eth-a', bearer: 'ethernet', ipv4: '198.51.100.10/29' }, { interface: 'wwan0', bearer: 'cellular', state: 'connected', name: 'Operator', ipv6: '2001:db8:3::2/64' }] });
    expect(await mock.services()).toEqual([
      { path: '/net/connman/service/mock_eth_a', name: 'eth-a', interface: 'eth-a', bearer: 'ethernet', state: 'online', ipv4: { method: 'manual', address: '198.51.100.10', netmask: '255.255.255.248' }, ipv6: null },
      { path: '/net/connman/service/mock_wwan0', name: 'Operator', interface: 'wwan0', bearer: 'cellular', state: 'ready', ipv4: null, ipv6: { method: 'manual', address: '2001:db8:3::2', prefixLength: 64 } },
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
    const mock = new MockTransport({ uplinks: [{ interface: 'eth-a', bearer: 'ethernet', ipv4: '198.51.100.10/29', ipv6: '2001:db8:1::2/64' }] });
    expect((await mock.services())[0]!.ipv6).toEqual({ method: 'manual', address: '2001:db8:1::2', prefixLength: 64 });
    await mock.setOfflineMode(true);
    expect((await mock.services()).map((s) => [s.state, s.ipv4, s.ipv6])).toEqual([['idle', null, null]]);
  });

  it('reports a failed read to the watcher', async () => {
    const mock = new MockTransport();
    mock.failNext('GetServices', 'org.freedesktop.DBus.Error.ServiceUnknown');
    const errors: unknown[] = [];
    mock.watchServices(() => undefined, (e) => errors.push(e));
    await new Promise((r) => setTimeout(r, 0));
    expect(errors).toEqual([expect.objectContaining({ code: 'NS_ERR_DAEMON_UNAVAILABLE' })]);
  });
});

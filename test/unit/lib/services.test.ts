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
          IPv4: new Variant('a{sv}', { Address: new Variant('s', '198.51.100.18') }),
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
      { path: '/net/connman/service/ethernet_020000000002_cable', name: 'eth-b', interface: 'eth-b', bearer: 'wifi', state: 'online' },
      // Unknown type and state are not trusted; no Ethernet dict, no interface.
      { path: '/net/connman/service/x', name: '', interface: null, bearer: null, state: 'idle' },
    ]);
    expect(decodeServiceList(null)).toEqual([]);
    expect(decodeServiceProps([1, 2])).toEqual({});
  });
});

describe('MockTransport services', () => {
  it('lists one service per uplink and tells watchers about every change', async () => {
    const mock = new MockTransport({ uplinks: [{ interface: 'eth-a', bearer: 'ethernet' }, { interface: 'wwan0', bearer: 'cellular', state: 'connected', name: 'Operator' }] });
    expect(await mock.services()).toEqual([
      { path: '/net/connman/service/mock_eth_a', name: 'eth-a', interface: 'eth-a', bearer: 'ethernet', state: 'online' },
      { path: '/net/connman/service/mock_wwan0', name: 'Operator', interface: 'wwan0', bearer: 'cellular', state: 'ready' },
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

  it('reports a failed read to the watcher', async () => {
    const mock = new MockTransport();
    mock.failNext('GetServices', 'org.freedesktop.DBus.Error.ServiceUnknown');
    const errors: unknown[] = [];
    mock.watchServices(() => undefined, (e) => errors.push(e));
    await new Promise((r) => setTimeout(r, 0));
    expect(errors).toEqual([expect.objectContaining({ code: 'NS_ERR_DAEMON_UNAVAILABLE' })]);
  });
});

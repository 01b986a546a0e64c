/** `services SERVICE`: one service with addresses, gateways, online state (and nameservers once the SDK has them). */
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../../bin/cli/args.js';
import { formatServiceDetail, prefixOf } from '../../../bin/cli/format.js';
import { MockTransport } from '../../../lib/index.js';
import { cli } from '../../fakes/cli.js';

const mock = () =>
  new MockTransport({
    uplinks: [
      {
        interface: 'eth-a',
        bearer: 'ethernet',
        ipv4: { Method: 'dhcp', Address: '198.51.100.10', Netmask: '255.255.255.248', Gateway: '198.51.100.9' },
        ipv6: { Method: 'auto', Address: '2001:db8:1::2', PrefixLength: 64, Gateway: 'fe80::1' },
      },
      { interface: 'wwan0', bearer: 'cellular', state: 'connected' },
    ],
  });

describe('services SERVICE', () => {
  it('parses a path, id or interface name; the list without one', () => {
    expect(parseArgs(['services']).command).toEqual({ name: 'services' });
    expect(parseArgs(['services', 'eth-a']).command).toEqual({ name: 'services', service: 'eth-a' });
    expect(parseArgs(['services', '/net/connman/service/mock_eth_a']).command).toEqual({
      name: 'services',
      service: '/net/connman/service/mock_eth_a',
    });
    expect(() => parseArgs(['services', 'eth-a', 'eth-b'])).toThrow("services: unexpected argument 'eth-b'");
  });

  it('shows addresses with prefix, gateway and method, and whether it is online', async () => {
    const r = await cli(['services', 'eth-a'], mock());
    expect(r).toMatchObject({ code: 0, err: [] });
    expect(r.out.split('\n')).toEqual([
      'Service:      /net/connman/service/mock_eth_a',
      'Name:         eth-a',
      'Interface:    eth-a',
      'Bearer:       ethernet',
      'State:        online',
      'Online:       yes',
      'IPv4:         198.51.100.10/29 via 198.51.100.9 (dhcp)',
      'IPv6:         2001:db8:1::2/64 via fe80::1 (auto)',
      'Nameservers:  -',
      'Metered:      no',
      'Roaming:      no',
      'Portal:       no',
    ]);
    const ready = await cli(['services', 'mock_wwan0'], mock());
    expect(ready.out).toMatch(/^State: +ready\nOnline: +no\nIPv4: +-\nIPv6: +-\nNameservers: +-\nMetered: +yes$/m);
  });

  it("--json gives the SDK's ServiceInfo", async () => {
    const r = await cli(['--json', 'services', 'eth-a'], mock());
    expect(JSON.parse(r.out)).toEqual({
      path: '/net/connman/service/mock_eth_a',
      name: 'eth-a',
      interface: 'eth-a',
      bearer: 'ethernet',
      state: 'online',
      ipv4: { method: 'dhcp', address: '198.51.100.10', netmask: '255.255.255.248', gateway: '198.51.100.9' },
      ipv6: { method: 'auto', address: '2001:db8:1::2', prefixLength: 64, gateway: 'fe80::1' },
      nameservers: [],
      metered: false,
      roaming: false,
      captivePortal: false,
      portalUrl: null,
    });
  });

  it('an unknown service is exit 1 with the services there are', async () => {
    expect(await cli(['services', 'eth-x'], mock())).toMatchObject({
      code: 1,
      out: '',
      err: ["netsessionctl: no service 'eth-x' (the daemon has eth-a, wwan0)"],
    });
  });

  it('shows nameservers ("-" for none), and metered/roaming/portal only when the daemon knows them', () => {
    const base = {
      path: '/net/connman/service/x',
      name: 'x',
      interface: 'x',
      bearer: 'wifi' as const,
      state: 'online' as const,
      ipv4: null,
      ipv6: null,
      metered: null,
      roaming: null,
      captivePortal: null,
      portalUrl: null,
    };
    expect(formatServiceDetail({ ...base, nameservers: ['198.51.100.1', '2001:db8::53'] })).toMatch(
      /\nNameservers: +198\.51\.100\.1 2001:db8::53$/,
    );
    expect(formatServiceDetail({ ...base, nameservers: [] })).toMatch(/\nNameservers: +-$/);
    const portal = formatServiceDetail({
      ...base,
      nameservers: [],
      metered: true,
      roaming: false,
      captivePortal: true,
      portalUrl: 'http://portal.example/',
    });
    expect(portal).toMatch(/\nMetered: +yes\nRoaming: +no\nPortal: +http:\/\/portal\.example\/$/);
  });

  it('prefixOf counts netmask bits', () => {
    expect([
      prefixOf('255.255.255.248'),
      prefixOf('255.0.0.0'),
      prefixOf('0.0.0.0'),
      prefixOf('255.255.255.255'),
    ]).toEqual([29, 8, 0, 32]);
  });
});

import { describe, expect, it } from 'vitest';
import { managedServiceProps } from '../../../../daemon/core/manage-properties.js';
import { serviceProps } from '../../../../daemon/core/properties.js';
import { desiredAddressing } from '../../../../daemon/core/provisioning.js';
import { parseProvisioningFile } from '../../../../daemon/core/provisioning-parse.js';
import type { Service } from '../../../../daemon/core/services.js';

const svc: Service = {
  id: 'ethernet_020000000001_cable',
  ifindex: 11,
  ifname: 'eth-a',
  bearer: 'ethernet',
  kind: 'veth',
  mac: '02:00:00:00:00:01',
  mtu: 1500,
  adminUp: true,
  carrier: true,
  addresses: [],
  gateways: [],
  nameservers: [],
  metered: false,
  roaming: false,
  check: { 4: { online: false, portal: null }, 6: { online: false, portal: null } },
  error: '',
  state: 'idle',
  alloc: null,
};

describe('managed service properties', () => {
  it('report a provisioned service as Immutable with its configuration', () => {
    const [sec] = parseProvisioningFile(
      'lab.config',
      '[service_a]\nType = ethernet\nDeviceName = eth-a\nIPv4 = 198.51.100.10/255.255.255.248/198.51.100.9\nIPv6 = 2001:db8:1::2/64/2001:db8:1::1\nNameservers = 203.0.113.53\nSearchDomains = example.org\nTimeservers = 203.0.113.123\n',
    );
    const p = managedServiceProps(serviceProps(svc, true), {
      section: sec!,
      addressing: desiredAddressing(sec!),
      nameservers: ['203.0.113.53'],
    });
    expect(p.Immutable).toEqual({ signature: 'b', value: true });
    expect(p['IPv4.Configuration']!.value).toEqual({
      Method: { signature: 's', value: 'manual' },
      Address: { signature: 's', value: '198.51.100.10' },
      Netmask: { signature: 's', value: '255.255.255.248' },
      Gateway: { signature: 's', value: '198.51.100.9' },
    });
    expect(p['IPv6.Configuration']!.value).toMatchObject({
      Method: { signature: 's', value: 'manual' },
      PrefixLength: { signature: 'y', value: 64 },
    });
    expect(p['Nameservers.Configuration']).toEqual({ signature: 'as', value: ['203.0.113.53'] });
    expect(p['Domains.Configuration']).toEqual({ signature: 'as', value: ['example.org'] });
    expect(p['Timeservers.Configuration']).toEqual({ signature: 'as', value: ['203.0.113.123'] });
    // Everything else is the plain service's.
    expect(p.State).toEqual(serviceProps(svc, true).State);
  });

  it('report an unprovisioned managed service with ConnMan defaults (dhcp, auto), not Immutable', () => {
    const addressing = {
      addresses: [],
      gateways: [],
      dhcpv4: true,
      ipv6: true,
      slaac: true,
      ipv6Privacy: null,
      nameservers: [],
      searchDomains: [],
      domain: null,
    };
    const p = managedServiceProps(serviceProps(svc, true), {
      section: null,
      addressing,
      nameservers: ['203.0.113.54'],
    });
    expect(p.Immutable).toEqual({ signature: 'b', value: false });
    expect(p['IPv4.Configuration']!.value).toEqual({ Method: { signature: 's', value: 'dhcp' } });
    expect(p['IPv6.Configuration']!.value).toEqual({
      Method: { signature: 's', value: 'auto' },
      Privacy: { signature: 's', value: 'disabled' },
    });
    expect(p.Nameservers).toEqual({ signature: 'as', value: ['203.0.113.54'] });
  });
});

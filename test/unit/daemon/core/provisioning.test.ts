import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DBUS_ERROR_OF, ProvisioningError } from '../../../../daemon/core/errors.js';
import { desiredAddressing, matchProvisioned } from '../../../../daemon/core/provisioning.js';
import {
  isProvisioningFileName,
  type ProvisionedService,
  parseProvisioningFile,
} from '../../../../daemon/core/provisioning-parse.js';

const FULL = `# uplinks of the test rig
[global]
Name = Rig
Description = Two uplinks and a lab port

[service_wan]
Type = ethernet
MAC = 02:AA:BB:CC:DD:01
IPv4 = 198.51.100.10/255.255.255.0/198.51.100.1
IPv6 = 2001:DB8:0:0::10/64/fe80::1
IPv6.Privacy = prefered
Nameservers = 198.51.100.53, 2001:db8::53,
SearchDomains = example.net,lab.example.net
Domain = example.net
Timeservers = 203.0.113.123,ntp.example.net

[service_lte]
Type = gadget
DeviceName = usb0
IPv4 = DHCP
IPv6 = off

[service_lab]
Type = ethernet
IPv4 = off
IPv6 = auto
`;

/** Parses and returns the thrown ProvisioningError (fails the test if nothing is thrown). */
function parseError(text: string, file = 'rig.config'): ProvisioningError {
  try {
    parseProvisioningFile(file, text);
  } catch (e) {
    expect(e).toBeInstanceOf(ProvisioningError);
    return e as ProvisioningError;
  }
  throw new Error('expected a ProvisioningError');
}

function svc(text: string): ProvisionedService {
  const [s] = parseProvisioningFile('t.config', text);
  if (!s) throw new Error('no service');
  return s;
}

describe('parseProvisioningFile: a complete valid file', () => {
  const services = parseProvisioningFile('rig.config', FULL);

  it('returns the service sections in file order, without [global]', () => {
    expect(services.map((s) => [s.ident, s.index, s.line, s.type])).toEqual([
      ['wan', 0, 6, 'ethernet'],
      ['lte', 1, 17, 'gadget'],
      ['lab', 2, 23, 'ethernet'],
    ]);
  });

  it('reads static IPv4 (dotted netmask) and IPv6 (canonicalised, link-local gateway)', () => {
    const wan = services[0] as ProvisionedService;
    expect(wan.mac).toBe('02:aa:bb:cc:dd:01');
    expect(wan.ipv4).toEqual({ method: 'manual', address: '198.51.100.10', prefixLength: 24, gateway: '198.51.100.1' });
    expect(wan.ipv6).toEqual({ method: 'manual', address: '2001:db8::10', prefixLength: 64, gateway: 'fe80::1' });
    expect(wan.ipv6Privacy).toBe('preferred');
    expect(wan.nameservers).toEqual(['198.51.100.53', '2001:db8::53']);
    expect(wan.searchDomains).toEqual(['example.net', 'lab.example.net']);
    expect(wan.domain).toBe('example.net');
    expect(wan.timeservers).toEqual(['203.0.113.123', 'ntp.example.net']);
    expect(wan.supported).toBe(true);
    expect(wan.warnings).toEqual([expect.stringMatching(/^rig\.config:15: Timeservers/)]);
  });

  it('reads dhcp (case-insensitive), off and auto', () => {
    expect(services[1]?.deviceName).toBe('usb0');
    expect(services[1]?.ipv4).toEqual({ method: 'dhcp' });
    expect(services[1]?.ipv6).toEqual({ method: 'off' });
    expect(services[2]?.ipv4).toEqual({ method: 'off' });
    expect(services[2]?.ipv6).toEqual({ method: 'auto' });
    expect(services[2]?.mac).toBeNull();
    expect(services[2]?.deviceName).toBeNull();
  });

  it('defaults a missing IPv4 to dhcp and a missing IPv6 to auto (as ConnMan)', () => {
    const s = svc('[service_x]\nType=ethernet\n');
    expect(s.ipv4).toEqual({ method: 'dhcp' });
    expect(s.ipv6).toEqual({ method: 'auto' });
    expect(s.nameservers).toEqual([]);
    expect(s.warnings).toEqual([]);
  });

  it('accepts a prefix length for IPv4, no gateway, /31 and /32, a trailing slash', () => {
    expect(svc('[service_x]\nType=ethernet\nIPv4=203.0.113.7/28').ipv4).toEqual({
      method: 'manual',
      address: '203.0.113.7',
      prefixLength: 28,
      gateway: null,
    });
    expect(svc('[service_x]\nType=ethernet\nIPv4=198.18.0.0/31/198.18.0.1').ipv4).toMatchObject({
      prefixLength: 31,
      gateway: '198.18.0.1',
    });
    expect(svc('[service_x]\nType=ethernet\nIPv4=198.18.0.9/32').ipv4).toMatchObject({
      prefixLength: 32,
      gateway: null,
    });
    expect(svc('[service_x]\nType=ethernet\nIPv4=198.18.0.9/24/').ipv4).toMatchObject({ gateway: null });
    expect(svc('[service_x]\nType=ethernet\nIPv4=auto').ipv4).toEqual({ method: 'dhcp' });
    expect(svc('[service_x]\nType=ethernet\nIPv6=dhcp').ipv6).toEqual({ method: 'auto' });
  });

  it('accepts CRLF, a BOM and ; comments', () => {
    const s = svc('\uFEFF; c\r\n[service_x]\r\nType = gadget\r\nIPv4 = off\r\n');
    expect(s.type).toBe('gadget');
    expect(s.ipv4).toEqual({ method: 'off' });
  });

  it('keeps wifi sections unsupported, with a warning and without secrets', () => {
    const text =
      '[service_home]\nType = wifi\nName = home\nPassphrase = hunter22\nSecurity = psk\nSSID = 686f6d65\nHidden = false\n';
    const s = svc(text);
    expect(s.supported).toBe(false);
    expect(s.name).toBe('home');
    expect(s.warnings).toEqual([expect.stringContaining('does not manage Wi-Fi')]);
    expect(JSON.stringify(s)).not.toContain('hunter22');
  });

  it('maps failures to ConnMan Failed on D-Bus', () => {
    expect(DBUS_ERROR_OF[new ProvisioningError('a.config', 1, 'x').code]).toBe('Failed');
  });
});

describe('parseProvisioningFile: malformed input names file, line and key', () => {
  const cases: Array<[string, string, number, RegExp]> = [
    ['text before any group', 'Type = ethernet\n', 1, /before any group/],
    ['unknown group', '[global]\n\n[wired]\nType=ethernet\n', 3, /unknown group \[wired\]/],
    ['service_ without a name', '[service_]\nType=ethernet\n', 1, /needs a name/],
    ['malformed header', '[service_a\nType=ethernet\n', 1, /malformed group header/],
    ['duplicate group', '[service_a]\nType=ethernet\n[service_a]\nType=gadget\n', 3, /appears twice/],
    ['duplicate key', '[service_a]\nType=ethernet\nType=gadget\n', 3, /duplicate key 'Type'/],
    ['unknown key', '[service_a]\nType=ethernet\nIPv4.method=dhcp\n', 3, /unknown key 'IPv4.method'/],
    ['unknown global key', '[global]\nType=ethernet\n', 2, /unknown key 'Type' in \[global\]/],
    ['line without =', '[service_a]\nType ethernet\n', 2, /malformed line/],
    ['missing key', '[service_a]\n= ethernet\n', 2, /missing key/],
    ['empty value', '[service_a]\nType=ethernet\nDomain =\n', 3, /Domain: empty value/],
    ['missing Type', '# x\n[service_a]\nIPv4=dhcp\n', 2, /has no Type/],
    ['vpn Type', '[service_a]\nType=vpn\n', 2, /Type: 'vpn' cannot be provisioned/],
    ['Type is case-sensitive', '[service_a]\nType=Ethernet\n', 2, /Type: 'Ethernet'/],
    [
      'wifi key in ethernet',
      '[service_a]\nType=ethernet\nPassphrase=x\n',
      3,
      /Passphrase: only valid in a Type = wifi/,
    ],
    ['bad SSID', '[service_a]\nType=wifi\nSSID=abc\n', 3, /SSID: 'abc' is not a hexadecimal SSID/],
    ['bad Security', '[service_a]\nType=wifi\nSecurity=wpa3\n', 3, /Security: 'wpa3'/],
    ['bad MAC', '[service_a]\nType=ethernet\nMAC=2:aa:bb:cc:dd:01\n', 3, /MAC: '2:aa:bb:cc:dd:01' is not a MAC/],
    ['broadcast MAC', '[service_a]\nType=ethernet\nMAC=ff:ff:ff:ff:ff:ff\n', 3, /MAC: .*cannot be/],
    ['bad DeviceName', '[service_a]\nType=ethernet\nDeviceName=a/b\n', 3, /DeviceName: 'a\/b'/],
    ['IPv4 garbage', '[service_a]\nType=ethernet\nIPv4=static\n', 3, /IPv4: 'static' is not off, dhcp or/],
    [
      'IPv4 too many parts',
      '[service_a]\nType=ethernet\nIPv4=198.51.100.2/24/198.51.100.1/1\n',
      3,
      /IPv4: .* is not off, dhcp/,
    ],
    [
      'IPv4 leading zero',
      '[service_a]\nType=ethernet\nIPv4=198.51.100.02/24\n',
      3,
      /IPv4: '198.51.100.02' is not an IPv4 address/,
    ],
    ['IPv4 v6 address', '[service_a]\nType=ethernet\nIPv4=2001:db8::1/64\n', 3, /IPv4: '2001:db8::1' is not an IPv4/],
    ['IPv4 loopback', '[service_a]\nType=ethernet\nIPv4=127.0.0.2/8\n', 3, /IPv4: 127.0.0.2 is a loopback/],
    ['IPv4 multicast', '[service_a]\nType=ethernet\nIPv4=224.0.0.5/24\n', 3, /multicast/],
    ['IPv4 unspecified', '[service_a]\nType=ethernet\nIPv4=0.0.0.0/24\n', 3, /unspecified/],
    ['IPv4 non-contiguous mask', '[service_a]\nType=ethernet\nIPv4=198.51.100.2/255.0.255.0\n', 3, /not contiguous/],
    ['IPv4 zero mask', '[service_a]\nType=ethernet\nIPv4=198.51.100.2/0.0.0.0\n', 3, /out of range \(1-32\)/],
    ['IPv4 prefix 33', '[service_a]\nType=ethernet\nIPv4=198.51.100.2/33\n', 3, /prefix length 33 is out of range/],
    [
      'IPv4 prefix word',
      '[service_a]\nType=ethernet\nIPv4=198.51.100.2/abc\n',
      3,
      /neither a netmask nor a prefix length/,
    ],
    ['IPv4 network address', '[service_a]\nType=ethernet\nIPv4=198.51.100.0/24\n', 3, /is the network address of \/24/],
    ['IPv4 broadcast address', '[service_a]\nType=ethernet\nIPv4=198.51.100.255/24\n', 3, /is the broadcast address/],
    [
      'IPv4 off-link gateway',
      '[service_a]\nType=ethernet\nIPv4=198.51.100.2/24/203.0.113.1\n',
      3,
      /outside 198\.51\.100\.0\/24/,
    ],
    ['IPv4 gateway with /32', '[service_a]\nType=ethernet\nIPv4=198.51.100.2/32/198.51.100.1\n', 3, /outside/],
    [
      'IPv4 gateway is self',
      '[service_a]\nType=ethernet\nIPv4=198.51.100.2/24/198.51.100.2\n',
      3,
      /the address itself/,
    ],
    [
      'IPv4 gateway broadcast',
      '[service_a]\nType=ethernet\nIPv4=198.51.100.2/24/198.51.100.255\n',
      3,
      /gateway .* broadcast/,
    ],
    ['IPv4 bad gateway', '[service_a]\nType=ethernet\nIPv4=198.51.100.2/24/router\n', 3, /gateway 'router'/],
    ['IPv6 garbage', '[service_a]\nType=ethernet\nIPv6=manual\n', 3, /IPv6: 'manual' is not off, auto or/],
    ['IPv6 bad address', '[service_a]\nType=ethernet\nIPv6=2001:db8:::1/64\n', 3, /is not an IPv6 address/],
    ['IPv6 zone', '[service_a]\nType=ethernet\nIPv6=fe80::2%eth0/64\n', 3, /is not an IPv6 address/],
    ['IPv6 netmask', '[service_a]\nType=ethernet\nIPv6=2001:db8::2/ffff::\n', 3, /takes no netmask/],
    ['IPv6 prefix 0', '[service_a]\nType=ethernet\nIPv6=2001:db8::2/0\n', 3, /out of range \(1-128\)/],
    ['IPv6 prefix 129', '[service_a]\nType=ethernet\nIPv6=2001:db8::2/129\n', 3, /out of range/],
    ['IPv6 multicast', '[service_a]\nType=ethernet\nIPv6=ff02::1/64\n', 3, /multicast/],
    ['IPv6 loopback', '[service_a]\nType=ethernet\nIPv6=::1/128\n', 3, /loopback/],
    ['IPv6 v4-mapped', '[service_a]\nType=ethernet\nIPv6=::ffff:198.51.100.2/96\n', 3, /IPv4-mapped/],
    [
      'IPv6 off-link gateway',
      '[service_a]\nType=ethernet\nIPv6=2001:db8:1::2/64/2001:db8:2::1\n',
      3,
      /neither link-local nor inside 2001:db8:1::\/64/,
    ],
    [
      'IPv6 gateway is self',
      '[service_a]\nType=ethernet\nIPv6=2001:db8::2/64/2001:db8:0::2\n',
      3,
      /the address itself/,
    ],
    ['Privacy', '[service_a]\nType=ethernet\nIPv6.Privacy=on\n', 3, /IPv6.Privacy: 'on'/],
    [
      'Nameserver host name',
      '[service_a]\nType=ethernet\nNameservers=198.51.100.53,dns.example.net\n',
      3,
      /Nameservers: 'dns.example.net'/,
    ],
    [
      'Nameserver empty item',
      '[service_a]\nType=ethernet\nNameservers=198.51.100.53,,198.51.100.54\n',
      3,
      /Nameservers: empty item/,
    ],
    ['Nameserver twice', '[service_a]\nType=ethernet\nNameservers=2001:db8::53,2001:DB8:0::53\n', 3, /appears twice/],
    [
      'bad search domain',
      '[service_a]\nType=ethernet\nSearchDomains=ok.example,-bad.example\n',
      3,
      /SearchDomains: '-bad.example'/,
    ],
    ['bad Domain', '[service_a]\nType=ethernet\nDomain=a..b\n', 3, /Domain: 'a..b'/],
    ['bad Timeserver', '[service_a]\nType=ethernet\nTimeservers=198.51.100.300\n', 3, /Timeservers: '198.51.100.300'/],
    ['bad mDNS', '[service_a]\nType=ethernet\nmDNS=yes\n', 3, /mDNS: 'yes' is not a boolean/],
    ['bad Hidden', '[service_a]\nType=wifi\nHidden=maybe\n', 3, /Hidden: 'maybe'/],
  ];

  it.each(cases)('%s', (_label, text, line, message) => {
    const e = parseError(text);
    expect(e.file).toBe('rig.config');
    expect(e.line).toBe(line);
    expect(e.message).toMatch(message);
    expect(e.message.startsWith(`rig.config:${line}: `)).toBe(true);
  });

  it('rejects the whole file when a later section is bad', () => {
    const e = parseError(`${FULL}\n[service_bad]\nType=ethernet\nIPv4=nope\n`);
    // FULL ends with a newline, then a blank line, the header and Type: IPv4 is 3 lines past split().length.
    expect(e.line).toBe(FULL.split('\n').length + 3);
    expect(e.message).toMatch(/IPv4: .nope./);
  });
});

describe('isProvisioningFileName', () => {
  it('follows ConnMan: letters and digits, then .config', () => {
    expect(isProvisioningFileName('uplink1.config')).toBe(true);
    for (const bad of ['.config', 'a.conf', 'my-net.config', '../x.config', '.hidden.config', 'a b.config']) {
      expect(isProvisioningFileName(bad)).toBe(false);
    }
  });
});

describe('matchProvisioned', () => {
  const a = parseProvisioningFile(
    'a.config',
    `[service_type]
Type = ethernet
IPv4 = off
[service_dev]
Type = ethernet
DeviceName = eth0
[service_mac]
Type = ethernet
MAC = 02:00:00:00:00:01
[service_both]
Type = ethernet
MAC = 02:00:00:00:00:02
DeviceName = eth2
[service_wifi]
Type = wifi
Name = x
`,
  );
  const b = parseProvisioningFile('b.config', '[service_type2]\nType = ethernet\n[service_gadget]\nType = gadget\n');
  const all = [...a, ...b];
  const link = (name: string, mac: string, bearer: 'ethernet' | 'gadget' | 'wifi' | null = 'ethernet') => ({
    name,
    mac,
    bearer,
  });
  const ident = (s: ProvisionedService | null) => (s ? `${s.file}/${s.ident}` : null);

  it('MAC beats DeviceName beats Type only', () => {
    expect(ident(matchProvisioned(all, link('eth0', '02:00:00:00:00:01')))).toBe('a.config/mac');
    expect(ident(matchProvisioned(all, link('eth0', '02:00:00:00:00:09')))).toBe('a.config/dev');
  });

  it('MAC comparison ignores case', () => {
    expect(ident(matchProvisioned(all, link('eth7', '02:00:00:00:00:01'.toUpperCase())))).toBe('a.config/mac');
  });

  it('MAC and DeviceName together must both match, and then beat MAC alone', () => {
    expect(ident(matchProvisioned(all, link('eth2', '02:00:00:00:00:02')))).toBe('a.config/both');
    expect(ident(matchProvisioned(all, link('eth3', '02:00:00:00:00:02')))).toBe('b.config/type2');
  });

  it('among Type-only sections the later file wins, whatever the input order', () => {
    expect(ident(matchProvisioned(all, link('eth9', '')))).toBe('b.config/type2');
    expect(ident(matchProvisioned([...b, ...a].reverse(), link('eth9', '')))).toBe('b.config/type2');
    expect(ident(matchProvisioned(a, link('eth9', '')))).toBe('a.config/type');
  });

  it('within one file the later section wins a tie', () => {
    const two = parseProvisioningFile(
      'c.config',
      '[service_one]\nType=ethernet\nDeviceName=eth0\n[service_two]\nType=ethernet\nDeviceName=eth0\n',
    );
    expect(matchProvisioned(two, link('eth0', ''))?.ident).toBe('two');
    expect(matchProvisioned([...two].reverse(), link('eth0', ''))?.ident).toBe('two');
  });

  it('requires the Type to equal the bearer; unknown bearers and wifi never match', () => {
    expect(ident(matchProvisioned(all, link('usb0', '', 'gadget')))).toBe('b.config/gadget');
    expect(matchProvisioned(all, link('eth0', '02:00:00:00:00:01', null))).toBeNull();
    expect(matchProvisioned(all, link('wlan0', '', 'wifi'))).toBeNull();
    expect(matchProvisioned([], link('eth0', ''))).toBeNull();
  });
});

describe('desiredAddressing', () => {
  const [wan, lte, lab] = parseProvisioningFile('rig.config', FULL) as [
    ProvisionedService,
    ProvisionedService,
    ProvisionedService,
  ];

  it('static v4 + v6: addresses and gateways, no DHCP, no SLAAC', () => {
    expect(desiredAddressing(wan)).toEqual({
      addresses: [
        { family: 4, address: '198.51.100.10', prefixLength: 24 },
        { family: 6, address: '2001:db8::10', prefixLength: 64 },
      ],
      gateways: [
        { family: 4, gateway: '198.51.100.1' },
        { family: 6, gateway: 'fe80::1' },
      ],
      dhcpv4: false,
      ipv6: true,
      slaac: false,
      ipv6Privacy: 'preferred',
      nameservers: ['198.51.100.53', '2001:db8::53'],
      searchDomains: ['example.net', 'lab.example.net'],
      domain: 'example.net',
    });
  });

  it('dhcp + IPv6 off', () => {
    expect(desiredAddressing(lte)).toMatchObject({
      addresses: [],
      gateways: [],
      dhcpv4: true,
      ipv6: false,
      slaac: false,
    });
  });

  it('IPv4 off + IPv6 auto', () => {
    expect(desiredAddressing(lab)).toMatchObject({
      addresses: [],
      gateways: [],
      dhcpv4: false,
      ipv6: true,
      slaac: true,
      nameservers: [],
    });
  });

  it('a static address without gateway adds no gateway', () => {
    const s = svc('[service_x]\nType=ethernet\nIPv4=203.0.113.7/28\nIPv6=2001:db8::7/128');
    expect(desiredAddressing(s).gateways).toEqual([]);
    expect(desiredAddressing(s).addresses).toHaveLength(2);
  });
});

describe('property: generated static configurations round-trip', () => {
  const v4 = fc.tuple(fc.constantFrom(198, 203), fc.nat(255), fc.nat(255), fc.nat(255));
  it('IPv4 address/prefix/gateway is read back exactly, in both netmask spellings', () => {
    fc.assert(
      fc.property(
        v4,
        fc.integer({ min: 8, max: 30 }),
        fc.boolean(),
        fc.nat(),
        ([a, b, c, d], prefix, dotted, gwPick) => {
          const addr = (((a << 24) | (b << 16) | (c << 8) | d) >>> 0) as number;
          const mask = (0xffffffff << (32 - prefix)) >>> 0;
          const net = (addr & mask) >>> 0;
          const hosts = 2 ** (32 - prefix) - 2;
          const address = (net + 1 + (addr % hosts)) >>> 0;
          let gateway = (net + 1 + (gwPick % hosts)) >>> 0;
          if (gateway === address) gateway = address === net + 1 ? net + 2 : net + 1;
          const text = (n: number) => [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');
          const maskText = dotted ? text(mask) : String(prefix);
          const s = svc(`[service_p]\nType=ethernet\nIPv4 = ${text(address)}/${maskText}/${text(gateway)}\n`);
          expect(s.ipv4).toEqual({
            method: 'manual',
            address: text(address),
            prefixLength: prefix,
            gateway: text(gateway),
          });
          expect(desiredAddressing(s).addresses).toEqual([{ family: 4, address: text(address), prefixLength: prefix }]);
        },
      ),
    );
  });

  it('IPv6 in 2001:db8::/32 is read back canonical, with the same prefix', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 6, maxLength: 6 }),
        fc.integer({ min: 32, max: 128 }),
        (groups, prefix) => {
          if (!groups.some((g) => g !== 0)) groups[5] = 1;
          const long = ['2001', 'db8', ...groups.map((g) => g.toString(16).padStart(4, '0'))].join(':');
          const s = svc(`[service_p]\nType=ethernet\nIPv6=${long.toUpperCase()}/${prefix}\n`);
          if (s.ipv6.method !== 'manual') throw new Error('expected manual');
          expect(s.ipv6.prefixLength).toBe(prefix);
          // Canonical: lower case, no leading zeros, and re-parsing it gives itself.
          expect(s.ipv6.address).toMatch(/^[0-9a-f:]+$/);
          expect(s.ipv6.address).not.toMatch(/(^|:)0[0-9a-f]/);
          expect(svc(`[service_p]\nType=ethernet\nIPv6=${s.ipv6.address}/${prefix}\n`).ipv6).toEqual(s.ipv6);
        },
      ),
    );
  });
});

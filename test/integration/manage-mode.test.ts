/**
 * Manage mode end to end: netsessiond configures the uplinks itself from provisioning files and
 * DHCP, keeps ConnMan's two kinds of default route, and follows carrier and Connect/Disconnect.
 *
 * World: eth-a and eth-b ethernet, eth-c cellular, all matched by `ManageInterfaces = eth-*` and
 * handed to the daemon bare (down, no addresses, no routes). `wired.config` gives eth-a static
 * IPv4 + IPv6 with a nameserver; `dhcpb.config` gives eth-b IPv4 DHCP from dnsmasq on router 2.
 * eth-c has no section (default DHCP) and is cellular, so it is not brought up.
 *
 * | step                                   | expected                                                     |
 * |----------------------------------------|--------------------------------------------------------------|
 * | start                                  | eth-a manual .10 + 2001:db8:1::2, eth-b dhcp lease, eth-c idle |
 * | main table                             | eth-a metric 0 (v6 1024); eth-b 2^32-1-1024·12; nothing else |
 * | the SDK: services(), a session on eth-b | the lease's DNS server as nameservers on both                |
 * | socket bound to eth-b's lease          | reaches the internet through router 2, nothing spoofed       |
 * | SO_BINDTODEVICE eth-b (curl)           | same, via eth-b's low-priority default                        |
 * | resolv.conf                            | provisioning DNS (default service) before the DHCP one       |
 * | Disconnect / Connect eth-b             | idle, lease address gone (a foreign one stays), DHCPRELEASE, |
 * |                                        | udhcpc ended, link still up / all back                       |
 * | carrier loss / return on eth-a         | eth-b promoted to metric 0 / demoted again                   |
 * | provisioning edit, then malformed edit | new address applied; rejected with file:line, address stays  |
 * | MoveBefore / MoveAfter eth-b, eth-a     | eth-b's default at metric 0, eth-a low / back              |
 * | SIGTERM                                | DHCPRELEASE, udhcpc gone, no address/default/rule of ours, links up |
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, DBusTransport } from '../../lib/index.js';
import { INTERFACES, NETSESSION_MANAGER_INTERFACE } from '../../lib/protocol.js';
import { type DhcpServer, dhcpClientPids, startDhcpServer } from './harness/dhcp-server.js';
import { createSandbox, type Sandbox } from './harness/sandbox.js';
import { startTestDaemon, type TestDaemon } from './harness/test-daemon.js';
import { ConnmanClient, unwrap } from './support/connman-client.js';
import { canRunWith, connected, lowMetric as low, manageView, routeTuples, until } from './support/manage-world.js';

const supported = canRunWith(
  'manage-mode',
  ['udhcpc', 'dnsmasq', 'ethtool', 'curl'],
  'udhcpc dnsmasq-base ethtool curl',
);

const STATIC_DNS = '203.0.113.53';
const DHCP_DNS = '203.0.113.54';
const ETH_B_MAC = '02:00:00:00:00:02';
const WIRED =
  '[service_a]\nType = ethernet\nDeviceName = eth-a\nIPv4 = 198.51.100.10/255.255.255.248/198.51.100.9\nIPv6 = 2001:db8:1::2/64/2001:db8:1::1\nNameservers = 203.0.113.53\n';
const DHCPB = '[service_b]\nType = ethernet\nDeviceName = eth-b\nIPv4 = dhcp\nIPv6 = off\n';

let sb: Sandbox;
let td: TestDaemon;
let client: ConnmanClient;
let dhcp: DhcpServer;
let provDir: string;

const { service, waitRoutes } = manageView(() => ({ sb, td, client }));
const globals4 = async (name: string): Promise<string[]> =>
  (await sb.addresses(name, 4)).map((a) => `${a.local}/${a.prefixlen}`);
const globals6 = async (name: string): Promise<string[]> =>
  (await sb.addresses(name, 6)).filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`);
const nameservers = (): string[] =>
  readFileSync(join(td.stateDir, 'resolv.conf'), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('nameserver '));
const waitNameservers = (what: string, want: string[]): Promise<true> =>
  until(what, async () =>
    JSON.stringify(nameservers()) === JSON.stringify(want.map((x) => `nameserver ${x}`)) ? true : undefined,
  );
/** org.netsession.Manager1.GetDefaultRoutes as `'<ifname> <family> <gateway> <metric>' → state`. */
const lifecycle = async (): Promise<Record<string, string>> => {
  const [routes] = unwrap(await client.call('/', NETSESSION_MANAGER_INTERFACE, 'GetDefaultRoutes', '', [])) as [
    Array<Record<string, unknown>>,
  ];
  return Object.fromEntries(
    routes.map((r) => [
      `${String(r.Interface)} ${String(r.Family)} ${String(r.Gateway)} ${String(r.Metric)}`,
      String(r.State),
    ]),
  );
};

/** The routes of the steady state: eth-a default, eth-b low priority (IPv6 off on eth-b). */
const steady = (): string[] => [
  '4 eth-a 198.51.100.9 0',
  `4 eth-b 198.51.100.17 ${low(12)}`,
  '6 eth-a 2001:db8:1::1 1024',
];

describe.runIf(supported)('manage mode: provisioning, routes, failover', () => {
  // Every test that needs the lease waits for it itself, so one failure does not cascade.
  let leaseB = '';
  const lease = async (): Promise<string> => (leaseB ||= (await dhcp.waitForLease(ETH_B_MAC)).address);

  beforeAll(async () => {
    sb = await createSandbox();
    for (const u of sb.uplinks) await sb.bareUplink(u.name);
    dhcp = await startDhcpServer(sb, 'eth-b', { dns: [DHCP_DNS] });
    provDir = join(sb.tmpDir, 'provisioning');
    mkdirSync(provDir, { recursive: true });
    writeFileSync(join(provDir, 'wired.config'), WIRED);
    writeFileSync(join(provDir, 'dhcpb.config'), DHCPB);
    td = await startTestDaemon(sb, {
      args: ['--debug'],
      bearers: { 'eth-a': 'ethernet', 'eth-b': 'ethernet', 'eth-c': 'cellular' },
      general: ['ManageInterfaces = eth-*', `ProvisioningDir = ${provDir}`, 'DhcpClient = udhcpc'],
    });
    client = await ConnmanClient.connect(sb.dbusAddress!);
  }, 120_000);

  afterAll(async () => {
    client?.disconnect();
    await sb?.destroy();
  });

  it('configures eth-a statically', async () => {
    // The address can show before the gateway: wait for the complete IPv4 settings.
    const a = await until('eth-a connected with its static settings', async () => {
      const s = await service('eth-a');
      return connected(s.props.State) && (s.props.IPv4 as { Gateway?: string } | undefined)?.Gateway !== undefined
        ? s
        : undefined;
    });
    expect(a.props).toMatchObject({
      Type: 'ethernet',
      Favorite: true,
      AutoConnect: true,
      Immutable: true,
      'Nameservers.Configuration': [STATIC_DNS],
    });
    expect(a.props['IPv4.Configuration']).toEqual({
      Method: 'manual',
      Address: '198.51.100.10',
      Netmask: '255.255.255.248',
      Gateway: '198.51.100.9',
    });
    expect(a.props.IPv4).toMatchObject({
      Method: 'manual',
      Address: '198.51.100.10',
      Netmask: '255.255.255.248',
      Gateway: '198.51.100.9',
    });
    await until(
      'eth-a IPv6 settings',
      async () =>
        ((await service('eth-a')).props.IPv6 as { Address?: string } | undefined)?.Address === '2001:db8:1::2' ||
        undefined,
    );
    expect((await service('eth-a')).props.IPv6).toMatchObject({
      Method: 'manual',
      Address: '2001:db8:1::2',
      PrefixLength: 64,
      Gateway: '2001:db8:1::1',
    });
    expect(await globals4('eth-a')).toEqual(['198.51.100.10/29']);
    expect(await globals6('eth-a')).toEqual(['2001:db8:1::2/64']);
    expect((await sb.linkState('eth-a')).adminUp).toBe(true);
  });

  it('configures eth-b from its DHCP lease', async () => {
    expect(dhcp.pool).toContain(await lease());
    const b = await until('eth-b connected with its lease', async () => {
      const s = await service('eth-b');
      const ipv4 = s.props.IPv4 as { Address?: string; Gateway?: string } | undefined;
      return connected(s.props.State) && ipv4?.Address === leaseB && ipv4.Gateway !== undefined ? s : undefined;
    });
    expect(b.props).toMatchObject({
      Type: 'ethernet',
      Favorite: true,
      AutoConnect: true,
      Immutable: true,
      Nameservers: [DHCP_DNS],
    });
    // The SDK sees the lease's DNS server on the service and on a session bound to it.
    const transport = new DBusTransport({ busAddress: sb.dbusAddress! });
    try {
      expect((await transport.services()).find((x) => x.interface === 'eth-b')?.nameservers).toEqual([DHCP_DNS]);
      await using session = await createSession({ transport, allowedInterface: 'eth-b' });
      expect(session.settings).toMatchObject({ interface: 'eth-b', nameservers: [DHCP_DNS], metered: false });
    } finally {
      await transport.close();
    }
    expect(b.props['IPv4.Configuration']).toEqual({ Method: 'dhcp' });
    expect(b.props.IPv4).toMatchObject({
      Method: 'dhcp',
      Address: leaseB,
      Netmask: '255.255.255.248',
      Gateway: '198.51.100.17',
    });
    await until('lease on eth-b', async () => ((await globals4('eth-b')).includes(`${leaseB}/29`) ? true : undefined));
    expect(await globals6('eth-b')).toEqual([]);
    expect((await sb.linkState('eth-b')).adminUp).toBe(true);
  });

  it('leaves the cellular eth-c idle, unaddressed but admin up', async () => {
    const c = await service('eth-c');
    expect(c.props).toMatchObject({ Type: 'cellular', State: 'idle', Favorite: true, AutoConnect: true });
    expect(await globals4('eth-c')).toEqual([]);
    expect(await globals6('eth-c')).toEqual([]);
    expect((await sb.linkState('eth-c')).adminUp).toBe(true);
  });

  it('keeps metric 0 on the default service and a low-priority default on the other', async () => {
    await waitRoutes('steady-state default routes', steady());
  });

  it("a socket bound to eth-b's address reaches the internet through router 2", async () => {
    await lease();
    const before = await Promise.all(['eth-a', 'eth-b', 'eth-c'].map((n) => sb.routerCounters(n)));
    await sb.clearHttpLog();
    const r = await sb.httpRequest(sb.devNs, `http://${sb.inet.addr4}/bound?bytes=1000`, { localAddress: leaseB });
    expect(r).toMatchObject({ ok: true, status: 200, bytes: 1000, localAddress: leaseB });
    const after = await Promise.all(['eth-a', 'eth-b', 'eth-c'].map((n) => sb.routerCounters(n)));
    expect(after[1]!.fwdOut).toBeGreaterThan(before[1]!.fwdOut);
    expect(after.map((c) => c.spoofed)).toEqual(before.map((c) => c.spoofed));
    // Unbound traffic follows metric 0: eth-a.
    const unbound = await sb.httpRequest(sb.devNs, `http://${sb.inet.addr4}/unbound`);
    expect(unbound).toMatchObject({ ok: true, localAddress: '198.51.100.10' });
    const log = await sb.httpLog();
    expect(log.find((e) => e.path === '/bound')?.client).toBe(leaseB);
    expect(log.find((e) => e.path === '/unbound')?.client).toBe('198.51.100.10');
    const { stdout } = await sb.run(sb.devNs, ['ip', '-j', 'rule', 'show']);
    const rules = (JSON.parse(stdout) as Array<{ src?: string; table?: string }>).filter(
      (x) => x.src === leaseB || x.src === '198.51.100.10',
    );
    expect(rules.map((x) => x.src).sort()).toEqual(['198.51.100.10', leaseB].sort());
  });

  it('SO_BINDTODEVICE to eth-b works through its low-priority default route', async () => {
    await lease();
    const before = await sb.routerCounters('eth-b');
    const r = await sb.run(
      sb.devNs,
      [
        'curl',
        '-sS',
        '--max-time',
        '5',
        '--interface',
        'eth-b',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code} %{local_ip}',
        `http://${sb.inet.addr4}/bindtodevice`,
      ],
      { allowFail: true },
    );
    expect(`${r.code} ${r.stdout} ${r.stderr}`.trim()).toBe(`0 200 ${leaseB}`);
    expect((await sb.routerCounters('eth-b')).fwdOut).toBeGreaterThan(before.fwdOut);
  });

  it('writes resolv.conf: the default service first', async () => {
    const servers = await until('both nameservers in resolv.conf', async () => {
      const lines = nameservers();
      return lines.length >= 2 ? lines : undefined;
    });
    expect(servers).toEqual([`nameserver ${STATIC_DNS}`, `nameserver ${DHCP_DNS}`]);
  });

  it('Service.Disconnect releases the lease and Connect brings it back', async () => {
    const b = await service('eth-b');
    await expect(client.call(b.path, INTERFACES.service, 'Connect', '', [])).rejects.toMatchObject({
      type: 'net.connman.Error.AlreadyConnected',
    });
    expect(await dhcpClientPids(sb, 'eth-b')).toHaveLength(1);
    // An address someone else added (no netsessiond tag) is not ours to remove.
    // (.18 is outside the DHCP pool; IPv6 is disabled on eth-b by `IPv6 = off`.)
    await sb.run(sb.devNs, ['ip', 'addr', 'add', '198.51.100.18/29', 'dev', 'eth-b']);
    const releases = dhcp.count(/DHCPRELEASE/);
    await client.call(b.path, INTERFACES.service, 'Disconnect', '', []);
    await until('eth-b idle', async () => ((await service('eth-b')).props.State === 'idle' ? true : undefined));
    await until('lease address gone from eth-b, the foreign one left', async () =>
      (await globals4('eth-b')).join() === '198.51.100.18/29' ? true : undefined,
    );
    await until('DHCPRELEASE at the server', async () => (dhcp.count(/DHCPRELEASE/) > releases ? true : undefined));
    await until(
      'udhcpc on eth-b ended',
      async () => ((await dhcpClientPids(sb, 'eth-b')).length === 0 ? true : undefined),
      5_000,
    );
    await waitRoutes('no eth-b default route while idle', ['4 eth-a 198.51.100.9 0', '6 eth-a 2001:db8:1::1 1024']);
    expect((await sb.linkState('eth-b')).adminUp).toBe(true);
    await sb.run(sb.devNs, ['ip', 'addr', 'del', '198.51.100.18/29', 'dev', 'eth-b']);

    await client.call(b.path, INTERFACES.service, 'Connect', '', []);
    leaseB = (await dhcp.waitForLease(ETH_B_MAC)).address;
    await until('eth-b connected again', async () => {
      const s = await service('eth-b');
      return connected(s.props.State) && (s.props.IPv4 as { Address?: string } | undefined)?.Address === leaseB
        ? true
        : undefined;
    });
    await waitRoutes('eth-b low-priority route back', steady());
  });

  it('promotes eth-b when eth-a loses carrier and demotes it when eth-a returns', async () => {
    await lease();
    await sb.setCarrier('eth-a', false);
    await until('eth-a idle', async () => ((await service('eth-a')).props.State === 'idle' ? true : undefined));
    await waitRoutes('eth-b promoted', ['4 eth-b 198.51.100.17 0']);
    // The daemon's own view: each route's state as the kernel's notifications confirmed it.
    await until("lifecycle: eth-b metric 0 active, its low-priority route and eth-a's gone", async () => {
      const l = await lifecycle();
      return l['eth-b 4 198.51.100.17 0'] === 'active' &&
        l[`eth-b 4 198.51.100.17 ${low(12)}`] !== 'active' &&
        l['eth-a 4 198.51.100.9 0'] !== 'active'
        ? true
        : undefined;
    });
    expect(await globals4('eth-a')).toEqual([]);
    expect(await globals6('eth-a')).toEqual([]);
    const r = await sb.httpRequest(sb.devNs, `http://${sb.inet.addr4}/promoted`);
    expect(r).toMatchObject({ ok: true, localAddress: leaseB });
    await waitNameservers('only the DHCP nameserver while eth-a is down', [DHCP_DNS]);

    await sb.setCarrier('eth-a', true);
    await until('eth-a connected again', async () =>
      connected((await service('eth-a')).props.State) ? true : undefined,
    );
    await waitRoutes('eth-a default again, eth-b demoted', steady());
    await until('lifecycle: eth-a metric 0 and eth-b low priority active again', async () => {
      const l = await lifecycle();
      return l['eth-a 4 198.51.100.9 0'] === 'active' &&
        l[`eth-b 4 198.51.100.17 ${low(12)}`] === 'active' &&
        l['eth-b 4 198.51.100.17 0'] !== 'active'
        ? true
        : undefined;
    });
    await waitNameservers('eth-a nameserver first again', [STATIC_DNS, DHCP_DNS]);
    expect(await globals4('eth-a')).toEqual(['198.51.100.10/29']);
    expect(await globals6('eth-a')).toEqual(['2001:db8:1::2/64']);
  });

  it('applies a provisioning edit, and keeps the previous version when an edit is malformed', async () => {
    writeFileSync(join(provDir, 'wired.config'), WIRED.replace('198.51.100.10/', '198.51.100.11/'));
    await until('eth-a re-addressed to .11', async () => {
      const got = await globals4('eth-a');
      return got.length === 1 && got[0] === '198.51.100.11/29' ? true : undefined;
    });
    await waitRoutes('routes unchanged by the re-address', steady());

    writeFileSync(
      join(provDir, 'wired.config'),
      WIRED.replace('198.51.100.10/255.255.255.248/', '198.51.100.12/255.0.255.0/'),
    );
    const line = await td.daemon.waitForLine(/provisioning rejected, previous version kept:/, { timeoutMs: 5_000 });
    expect(line).toContain('wired.config');
    expect(line).toMatch(/:\d+|line \d+/);
    writeFileSync(
      join(provDir, 'typo.config'),
      '[service_x]\nType = ethernet\nDeviceName = eth-c\nIPv4 = dhcp\nBogusKey = 1\n',
    );
    const typo = await td.daemon.waitForLine(/provisioning rejected, previous version kept:.*typo\.config/, {
      timeoutMs: 5_000,
    });
    expect(typo).toMatch(/BogusKey/);

    // Everything keeps working on the previous versions.
    expect(await globals4('eth-a')).toEqual(['198.51.100.11/29']);
    expect(connected((await service('eth-a')).props.State)).toBe(true);
    expect((await service('eth-a')).props.IPv4).toMatchObject({ Method: 'manual', Address: '198.51.100.11' });
    expect(connected((await service('eth-b')).props.State)).toBe(true);
    expect((await service('eth-c')).props.State).toBe('idle');
    await waitRoutes('routes unchanged by the rejected files', steady());
    const r = await sb.httpRequest(sb.devNs, `http://${sb.inet.addr4}/after-reject`, { localAddress: '198.51.100.11' });
    expect(r).toMatchObject({ ok: true, status: 200 });
  });

  it('MoveBefore/MoveAfter reorder two equal services: the default route follows', async () => {
    await lease();
    await until('eth-a and eth-b online', async () =>
      (await service('eth-a')).props.State === 'online' && (await service('eth-b')).props.State === 'online'
        ? true
        : undefined,
    );
    const [a, b] = [await service('eth-a'), await service('eth-b')];
    await client.call(b.path, INTERFACES.service, 'MoveBefore', 'o', [a.path]);
    await waitRoutes('eth-b first', [
      '4 eth-b 198.51.100.17 0',
      `4 eth-a 198.51.100.9 ${low(11)}`,
      '6 eth-a 2001:db8:1::1 1024',
    ]);
    const r = await sb.httpRequest(sb.devNs, `http://${sb.inet.addr4}/moved`);
    expect(r).toMatchObject({ ok: true, localAddress: leaseB });
    await client.call(b.path, INTERFACES.service, 'MoveAfter', 'o', [a.path]);
    await waitRoutes('eth-a first again', steady());
    const self = await client.call(b.path, INTERFACES.service, 'MoveBefore', 'o', [b.path]).then(
      () => 'ok',
      (e: { type?: string }) => e.type ?? String(e),
    );
    expect(self).toBe('net.connman.Error.InvalidService');
  });

  it('at SIGTERM gives the lease back and removes what it configured; the links stay up', async () => {
    await lease();
    const releases = dhcp.count(/DHCPRELEASE/);
    const exit = await td.daemon.kill('SIGTERM', 10_000);
    expect(exit.code).toBe(0);
    expect(dhcp.count(/DHCPRELEASE/)).toBe(releases + 1);
    expect(await dhcpClientPids(sb, 'eth-b')).toEqual([]);
    expect(routeTuples(await sb.defaultRoutes())).toEqual([]);
    expect(await globals4('eth-a')).toEqual([]);
    expect(await globals4('eth-b')).toEqual([]);
    expect(await globals6('eth-a')).toEqual([]);
    // Rules and per-service tables go too (the routing adapter's clear).
    const rules = (await sb.run(sb.devNs, ['ip', 'rule', 'list'])).stdout;
    expect(rules).not.toMatch(/proto 110|lookup 1\d{4}/);
    for (const name of ['eth-a', 'eth-b', 'eth-c'])
      expect((await sb.linkState(name)).adminUp, `${name} admin up`).toBe(true);
  });
});

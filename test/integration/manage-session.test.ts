/**
 * Session autoconnect in manage mode (ConnMan's session_auto_connect): a session's Connect()
 * brings up a matching service when none is connected, and the service goes back to idle when
 * the last session that asked for it lets go.
 *
 * World: eth-a and eth-b managed ethernet with static addresses (`wired.config`); eth-c managed
 * cellular without a section (default: IPv4 DHCP, IPv6 SLAAC) and a dnsmasq on router 3 serving
 * DHCPv4 and router advertisements. Cellular is not brought up on its own while ethernet is up,
 * so eth-c starts idle (and must not pick up a SLAAC address from the advertisements).
 *
 * | step                                          | expected                                          |
 * |-----------------------------------------------|---------------------------------------------------|
 * | start                                         | eth-c idle, no lease, no SLAAC address            |
 * | session (any bearer) Connect                  | bound to eth-a; eth-c still idle                  |
 * | session [cellular] Connect                    | eth-c leased + SLAAC, session bound to it; eth-c |
 * |                                               | low v4 default (eth-a keeps 0), the only v6 one  |
 * | second [cellular] session Connect, first Destroy | eth-c stays up                                 |
 * | second Disconnect                             | eth-c idle, address and route gone, DHCPRELEASE   |
 * | ethernet Powered false / true                 | eth-c comes up as the fallback / stays, demoted   |
 * | SingleConnectedTechnology + AlwaysConnected   | (own daemon) eth-a and eth-c up, eth-b idle       |
 *
 * Also covers `--provisioning-dir` on the command line and `DhcpClient = busybox udhcpc`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INTERFACES } from '../../lib/protocol.js';
import { type DhcpServer, dhcpClientPids, startDhcpServer } from './harness/dhcp-server.js';
import { createSandbox, type Sandbox } from './harness/sandbox.js';
import { startTestDaemon, type TestDaemon } from './harness/test-daemon.js';
import { ConnmanClient, v } from './support/connman-client.js';
import { canRunWith, connected, lowMetric as low, manageView, until } from './support/manage-world.js';

const supported = canRunWith('manage-session', ['udhcpc', 'dnsmasq', 'ethtool'], 'udhcpc dnsmasq-base ethtool');

const WIRED =
  '[service_a]\nType = ethernet\nDeviceName = eth-a\nIPv4 = 198.51.100.10/255.255.255.248/198.51.100.9\nIPv6 = off\n' +
  '[service_b]\nType = ethernet\nDeviceName = eth-b\nIPv4 = 198.51.100.18/255.255.255.248/198.51.100.17\nIPv6 = off\n';
const ETH_C_MAC = '02:00:00:00:00:03';
const BASE = ['4 eth-a 198.51.100.9 0', `4 eth-b 198.51.100.17 ${low(12)}`];
/** Router 3's link-local address (from its lan MAC 02:00:00:00:01:03): the RA gateway. */
const RA_GW = 'fe80::ff:fe00:103';

let sb: Sandbox;
let td: TestDaemon;
let client: ConnmanClient;
let dhcp: DhcpServer;
let seq = 0;
const notifierPath = () => `/test/manage${++seq}`;

const { service, waitRoutes } = manageView(() => ({ sb, td, client }));
const v4 = async (name: string): Promise<string[]> => (await sb.addresses(name, 4)).map((a) => a.local);
const globals6 = async (name: string): Promise<string[]> =>
  (await sb.addresses(name, 6)).filter((a) => a.scope === 'global').map((a) => a.local);

/** Builds the world and starts the daemon with `general` lines added to manage mode's. */
async function startWorld(general: string[]): Promise<void> {
  sb = await createSandbox();
  for (const u of sb.uplinks) await sb.bareUplink(u.name);
  dhcp = await startDhcpServer(sb, 'eth-c', { ra: true });
  const provDir = join(sb.tmpDir, 'provisioning');
  mkdirSync(provDir, { recursive: true });
  writeFileSync(join(provDir, 'wired.config'), WIRED);
  td = await startTestDaemon(sb, {
    // The command-line spelling of ProvisioningDir, and DhcpClient as several words.
    args: ['--debug', '--provisioning-dir', provDir],
    bearers: { 'eth-a': 'ethernet', 'eth-b': 'ethernet', 'eth-c': 'cellular' },
    general: ['ManageInterfaces = eth-*', 'DhcpClient = busybox udhcpc', ...general],
  });
  client = await ConnmanClient.connect(sb.dbusAddress!);
}

const states = async (): Promise<Record<string, unknown>> =>
  Object.fromEntries((await client.services()).map((x) => [x.props.Name, x.props.State]));

describe.runIf(supported)('manage mode: session autoconnect', () => {
  beforeAll(async () => {
    await startWorld([]);
    await until('eth-a and eth-b connected', async () => {
      const s = await states();
      return connected(s['eth-a']) && connected(s['eth-b']) ? true : undefined;
    });
    await waitRoutes('ethernet routes', BASE);
  }, 120_000);

  afterAll(async () => {
    client?.disconnect();
    await sb?.destroy();
  });

  it('starts with the cellular eth-c idle and unleased', async () => {
    expect((await service('eth-c')).props).toMatchObject({
      Type: 'cellular',
      State: 'idle',
      Favorite: true,
      AutoConnect: true,
    });
    expect(await v4('eth-c')).toEqual([]);
    expect(await globals6('eth-c')).toEqual([]);
    expect(dhcp.leases()).toEqual([]);
    expect(await dhcpClientPids(sb, 'eth-c')).toEqual([]);
    await waitRoutes('no route on eth-c', BASE);
  });

  it('a session that any connected service satisfies does not bring up eth-c', async () => {
    const { path, n } = await client.createSession({}, notifierPath());
    await client.session(path).connect();
    await n.waitFor((s) => s.Interface === 'eth-a', 10_000, 'bound to eth-a');
    expect((await service('eth-c')).props.State).toBe('idle');
    await client.session(path).destroy();
    expect(dhcp.count(/DHCPDISCOVER/)).toBe(0);
  });

  it('Connect() on a cellular session brings eth-c up; it stays while a session wants it', async () => {
    const first = await client.createSession({ AllowedBearers: v.as(['cellular']) }, notifierPath());
    await first.n.waitCount(1);
    expect(first.n.settings).toMatchObject({ State: 'disconnected', Interface: '' });
    await client.session(first.path).connect();

    const lease = await dhcp.waitForLease(ETH_C_MAC);
    // SLAAC may make eth-c ready before the lease is in: wait for the whole IPv4 settings too.
    const bound = (x: Record<string, unknown>): boolean => {
      const ipv4 = x.IPv4 as { Address?: string; Gateway?: string } | undefined;
      return (
        x.Interface === 'eth-c' &&
        (x.State === 'connected' || x.State === 'online') &&
        ipv4?.Address === lease.address &&
        ipv4.Gateway !== undefined
      );
    };
    const s = await first.n.waitFor(bound, 20_000, 'session bound to eth-c with its lease');
    expect(s).toMatchObject({ Bearer: 'cellular', IPv4: { Address: lease.address, Gateway: '198.51.100.25' } });
    const c = await until('eth-c connected', async () => {
      const x = await service('eth-c');
      return connected(x.props.State) ? x : undefined;
    });
    expect(c.props.IPv4).toMatchObject({ Method: 'dhcp', Address: lease.address });
    expect(await v4('eth-c')).toEqual([lease.address]);
    // eth-a and eth-b have IPv6 off: eth-c is the only IPv6 service, so it has the v6 default.
    await waitRoutes('eth-c low-priority v4 default, eth-a still default', [
      ...BASE,
      `4 eth-c 198.51.100.25 ${low(13)}`,
      `6 eth-c ${RA_GW} 1024`,
    ]);
    const slaac = await until('SLAAC address on eth-c', async () =>
      (await globals6('eth-c')).find((a) => a.startsWith('2001:db8:3:')),
    );
    expect((await service('eth-c')).props.IPv6).toMatchObject({ Method: 'auto', Address: slaac });
    const r = await sb.httpRequest(sb.devNs, `http://${sb.inet.addr4}/cellular`, { localAddress: lease.address });
    expect(r).toMatchObject({ ok: true, status: 200 });

    const second = await client.createSession({ AllowedBearers: v.as(['cellular']) }, notifierPath());
    await client.session(second.path).connect();
    await second.n.waitFor((x) => x.Interface === 'eth-c', 10_000, 'second session on eth-c');
    await client.session(first.path).destroy();
    // The second session still wants cellular: eth-c stays up and keeps the session.
    expect(connected((await service('eth-c')).props.State)).toBe(true);
    expect(await v4('eth-c')).toEqual([lease.address]);

    const releases = dhcp.count(/DHCPRELEASE/);
    await client.session(second.path).disconnect();
    await until('eth-c idle after the last session let go', async () =>
      (await service('eth-c')).props.State === 'idle' ? true : undefined,
    );
    await until('eth-c addresses gone', async () =>
      (await v4('eth-c')).length === 0 && (await globals6('eth-c')).length === 0 ? true : undefined,
    );
    await waitRoutes('eth-c route gone', BASE);
    await until('DHCPRELEASE from eth-c', async () => (dhcp.count(/DHCPRELEASE/) > releases ? true : undefined));
    await until(
      'udhcpc on eth-c ended',
      async () => ((await dhcpClientPids(sb, 'eth-c')).length === 0 ? true : undefined),
      5_000,
    );
    expect(second.n.settings).toMatchObject({ State: 'disconnected', Interface: '' });
    await client.session(second.path).destroy();
  });

  it('brings cellular up on its own once no ethernet service is up', async () => {
    await client.call('/net/connman/technology/ethernet', INTERFACES.technology, 'SetProperty', 'sv', [
      'Powered',
      v.b(false),
    ]);
    const lease = await dhcp.waitForLease(ETH_C_MAC);
    await until('eth-c connected as the fallback', async () =>
      connected((await states())['eth-c']) ? true : undefined,
    );
    await waitRoutes('eth-c is the default for both families', ['4 eth-c 198.51.100.25 0', `6 eth-c ${RA_GW} 1024`]);
    expect(await v4('eth-c')).toEqual([lease.address]);

    await client.call('/net/connman/technology/ethernet', INTERFACES.technology, 'SetProperty', 'sv', [
      'Powered',
      v.b(true),
    ]);
    // Without SingleConnectedTechnology an auto-connected cellular stays up (ConnMan); it is
    // demoted to its low-priority default behind eth-a.
    await waitRoutes('eth-a default again, eth-c demoted', [
      ...BASE,
      `4 eth-c 198.51.100.25 ${low(13)}`,
      `6 eth-c ${RA_GW} 1024`,
    ]);
    expect(connected((await states())['eth-c'])).toBe(true);
  });
});

describe.runIf(supported)('manage mode: SingleConnectedTechnology with AlwaysConnectedTechnologies', () => {
  beforeAll(async () => {
    await startWorld(['SingleConnectedTechnology = true', 'AlwaysConnectedTechnologies = cellular']);
  }, 120_000);

  afterAll(async () => {
    client?.disconnect();
    await sb?.destroy();
  });

  it('connects one ethernet service, plus cellular without any session', async () => {
    const lease = await dhcp.waitForLease(ETH_C_MAC);
    await until('eth-a and eth-c connected', async () => {
      const s = await states();
      return connected(s['eth-a']) && connected(s['eth-c']) ? true : undefined;
    });
    // One technology at a time: the second cable is not connected; cellular is exempt.
    expect((await states())['eth-b']).toBe('idle');
    await waitRoutes('eth-a default, eth-c low priority', [
      '4 eth-a 198.51.100.9 0',
      `4 eth-c 198.51.100.25 ${low(13)}`,
      `6 eth-c ${RA_GW} 1024`,
    ]);
    expect(await v4('eth-c')).toEqual([lease.address]);
    expect(await v4('eth-b')).toEqual([]);
  });
});

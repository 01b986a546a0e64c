/**
 * Manage mode under the switches: Technology.Powered, Manager.OfflineMode, Service.AutoConnect
 * (persisted across a SIGKILL), and the line between managed and observed links.
 *
 * World: eth-a (static, `wired.config`) and eth-b (DHCP from dnsmasq on router 2) are managed
 * ethernet (provisioning from the default <StateDir>/provisioning, nameservers to a custom
 * ResolvConf path); eth-c is cellular and observed (`ObserveInterfaces = eth-c` wins over
 * `ManageInterfaces = eth-*`), so it keeps the harness's own addresses and routes throughout.
 *
 * | step                                   | expected                                                      |
 * |----------------------------------------|---------------------------------------------------------------|
 * | ethernet Powered false / true          | eth-a, eth-b admin down, idle, routes gone / back as before   |
 * | OfflineMode true / false               | the same for every managed link; observed eth-c untouched     |
 * | Connect / Disconnect on observed eth-c | net.connman.Error.NotSupported                                |
 * | eth-b AutoConnect false, SIGKILL, start| persisted; eth-b idle without address after restart; Connect ok |
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INTERFACES } from '../../lib/protocol.js';
import { type DhcpServer, dhcpClientPids, startDhcpServer } from './harness/dhcp-server.js';
import { createSandbox, type Sandbox } from './harness/sandbox.js';
import { startTestDaemon, type TestDaemon, type TestDaemonOptions } from './harness/test-daemon.js';
import { ConnmanClient, v } from './support/connman-client.js';
import { canRunWith, connected, lowMetric as low, manageView, until } from './support/manage-world.js';

const supported = canRunWith('manage-control', ['udhcpc', 'dnsmasq', 'ethtool'], 'udhcpc dnsmasq-base ethtool');

const WIRED =
  '[service_a]\nType = ethernet\nDeviceName = eth-a\nIPv4 = 198.51.100.10/255.255.255.248/198.51.100.9\nIPv6 = 2001:db8:1::2/64/2001:db8:1::1\nNameservers = 203.0.113.53,2001:db8:cafe::53\n';
const DHCPB = '[service_b]\nType = ethernet\nDeviceName = eth-b\nIPv4 = dhcp\nIPv6 = off\n';
/** The observed eth-c keeps the harness's routes (metric 300) whatever the daemon does. */
const OBSERVED = ['4 eth-c 198.51.100.25 300', '6 eth-c 2001:db8:3::1 300'];
const STEADY = [
  '4 eth-a 198.51.100.9 0',
  `4 eth-b 198.51.100.17 ${low(12)}`,
  '6 eth-a 2001:db8:1::1 1024',
  ...OBSERVED,
];
const MANAGED = ['eth-a', 'eth-b'];

let sb: Sandbox;
let td: TestDaemon;
let client: ConnmanClient;
let dhcp: DhcpServer;
let daemonOpts: TestDaemonOptions;
let resolvConf: string;

const { service, waitRoutes, tail } = manageView(() => ({ sb, td, client }));
const v4 = async (name: string): Promise<string[]> =>
  (await sb.addresses(name, 4)).map((a) => `${a.local}/${a.prefixlen}`);
const states = async (): Promise<Record<string, unknown>> =>
  Object.fromEntries((await client.services()).map((s) => [s.props.Name, s.props.State]));

/** Waits for eth-a and eth-b connected (eth-b on a lease) and the steady routes. */
async function waitSteady(what: string): Promise<void> {
  let last: Record<string, unknown> = {};
  await until(`${what}: eth-a and eth-b connected`, async () => {
    last = await states();
    return connected(last['eth-a']) && connected(last['eth-b']) ? true : undefined;
  }).catch((err: Error) => {
    throw new Error(`${err.message}; states ${JSON.stringify(last)}\ndaemon log tail:\n${tail()}`);
  });
  await until(`${what}: eth-b lease address`, async () =>
    (await v4('eth-b')).some((a) => dhcp.pool.some((p) => a === `${p}/29`)) ? true : undefined,
  );
  await waitRoutes(`${what}: steady routes`, STEADY);
}

/** Waits for both managed links admin down, their services idle and their routes gone. */
async function waitAllDown(what: string): Promise<void> {
  await until(`${what}: managed links admin down`, async () => {
    const admin = await Promise.all(MANAGED.map(async (n) => (await sb.linkState(n)).adminUp));
    return admin.every((up) => !up) ? true : undefined;
  });
  await until(`${what}: managed services idle`, async () => {
    const s = await states();
    return s['eth-a'] === 'idle' && s['eth-b'] === 'idle' ? true : undefined;
  });
  await waitRoutes(`${what}: managed routes gone`, OBSERVED);
}

describe.runIf(supported)('manage mode: Powered, OfflineMode, AutoConnect, observed links', () => {
  beforeAll(async () => {
    sb = await createSandbox();
    await sb.bareUplink('eth-a');
    await sb.bareUplink('eth-b');
    dhcp = await startDhcpServer(sb, 'eth-b');
    // The default ProvisioningDir: <StateDir>/provisioning (startTestDaemon's state dir).
    const provDir = join(sb.tmpDir, 'state', 'provisioning');
    resolvConf = join(sb.tmpDir, 'resolv-custom.conf');
    mkdirSync(provDir, { recursive: true });
    writeFileSync(join(provDir, 'wired.config'), WIRED);
    writeFileSync(join(provDir, 'dhcpb.config'), DHCPB);
    daemonOpts = {
      args: ['--debug'],
      bearers: { 'eth-a': 'ethernet', 'eth-b': 'ethernet', 'eth-c': 'cellular' },
      general: [
        'ManageInterfaces = eth-*',
        'ObserveInterfaces = eth-c',
        'DhcpClient = udhcpc',
        `ResolvConf = ${resolvConf}`,
      ],
    };
    td = await startTestDaemon(sb, daemonOpts);
    client = await ConnmanClient.connect(sb.dbusAddress!);
    await waitSteady('start');
  }, 120_000);

  afterAll(async () => {
    client?.disconnect();
    await sb?.destroy();
  });

  it('writes the provisioned nameservers to the ResolvConf path', async () => {
    const servers = await until('nameservers written', async () => {
      const lines = existsSync(resolvConf)
        ? readFileSync(resolvConf, 'utf8')
            .split('\n')
            .filter((l) => l.startsWith('nameserver '))
        : [];
      return lines.length ? lines : undefined;
    });
    expect(servers).toEqual(['nameserver 203.0.113.53', 'nameserver 2001:db8:cafe::53']);
    expect(existsSync(join(td.stateDir, 'resolv.conf'))).toBe(false);
  });

  it('Technology Powered false takes the ethernet links down; true brings them back', async () => {
    await client.call('/net/connman/technology/ethernet', INTERFACES.technology, 'SetProperty', 'sv', [
      'Powered',
      v.b(false),
    ]);
    await waitAllDown('ethernet off');
    expect((await sb.linkState('eth-c')).adminUp).toBe(true);
    await client.call('/net/connman/technology/ethernet', INTERFACES.technology, 'SetProperty', 'sv', [
      'Powered',
      v.b(true),
    ]);
    await until('links admin up', async () =>
      (await Promise.all(MANAGED.map((n) => sb.linkState(n)))).every((l) => l.adminUp) ? true : undefined,
    );
    await waitSteady('ethernet on');
    expect(await v4('eth-a')).toEqual(['198.51.100.10/29']);
  });

  it('OfflineMode takes every managed link down and back; the observed one is left alone', async () => {
    await client.setManagerProperty('OfflineMode', v.b(true));
    await waitAllDown('offline');
    expect(await v4('eth-c')).toEqual(['198.51.100.26/29']);
    await client.setManagerProperty('OfflineMode', v.b(false));
    await waitSteady('online again');
    const r = await sb.httpRequest(sb.devNs, `http://${sb.inet.addr4}/after-offline`);
    expect(r).toMatchObject({ ok: true, status: 200, localAddress: '198.51.100.10' });
  });

  it('Connect on a connected observed link is AlreadyConnected (as in ConnMan, D4); Disconnect is NotSupported', async () => {
    const c = await service('eth-c');
    const outcome: Record<string, string> = {};
    for (const member of ['Connect', 'Disconnect']) {
      outcome[member] = await client.call(c.path, INTERFACES.service, member, '', []).then(
        () => 'ok',
        (e: { type?: string }) => e.type ?? String(e),
      );
    }
    // ConnMan's answer for a connected service comes first (observe-mode clients rely on it);
    // Disconnect would change the link, which another tool owns.
    expect(outcome).toEqual({
      Connect: 'net.connman.Error.AlreadyConnected',
      Disconnect: 'net.connman.Error.NotSupported',
    });
    expect(await v4('eth-c')).toEqual(['198.51.100.26/29']);
    await waitRoutes('nothing changed', STEADY);
  });

  it('AutoConnect false is persisted and keeps eth-b idle after a SIGKILL and restart', async () => {
    const b = await service('eth-b');
    const id = b.path.split('/').pop()!;
    await client.call(b.path, INTERFACES.service, 'SetProperty', 'sv', ['AutoConnect', v.b(false)]);
    expect((await service('eth-b')).props.AutoConnect).toBe(false);
    // AutoConnect alone does not disconnect a connected service (ConnMan).
    expect(connected((await service('eth-b')).props.State)).toBe(true);
    const saved = JSON.parse(readFileSync(join(td.stateDir, 'settings'), 'utf8')) as {
      services?: Record<string, { autoConnect?: boolean }>;
    };
    expect(saved.services?.[id]?.autoConnect).toBe(false);

    expect(await dhcpClientPids(sb, 'eth-b'), 'one udhcpc on eth-b while connected').toHaveLength(1);
    await td.daemon.kill('SIGKILL', 0);
    client.disconnect();
    td = await startTestDaemon(sb, daemonOpts);
    client = await ConnmanClient.connect(sb.dbusAddress!);
    await until('eth-a connected after restart', async () => (connected((await states())['eth-a']) ? true : undefined));
    const after = await service('eth-b');
    expect(after.props).toMatchObject({ State: 'idle', AutoConnect: false, Favorite: true });
    await until('no address left on idle eth-b', async () => ((await v4('eth-b')).length === 0 ? true : undefined));
    // The killed daemon's udhcpc must not keep the lease alive behind an idle service.
    await until(
      'no udhcpc left on eth-b',
      async () => ((await dhcpClientPids(sb, 'eth-b')).length === 0 ? true : undefined),
      5_000,
    );
    await waitRoutes('no route for idle eth-b', ['4 eth-a 198.51.100.9 0', '6 eth-a 2001:db8:1::1 1024', ...OBSERVED]);

    // A manual Connect still works without AutoConnect.
    await client.call(after.path, INTERFACES.service, 'Connect', '', []);
    await waitSteady('eth-b connected by hand');
    expect((await service('eth-b')).props.AutoConnect).toBe(false);
  });
});

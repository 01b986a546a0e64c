/**
 * An rtnetlink event storm with a tiny receive buffer (NETSESSIOND_EVENT_RCVBUF=4096), so the
 * kernel drops notifications and flags ENOBUFS on the daemon's event sockets, while sessions
 * churn and an uplink loses its carrier in the middle of it. eth-c is managed (its address and
 * default route come from a provisioning file), so manage mode's route-notification socket is
 * overrun too. With netlink 0.3.0's sockets this
 * aborted the process (SIGABRT); ours report the overrun and the daemon re-reads everything.
 *
 * Expected: the daemon is alive, it logged the overrun, and its services and sessions equal what
 * a freshly started daemon sees.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NETSESSION_MANAGER_INTERFACE } from '../../lib/protocol.js';
import { createSandbox, requireRoot, type Sandbox } from './harness/sandbox.js';
import { startTestDaemon, type TestDaemon } from './harness/test-daemon.js';
import { ConnmanClient, unwrap, v } from './support/connman-client.js';

const supported = requireRoot();
let sb: Sandbox;
let td: TestDaemon;
const DAEMON = {
  args: ['--ignore', 'st*'],
  bearers: { 'eth-a': 'ethernet', 'eth-b': 'wifi', 'eth-c': 'ethernet' },
  get general() {
    return ['ManageInterfaces = eth-c', `ProvisioningDir = ${join(sb.tmpDir, 'prov')}`];
  },
};

/** The parts of the daemon's view a storm could corrupt: services and two sessions' settings. */
async function view(client: ConnmanClient, tag: string) {
  const services = (await client.services()).map((s) => ({
    name: s.props.Name,
    state: s.props.State,
    ipv4: (s.props.IPv4 as Record<string, unknown>)?.Address ?? null,
  }));
  const any = await client.createSession({}, `/test/${tag}/any`);
  const wifi = await client.createSession({ AllowedBearers: v.as(['wifi']) }, `/test/${tag}/wifi`);
  await any.n.waitCount(1);
  await wifi.n.waitCount(1);
  const pick = (s: Record<string, unknown>) => ({ State: s.State, Bearer: s.Bearer, Interface: s.Interface });
  // Manage mode's view of eth-c's default route (what the route-notification socket feeds).
  const [routes] = unwrap(await client.call('/', NETSESSION_MANAGER_INTERFACE, 'GetDefaultRoutes', '', [])) as [
    Array<Record<string, unknown>>,
  ];
  const defaults = routes
    .map((r) => `${String(r.Interface)} ${String(r.Family)} ${String(r.Gateway)} ${String(r.State)}`)
    .sort();
  return { services, any: pick(any.n.settings), wifi: pick(wifi.n.settings), defaults };
}

async function settled(client: ConnmanClient, want: (states: string[]) => boolean): Promise<void> {
  const end = Date.now() + 30_000;
  for (;;) {
    const states = (await client.services()).map((s) => String(s.props.State));
    if (want(states)) return;
    if (Date.now() > end) throw new Error(`services never settled: ${states.join(', ')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.skipIf(!supported)('event storm', () => {
  beforeAll(async () => {
    sb = await createSandbox();
    // A link of its own for the storm: its events hit the daemon's sockets, its state is ignored.
    await sb.run(sb.devNs, ['ip', 'link', 'add', 'st0', 'type', 'veth', 'peer', 'name', 'st1']);
    await sb.run(sb.devNs, ['ip', 'link', 'set', 'st0', 'up']);
    await sb.run(sb.devNs, ['ip', 'link', 'set', 'st1', 'up']);
    await sb.bareUplink('eth-c');
    const u = sb.uplink('eth-c');
    mkdirSync(join(sb.tmpDir, 'prov'), { recursive: true });
    writeFileSync(
      join(sb.tmpDir, 'prov', 'c.config'),
      `[service_c]\nType = ethernet\nDeviceName = eth-c\nIPv4 = ${u.devAddr4}/255.255.255.248/${u.gw4}\nIPv6 = off\n`,
    );
    td = await startTestDaemon(sb, {
      ...DAEMON,
      args: [...DAEMON.args, '--log-level', 'debug'],
      env: { NETSESSIOND_EVENT_RCVBUF: '4096' },
    });
  }, 120_000);

  afterAll(async () => {
    await sb?.destroy();
  });

  it('ENOBUFS under thousands of address and route events per second: the daemon lives and ends with a fresh daemon’s view', async () => {
    const client = await ConnmanClient.connect(sb.dbusAddress!);
    await settled(client, (s) => s.filter((x) => x === 'online').length === 3);

    // 8 rounds of 2,000 addresses and 2,000 routes added, then deleted: 64,000 notifications.
    // Routes go before addresses: the kernel flushes a device's routes with its last address.
    const lines: string[] = [];
    const a = (i: number) => `${(i >> 8) & 255}.${i & 255}`;
    for (let round = 0; round < 8; round++) {
      for (let i = 0; i < 2000; i++)
        lines.push(`address add 198.18.${a(i)}/32 dev st0`, `route add 198.19.${a(i)}/32 dev st0 table 100`);
      for (let i = 0; i < 2000; i++)
        lines.push(`route del 198.19.${a(i)}/32 dev st0 table 100`, `address del 198.18.${a(i)}/32 dev st0`);
    }
    const batch = join(sb.tmpDir, 'storm.batch');
    writeFileSync(batch, `${lines.join('\n')}\n`);

    let churns = 0;
    let stop = false;
    const churn = (async () => {
      while (!stop && td.daemon.exitStatus === null) {
        const s = await client.createSession({}, `/test/churn${churns}`);
        await client.session(s.path).destroy();
        churns++;
      }
    })();
    const t0 = performance.now();
    const storm = sb.run(sb.devNs, ['ip', '-batch', batch], { timeoutMs: 120_000 });
    // Mid-storm, a real change the daemon must not miss: eth-b loses its carrier.
    await new Promise((r) => setTimeout(r, 200));
    await sb.setCarrier('eth-b', false);
    await storm;
    const secs = (performance.now() - t0) / 1000;
    stop = true;
    await churn;
    console.log(
      `storm: ${lines.length} address/route changes in ${secs.toFixed(1)} s = ${Math.round(lines.length / secs)}/s, ${churns} session churns meanwhile`,
    );

    expect(td.daemon.exitStatus).toBeNull();
    expect(td.daemon.stderr).toMatch(/rtnetlink: \d+ event overrun\(s\) \(ENOBUFS: notifications lost\); re-reading/);
    expect(td.daemon.stderr).toMatch(/link-config: route notifications overrun \(ENOBUFS\)/);
    await settled(client, (s) => s.filter((x) => x === 'online').length === 2 && s.includes('idle'));
    const stormed = await view(client, 'stormed');
    client.disconnect();

    await td.daemon.kill('SIGTERM');
    td = await startTestDaemon(sb, DAEMON);
    const fresh = await ConnmanClient.connect(sb.dbusAddress!);
    await settled(fresh, (s) => s.filter((x) => x === 'online').length === 2 && s.includes('idle'));
    const freshView = await view(fresh, 'fresh');
    fresh.disconnect();
    console.log(`after the storm: ${JSON.stringify(stormed)}`);
    expect(stormed).toEqual(freshView);
    expect(stormed.wifi.State).toBe('disconnected');
  }, 300_000);
});

/**
 * The daemon's own DHCPv4 client (the default `DhcpClient = internal`) in manage mode, against
 * dnsmasq: a link that comes back asks for the lease it had in one round trip (INIT-REBOOT), and
 * falls back to DISCOVER when the server NAKs or stays silent.
 *
 * World: eth-a static (the default service), eth-b `IPv4 = dhcp` from dnsmasq on router 2 with
 * a DNS server; a session pinned to eth-b. Carrier is cut and restored on the router side. The
 * veth keeps TX checksum offload on, so the server's replies arrive with their UDP checksum
 * unfilled, as from a DHCP server on the same host or behind a virtio NIC: the client takes the
 * kernel's word for them (PACKET_AUXDATA).
 *
 * | step                                     | expected                                                    |
 * |------------------------------------------|-------------------------------------------------------------|
 * | start                                    | eth-b leased from the pool, DHCP nameserver in resolv.conf, |
 * |                                          | session connected on eth-b; no child process at all         |
 * | carrier off, on                          | no RELEASE while off; on: one REQUEST for the same address  |
 * |                                          | and its ACK, no DISCOVER; session connected, same address   |
 * | carrier off; server now gives the address | NAK, then DISCOVER; a new address from the pool; session   |
 * | to another client; carrier on            | connected with it                                           |
 * | carrier off; server restarted without    | the REQUEST goes unanswered; DISCOVER after the short wait; |
 * | records, not authoritative; carrier on   | leased again; session connected                             |
 * | Service.Disconnect                       | DHCPRELEASE at the server, address gone                     |
 * | Connect, then SIGTERM                    | DHCPRELEASE again                                           |
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INTERFACES } from '../../lib/protocol.js';
import { type DhcpServer, startDhcpServer } from './harness/dhcp-server.js';
import { createSandbox, type Sandbox } from './harness/sandbox.js';
import { startTestDaemon, type TestDaemon } from './harness/test-daemon.js';
import { ConnmanClient, type Notifier, v } from './support/connman-client.js';
import { canRunWith, connected, manageView, until } from './support/manage-world.js';

const supported = canRunWith('dhcp-reboot', ['dnsmasq', 'ethtool'], 'dnsmasq-base ethtool');

const DHCP_DNS = '203.0.113.54';
const ETH_B_MAC = '02:00:00:00:00:02';
const PROVISIONING =
  '[service_a]\nType = ethernet\nDeviceName = eth-a\nIPv4 = 198.51.100.10/255.255.255.248/198.51.100.9\nIPv6 = off\n' +
  '[service_b]\nType = ethernet\nDeviceName = eth-b\nIPv4 = dhcp\nIPv6 = off\n';

let sb: Sandbox;
let td: TestDaemon;
let client: ConnmanClient;
let dhcp: DhcpServer;
let session: Notifier;

const { service } = manageView(() => ({ sb, td, client }));
const v4 = async (): Promise<string[]> => (await sb.addresses('eth-b', 4)).map((a) => a.local);
const nameservers = (): string[] =>
  readFileSync(join(td.stateDir, 'resolv.conf'), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('nameserver '));
/** dnsmasq's log lines from `mark` on that match `re`. */
const since = (mark: number, re: RegExp): string[] =>
  dhcp
    .log()
    .slice(mark)
    .split('\n')
    .filter((l) => re.test(l));
const backOn = (address: string) => (s: Record<string, unknown>) =>
  s.Interface === 'eth-b' && connected(s.State) && (s.IPv4 as { Address?: string } | undefined)?.Address === address;

/** Cuts eth-b's carrier and waits until the session saw it and the address is gone. */
async function cut(): Promise<void> {
  const k = session.updates.length;
  await sb.setCarrier('eth-b', false);
  await session.waitFor(
    () => session.updates.slice(k).some((u) => u.values.State === 'disconnected'),
    10_000,
    'session disconnected',
  );
  await until('eth-b unaddressed', async () => ((await v4()).length === 0 ? true : undefined));
}

describe.runIf(supported)('manage mode: the in-process DHCP client', () => {
  let first = '';

  beforeAll(async () => {
    sb = await createSandbox({
      uplinks: [
        { name: 'eth-a', v6: false },
        { name: 'eth-b', v6: false },
      ],
    });
    for (const u of sb.uplinks) await sb.bareUplink(u.name);
    dhcp = await startDhcpServer(sb, 'eth-b', { dns: [DHCP_DNS], checksumOffload: true });
    const prov = join(sb.tmpDir, 'provisioning');
    mkdirSync(prov, { recursive: true });
    writeFileSync(join(prov, 'wired.config'), PROVISIONING);
    // No DhcpClient line: `internal` is the default.
    td = await startTestDaemon(sb, {
      args: ['--debug'],
      bearers: { 'eth-a': 'ethernet', 'eth-b': 'ethernet' },
      general: ['ManageInterfaces = eth-*', `ProvisioningDir = ${prov}`],
    });
    client = await ConnmanClient.connect(sb.dbusAddress!);
    session = (await client.createSession({ AllowedInterface: v.s('eth-b') }, '/test/reboot/n1')).n;
  }, 120_000);

  afterAll(async () => {
    client?.disconnect();
    await sb?.destroy();
  });

  it('leases eth-b in-process: address, nameserver, session connected, no child process', async () => {
    first = (await dhcp.waitForLease(ETH_B_MAC)).address;
    expect(dhcp.pool).toContain(first);
    await session.waitFor(backOn(first), 20_000, `session connected on eth-b with ${first}`);
    expect(await v4()).toEqual([first]);
    await until('the DHCP nameserver in resolv.conf', async () =>
      nameservers().includes(`nameserver ${DHCP_DNS}`) ? true : undefined,
    );
    // (tsx's esbuild service may be a child; no DHCP client or hook shell is.)
    const { stdout } = await sb.run(sb.devNs, ['sh', '-c', `ps -o comm= --ppid ${td.daemon.pid} || true`]);
    expect(stdout).not.toMatch(/udhcpc|busybox|^sh$/m);
  });

  it('carrier back: one REQUEST for the same address and its ACK, no DISCOVER', async () => {
    await cut();
    const mark = dhcp.log().length;
    await new Promise((r) => setTimeout(r, 300));
    // Nothing was released while the link was down: the server still holds the lease.
    expect(since(mark, /DHCPRELEASE/)).toEqual([]);
    await sb.setCarrier('eth-b', true);
    await session.waitFor(backOn(first), 10_000, `session connected again with ${first}`);
    await until('the ACK logged', async () => (since(mark, /DHCPACK/).length > 0 ? true : undefined));
    expect(since(mark, /DHCPDISCOVER/)).toEqual([]);
    expect(since(mark, /DHCPREQUEST/)).toHaveLength(1);
    expect(since(mark, /DHCPREQUEST/)[0]).toContain(first);
    expect(since(mark, /DHCPACK/)).toHaveLength(1);
    expect(since(mark, /DHCPACK/)[0]).toContain(first);
    expect(await v4()).toEqual([first]);
  });

  it('a NAK for the remembered address makes it DISCOVER and take a new one', async () => {
    await cut();
    await dhcp.stop();
    // The server now has the address leased to someone else.
    writeFileSync(dhcp.leaseFile, `${Math.floor(Date.now() / 1000) + 3600} 02:00:00:00:00:99 ${first} other *\n`);
    dhcp = await startDhcpServer(sb, 'eth-b', { dns: [DHCP_DNS], checksumOffload: true });
    const mark = 0;
    await sb.setCarrier('eth-b', true);
    const next = await until(
      'a new lease for eth-b',
      async () => dhcp.leases().find((l) => l.mac === ETH_B_MAC)?.address,
    );
    expect(next).not.toBe(first);
    await session.waitFor(backOn(next), 10_000, `session connected with ${next}`);
    const log = since(mark, /DHCPREQUEST|DHCPNAK|DHCPDISCOVER|DHCPOFFER|DHCPACK/);
    expect(log[0]).toMatch(new RegExp(`DHCPREQUEST.* ${first.replace(/\./g, '\\.')} `));
    expect(log[1]).toMatch(/DHCPNAK/);
    expect(log[2]).toMatch(/DHCPDISCOVER/);
    expect(await v4()).toEqual([next]);
    first = next;
  });

  it('no answer to the REQUEST: DISCOVER after the short wait, leased again', async () => {
    await cut();
    await dhcp.stop();
    writeFileSync(dhcp.leaseFile, '');
    dhcp = await startDhcpServer(sb, 'eth-b', { dns: [DHCP_DNS], authoritative: false, checksumOffload: true });
    // dnsmasq drops the INIT-REBOOT request without a word (no record, not authoritative); the
    // daemon gives up on it after the short wait, well before udhcpc's 3 s retry.
    const gaveUp = new RegExp(`no answer to INIT-REBOOT for ${first.replace(/\./g, '\\.')}; discovering`);
    let gaveUpAt = 0;
    const off = td.daemon.onLine((line) => {
      if (gaveUp.test(line)) gaveUpAt ||= Date.now();
    });
    await sb.setCarrier('eth-b', true);
    const t0 = Date.now();
    const lease = await dhcp.waitForLease(ETH_B_MAC);
    await session.waitFor(backOn(lease.address), 10_000, `session connected with ${lease.address}`);
    off();
    expect(gaveUpAt).toBeGreaterThan(0);
    expect(gaveUpAt - t0).toBeLessThan(2000);
    // Then a full exchange (dnsmasq answers a DISCOVER for a new address only after its ping
    // check, so there may be more than one DISCOVER/OFFER).
    const kinds = since(0, /DHCPREQUEST|DHCPNAK|DHCPDISCOVER|DHCPOFFER|DHCPACK/).map((l) => /DHCP[A-Z]+/.exec(l)?.[0]);
    expect(kinds[0]).toBe('DHCPDISCOVER');
    expect(kinds.slice(-2)).toEqual(['DHCPREQUEST', 'DHCPACK']);
    expect(kinds).not.toContain('DHCPNAK');
    first = lease.address;
  });

  it('Service.Disconnect releases the lease; SIGTERM releases it again after Connect', async () => {
    const b = await service('eth-b');
    let releases = dhcp.count(/DHCPRELEASE/);
    await client.call(b.path, INTERFACES.service, 'Disconnect', '', []);
    await until('DHCPRELEASE at the server', async () => (dhcp.count(/DHCPRELEASE/) > releases ? true : undefined));
    await until('eth-b unaddressed', async () => ((await v4()).length === 0 ? true : undefined));
    await client.call(b.path, INTERFACES.service, 'Connect', '', []);
    const lease = await dhcp.waitForLease(ETH_B_MAC);
    await until('eth-b connected', async () => (connected((await service('eth-b')).props.State) ? true : undefined));
    releases = dhcp.count(/DHCPRELEASE/);
    const exit = await td.daemon.kill('SIGTERM', 10_000);
    expect(exit.code).toBe(0);
    expect(dhcp.count(/DHCPRELEASE/)).toBe(releases + 1);
    expect(since(0, /DHCPRELEASE/).at(-1)).toContain(lease.address);
  });
});

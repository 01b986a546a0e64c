/**
 * The SDK (lib/) against a real connmand (Debian's connman 1.41), started by harness/connmand.ts
 * inside the sandbox's device namespace (plus private mount and UTS namespaces) on the sandbox's
 * private bus, under Debian's system-bus policy and ConnMan's own policy file. The same shared suite as sdk-session.test.ts runs here: passing it proves the
 * SDK is wire-compatible with ConnMan. connmand manages eth-a..c itself (fixed addresses from
 * the harness plan); all three are ethernet, and its online check marks the default one online.
 *
 * | input                                   | expected                                                        |
 * |-----------------------------------------|-----------------------------------------------------------------|
 * | capabilities(), statistics()            | no extension: [] and ExtensionNotSupportedError (the SDK degrades) |
 * | services, a session on eth-c; DNS servers on routers b and c (only c knows the name) | nameservers = the router (ConnMan's own key), metered/portal null; uplink-dns.ts resolves and fetches via eth-c, not via eth-b; avoidMetered: ExtensionNotSupportedError |
 * | on('statistics')                        | no event, 'error' with ExtensionNotSupportedError; session goes on |
 * | the shared suite                        | see suites/sdk-session-suite.ts, with ConnMan's documented differences |
 */

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, DBusTransport, ExtensionNotSupportedError } from '../../lib/index.js';
import { CONNMAN_BUS_POLICY, type ConnmandHandle, connmandSkipReason, startConnmand } from './harness/connmand.js';
import { REPO_ROOT } from './harness/daemon.js';
import { startDnsServer } from './harness/dns-server.js';
import { createSandbox, requireRoot, type Sandbox } from './harness/sandbox.js';
import { defineSdkSessionSuite, type SdkSuiteContext } from './suites/sdk-session-suite.js';

const supported = (() => {
  if (!requireRoot()) return false;
  const reason = connmandSkipReason();
  if (reason === null) return true;
  if (process.env.NETSESSION_INTEGRATION === 'require')
    throw new Error(`integration tests required but cannot run: ${reason}`);
  console.warn(`[integration] skipping connmand tests: ${reason}`);
  return false;
})();

let sb: Sandbox;
let connmand: ConnmandHandle | null = null;
let transport: DBusTransport;
let ctx: SdkSuiteContext;

describe.skipIf(!supported)('the SDK against a real connmand', () => {
  beforeAll(async () => {
    // Debian's system-bus policy plus ConnMan's own file: the bus connmand has on a real machine.
    sb = await createSandbox({ dbus: { policy: 'system', include: [CONNMAN_BUS_POLICY] } });
    connmand = await startConnmand(sb);
    transport = new DBusTransport({ busAddress: sb.dbusAddress! });
    ctx = {
      sb,
      transport,
      bearers: Object.fromEntries(sb.uplinks.map((u) => [u.name, 'ethernet' as const])),
      deterministicPick: false,
      returnsToBestService: false,
      everyServiceChecked: false,
      movesInOneUpdate: false,
      serviceName: () => 'Wired',
      keepsContextIdentifier: false,
      rejectsUnknownConnectionType: false,
      sessionOwner: /_1_\d+/,
      stopDaemon: async (signal) => {
        await connmand?.stop(signal, signal === 'SIGKILL' ? 0 : 5_000);
      },
      startDaemon: async () => {
        connmand = await startConnmand(sb);
      },
    };
  }, 120_000);

  afterAll(async () => {
    await transport?.close();
    try {
      await connmand?.stop();
    } finally {
      await sb?.destroy();
    }
  });

  // Before the shared suite, which ends by stopping the daemon.
  it("per-uplink DNS works against connmand (its services' Nameservers); metered and portals are unknown, avoidMetered is refused", async () => {
    const services = await transport.services();
    for (const u of sb.uplinks) {
      // The harness's provisioning gives each uplink its router as nameserver.
      expect(services.find((s) => s.interface === u.name)).toMatchObject({
        nameservers: [u.gw4],
        metered: null,
        roaming: null,
        captivePortal: null,
        portalUrl: null,
      });
    }
    await using s = await createSession({ transport, allowedInterface: 'eth-c' });
    await s.waitFor('connected', { timeout: 10_000 });
    expect(s.settings).toMatchObject({ nameservers: [sb.uplink('eth-c').gw4], metered: null, captivePortal: null });
    await expect(createSession({ transport, avoidMetered: true })).rejects.toBeInstanceOf(ExtensionNotSupportedError);
    await expect(s.change({ avoidMetered: true })).rejects.toMatchObject({ feature: 'AvoidMetered' });

    const dnsB = await startDnsServer(sb, 'eth-b', {});
    const dnsC = await startDnsServer(sb, 'eth-c', { 'only-cell.test': sb.inet.addr4 });
    try {
      const run = async (iface: string) => {
        const p = sb.spawn(
          sb.devNs,
          [
            process.execPath,
            '--import',
            'tsx',
            join(REPO_ROOT, 'examples', 'uplink-dns.ts'),
            iface,
            'http://only-cell.test/dns-connmand',
          ],
          { cwd: REPO_ROOT },
        );
        const exit = await p.exited;
        return { exit, out: p.stdout.split('\n').filter(Boolean), err: p.stderr };
      };
      await sb.clearHttpLog();
      const c = await run('eth-c');
      expect(c.out.slice(0, 2), c.err).toEqual([
        `uplink eth-c, nameservers ${sb.uplink('eth-c').gw4}`,
        `resolved only-cell.test: ${sb.inet.addr4}`,
      ]);
      expect(dnsC.queries().map((q) => q.client)).toContain(sb.uplink('eth-c').devAddr4);
      const b = await run('eth-b');
      expect(b.exit, b.err).toMatchObject({ code: 1 });
      expect(b.out[1]).toMatch(/^cannot resolve only-cell\.test on eth-b: /);
      expect(dnsB.queries().map((q) => q.client)).toContain(sb.uplink('eth-b').devAddr4);
      // connmand routes the session's source address through its uplink: the fetch left by eth-c.
      expect(c.exit, c.err).toMatchObject({ code: 0 });
      expect(c.out[2]).toBe(`HTTP 200 via eth-c from ${sb.uplink('eth-c').devAddr4}`);
      expect((await sb.httpLog()).filter((e) => e.path === '/dns-connmand').map((e) => e.client)).toEqual([
        sb.uplink('eth-c').devAddr4,
      ]);
    } finally {
      await dnsB.stop();
      await dnsC.stop();
    }
  }, 60_000);

  it('without extensions the SDK degrades: no capabilities, statistics() is a typed rejection', async () => {
    await using s = await createSession({ transport });
    expect(await transport.capabilities()).toEqual([]);
    await expect(s.statistics()).rejects.toBeInstanceOf(ExtensionNotSupportedError);
    expect(s.state).not.toBe('disconnected');

    // The statistics event degrades the same way: reported on 'error', nothing thrown.
    const errors: unknown[] = [];
    const stats: unknown[] = [];
    s.on('error', (e) => errors.push(e));
    s.on('statistics', (st) => stats.push(st));
    const end = Date.now() + 5_000;
    while (errors.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(ExtensionNotSupportedError);
    expect(errors[0]).toMatchObject({ feature: 'StatisticsSignal' });
    expect(stats).toEqual([]);
    expect(s.destroyed).toBe(false);
    expect(s.state).not.toBe('disconnected');
  });

  defineSdkSessionSuite(() => ctx);
});

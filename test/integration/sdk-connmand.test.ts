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
 * | on('statistics')                        | no event, 'error' with ExtensionNotSupportedError; session goes on |
 * | the shared suite                        | see suites/sdk-session-suite.ts, with ConnMan's documented differences |
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DBusTransport, ExtensionNotSupportedError, createSession } from '../../lib/index.js';
import { CONNMAN_BUS_POLICY, connmandSkipReason, startConnmand, type ConnmandHandle } from './harness/connmand.js';
import { createSandbox, requireRoot, type Sandbox } from './harness/sandbox.js';
import { defineSdkSessionSuite, type SdkSuiteContext } from './suites/sdk-session-suite.js';

const supported = (() => {
  if (!requireRoot()) return false;
  const reason = connmandSkipReason();
  if (reason === null) return true;
  if (process.env.NETSESSION_INTEGRATION === 'require') throw new Error(`integration tests required but cannot run: ${reason}`);
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

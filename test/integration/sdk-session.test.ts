/**
 * The SDK (lib/) against the real netsessiond, over the sandbox's private bus: the SDK runs in
 * this test process and reaches the bus with `busAddress`; the daemon runs in the device
 * namespace with the bearer overrides of daemon-sessions.test.ts (eth-a ethernet, eth-b wifi,
 * eth-c cellular), every uplink online.
 *
 * The shared suite (suites/sdk-session-suite.ts, also run against a real connmand by
 * sdk-connmand.test.ts) runs here with netsessiond's exact expectations; this file adds the
 * tests of netsessiond's extensions.
 *
 * | input                                        | expected                                                  |
 * |----------------------------------------------|-----------------------------------------------------------|
 * | statistics()                                 | counters, or ExtensionNotSupported without the capability |
 * | the shared suite                             | see suites/sdk-session-suite.ts                           |
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DBusTransport, ExtensionNotSupportedError, createSession } from '../../lib/index.js';
import { startNetsessiond } from './harness/daemon.js';
import { createSandbox, requireRoot, type Sandbox, type SandboxProcess } from './harness/sandbox.js';
import { defineSdkSessionSuite, type SdkSuiteContext } from './suites/sdk-session-suite.js';

const supported = requireRoot();

let sb: Sandbox;
let daemon: SandboxProcess;
let transport: DBusTransport;
let ctx: SdkSuiteContext;

/** Starts netsessiond in the sandbox with `conf` and waits until it is ready. */
async function startDaemon(conf: string): Promise<SandboxProcess> {
  const d = await startNetsessiond(sb, {
    args: ['--config', conf, '--state-dir', join(sb.tmpDir, 'state'), '--policy-dir', join(sb.tmpDir, 'policy'), '--online-check-url', sb.inet.onlineUrl4, '--online-check-url6', sb.inet.onlineUrl6, '--debug'],
  });
  await d.waitForLine(/ready:/, { timeoutMs: 15_000 });
  return d;
}

describe.skipIf(!supported)('the SDK against netsessiond', () => {
  beforeAll(async () => {
    sb = await createSandbox();
    const conf = join(sb.tmpDir, 'netsessiond.conf');
    writeFileSync(
      conf,
      [
        '[General]',
        'OnlineCheckMode = one-shot',
        'OnlineCheckInitialInterval = 1',
        'OnlineCheckMaxInterval = 1',
        'OnlineCheckConnectTimeout = 1',
        '[Bearers]',
        'eth-a = ethernet',
        'eth-b = wifi',
        'eth-c = cellular',
        '',
      ].join('\n'),
    );
    daemon = await startDaemon(conf);
    transport = new DBusTransport({ busAddress: sb.dbusAddress! });
    // All three uplinks pass their online check at start: wait until a cellular-only session is online.
    const probe = await createSession({ transport, allowedBearers: ['cellular'], connectionType: 'internet' });
    await probe.waitFor('online', { timeout: 15_000 });
    await probe.destroy();
    ctx = {
      sb,
      transport,
      bearers: { 'eth-a': 'ethernet', 'eth-b': 'wifi', 'eth-c': 'cellular' },
      deterministicPick: true,
      returnsToBestService: true,
      everyServiceChecked: true,
      movesInOneUpdate: true,
      serviceName: (uplink) => uplink,
      keepsContextIdentifier: true,
      rejectsUnknownConnectionType: true,
      stopDaemon: async (signal) => {
        await daemon.kill(signal, signal === 'SIGKILL' ? 0 : 5_000);
        await daemon.exited;
      },
      startDaemon: async () => {
        daemon = await startDaemon(conf);
      },
    };
  }, 120_000);

  afterAll(async () => {
    await transport?.close();
    await sb?.destroy();
  });

  // Extensions first: the shared suite ends by stopping the daemon.
  it('statistics() answers counters, or ExtensionNotSupported when the daemon lacks the capability', async () => {
    await using s = await createSession({ transport });
    const caps = await transport.capabilities();
    expect(caps).toContain('ListSessions');
    if (caps.includes('Statistics')) {
      const st = await s.statistics();
      expect(typeof st.rxBytes).toBe('bigint');
      expect(st.rxBytes).toBeGreaterThanOrEqual(0n);
    } else {
      console.log('[sdk-session] the daemon has no Statistics capability here (no kernel datapath): checking the typed rejection');
      await expect(s.statistics()).rejects.toBeInstanceOf(ExtensionNotSupportedError);
    }
  });

  defineSdkSessionSuite(() => ctx);
});

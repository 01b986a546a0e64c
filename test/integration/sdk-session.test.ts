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
 * | on('statistics') at 1 s, download via eth-b  | two or more events, RX bytes grow past the download       |
 * | the listener removed                         | the daemon stops the signals (its debug log says so), the SDK's match rule is gone |
 * | the shared suite                             | see suites/sdk-session-suite.ts                           |
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import dbus from 'dbus-next';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createSession,
  DBusTransport,
  ExtensionNotSupportedError,
  type NetsessionError,
  type SessionStatistics,
} from '../../lib/index.js';
import { startNetsessiond } from './harness/daemon.js';
import { createSandbox, requireRoot, type Sandbox, type SandboxProcess } from './harness/sandbox.js';
import { sandboxDaemonArgs, testConfig } from './harness/test-daemon.js';
import { defineSdkSessionSuite, type SdkSuiteContext } from './suites/sdk-session-suite.js';

const supported = requireRoot();

let sb: Sandbox;
let daemon: SandboxProcess;
let transport: DBusTransport;
let ctx: SdkSuiteContext;

/** Polls `cond` every 20 ms, running `refresh` first each time (no timing assertion: only a bound on how long to wait). */
async function until(
  cond: () => boolean,
  what: string,
  timeoutMs = 5_000,
  refresh?: () => Promise<void>,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    await refresh?.();
    if (cond()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * How many match rules a connection holds (the bus's Debug.Stats), or null, with the reason
 * printed, when this dbus-daemon does not offer it.
 */
async function matchRuleCounter(probeName: string): Promise<((name: string) => Promise<number>) | null> {
  const bus = dbus.sessionBus({ busAddress: sb.dbusAddress! });
  bus.on('error', () => undefined);
  const stats = async (name: string): Promise<number> => {
    const msg = new dbus.Message({
      destination: 'org.freedesktop.DBus',
      path: '/org/freedesktop/DBus',
      interface: 'org.freedesktop.DBus.Debug.Stats',
      member: 'GetConnectionStats',
      signature: 's',
      body: [name],
    });
    const reply = await bus.call(msg);
    return (reply!.body[0] as Record<string, InstanceType<typeof dbus.Variant>>).MatchRules!.value as number;
  };
  try {
    await stats(probeName);
  } catch (err) {
    console.log(
      `[sdk-session] match-rule check skipped: no org.freedesktop.DBus.Debug.Stats here (${(err as Error).message})`,
    );
    bus.disconnect();
    return null;
  }
  statsBuses.push(bus);
  return stats;
}
const statsBuses: Array<ReturnType<typeof dbus.sessionBus>> = [];

/** Starts netsessiond in the sandbox with `conf` and waits until it is ready. */
async function startDaemon(conf: string): Promise<SandboxProcess> {
  const d = await startNetsessiond(sb, {
    args: [...sandboxDaemonArgs(sb, conf), '--debug'],
  });
  await d.waitForLine(/ready:/, { timeoutMs: 15_000 });
  return d;
}

describe.skipIf(!supported)('the SDK against netsessiond', () => {
  beforeAll(async () => {
    sb = await createSandbox();
    const conf = join(sb.tmpDir, 'netsessiond.conf');
    writeFileSync(conf, testConfig());
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
      sessionOwner: /_peer_\d+/,
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
    for (const b of statsBuses) b.disconnect();
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
      console.log(
        '[sdk-session] the daemon has no Statistics capability here (no kernel datapath): checking the typed rejection',
      );
      await expect(s.statistics()).rejects.toBeInstanceOf(ExtensionNotSupportedError);
    }
  });

  it("on('statistics') at 1 s: events keep coming and RX bytes grow with a download; removing the listener stops them", async () => {
    await using s = await createSession({ transport, allowedInterface: 'eth-b', sourceIPRule: true });
    const caps = await transport.capabilities();
    const seen: SessionStatistics[] = [];
    const errors: NetsessionError[] = [];
    s.on('error', (e) => errors.push(e));
    const onStats = (st: SessionStatistics) => seen.push(st);
    s.setStatisticsInterval(1000).on('statistics', onStats);
    if (!caps.includes('StatisticsSignal')) {
      console.log(
        '[sdk-session] the daemon has no StatisticsSignal capability here (no kernel datapath): checking the error event',
      );
      await until(() => errors.length > 0, 'the error event');
      expect(errors[0]).toBeInstanceOf(ExtensionNotSupportedError);
      return;
    }
    const addr = s.ipv4?.address;
    expect(s.interface).toBe('eth-b');
    expect(addr).toBe(sb.uplink('eth-b').devAddr4);
    await until(() => seen.length >= 1, 'the first statistics event');
    const before = seen.at(-1)!.rxBytes;
    // The session's source rule makes a socket bound to its address its traffic (and count).
    const BYTES = 200_000;
    const r = await sb.httpRequest(sb.devNs, `http://${sb.inet.addr4}/sdk-statistics?bytes=${BYTES}`, {
      localAddress: addr!,
    });
    expect(r.ok && r.bytes).toBe(BYTES);
    await until(() => seen.at(-1)!.rxBytes >= before + BigInt(BYTES), 'RX bytes past the download', 10_000);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    for (const st of seen) for (const v of Object.values(st)) expect(typeof v).toBe('bigint');
    expect(seen.at(-1)!.rxPackets).toBeGreaterThan(0n);
    expect(errors).toEqual([]);

    const path = s.path.replace(/[/.]/g, '\\$&');
    const started = await daemon.waitForLine(new RegExp(`statistics signals for ${path} to :\\S+ every 1 s`));
    const sdkName = /to (:\S+) every/.exec(started)![1]!;
    const rules = await matchRuleCounter(sdkName);
    const withWatch = rules ? await rules(sdkName) : 0;
    s.off('statistics', onStats);
    await daemon.waitForLine(
      new RegExp(`statistics signals for ${path} to ${sdkName.replace(/\./g, '\\.')} stopped \\(requested\\)`),
      { timeoutMs: 5_000 },
    );
    // The SDK's match rule for the session's signals is removed again (no dbus-next proxy leak).
    if (rules) {
      let now = withWatch;
      await until(
        () => now === withWatch - 1,
        'the match rule removed',
        5_000,
        async () => void (now = await rules(sdkName)),
      );
    }
  });

  defineSdkSessionSuite(() => ctx);
});

/**
 * Readiness: the daemon owns `net.connman` only once its links, policy files, saved settings and
 * kernel baseline are in place, and tells its service manager so (sd_notify) only then.
 *
 * | input                                                           | expected                                                    |
 * |-----------------------------------------------------------------|-------------------------------------------------------------|
 * | a client creates a session the instant net.connman appears      | its first Update equals that of a client that waited 1 s     |
 * |   (a policy narrows root's bearers to cellular and wifi)        |   (policied bearers, the cellular uplink, its addresses)     |
 * | NOTIFY_SOCKET of the test's own                                 | STATUS= lines, then READY=1 once the name is owned and the  |
 * |                                                                 |   services are listed                                       |
 * | WATCHDOG_USEC=200000                                            | WATCHDOG=1 pings every ~100 ms after READY=1                 |
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type dbus from 'dbus-next';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUS_NAME } from '../../lib/protocol.js';
import { DAEMON_BUNDLE, shebangNodeFlags } from './harness/daemon.js';
import { createSandbox, requireRoot, type Sandbox } from './harness/sandbox.js';
import { startTestDaemon } from './harness/test-daemon.js';
import { ConnmanClient, type Notifier, type RecordedUpdate } from './support/connman-client.js';
import { NotifyListener, type NotifyMessage } from './support/notify-listener.js';

const supported = requireRoot();
const POLICY_FILES = 300;

let sb: Sandbox;
let early: ConnmanClient;
let late: ConnmanClient;
let listener: NotifyListener;
/** What the early client saw when the notify socket said READY=1. */
let atReady: Promise<{ owned: boolean; services: string[] }> | null = null;
let earlySession: Promise<{ path: string; n: Notifier; appearedAt: number }>;

describe.skipIf(!supported)('readiness', () => {
  beforeAll(async () => {
    sb = await createSandbox();
    const policyDir = join(sb.tmpDir, 'policy');
    mkdirSync(policyDir, { recursive: true });
    writeFileSync(join(policyDir, 'root.policy'), '[policy_root]\nuid = root\nAllowedBearers = cellular wifi\n');
    // Other users' policies: reading them takes the daemon long enough that a name owned before
    // they are in would be seen with no policy applied.
    for (let i = 0; i < POLICY_FILES - 1; i++)
      writeFileSync(join(policyDir, `other-${i}.policy`), `[policy_${i}]\nuid = nobody\nAllowedBearers = ethernet\n`);
    listener = new NotifyListener(join(sb.tmpDir, 'notify'));
    early = await ConnmanClient.connect(sb.dbusAddress!);
    // The instant the name gets an owner (the bus sends NameOwnerChanged before the daemon
    // learns it owns the name), CreateSession goes out: no wait, no retry.
    let appeared!: (t: number) => void;
    const appearedAt = new Promise<number>((r) => (appeared = r));
    early.bus.on('message', (m: InstanceType<typeof dbus.Message>) => {
      if (m.member === 'NameOwnerChanged' && m.body[0] === BUS_NAME && m.body[2] !== '') appeared(performance.now());
    });
    await early.call(
      '/org/freedesktop/DBus',
      'org.freedesktop.DBus',
      'AddMatch',
      's',
      [`type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg0='${BUS_NAME}'`],
      'org.freedesktop.DBus',
    );
    earlySession = appearedAt.then(async (t) => ({ ...(await early.createSession({}, '/test/early')), appearedAt: t }));
    listener.onMessage((m: NotifyMessage) => {
      if (m.fields.READY !== '1' || atReady) return;
      atReady = (async () => ({
        owned: await sb.busNameHasOwner(BUS_NAME),
        services: (await early.services()).map((s) => `${String(s.props.Name)}:${String(s.props.Type)}`),
      }))();
    });
    await startTestDaemon(sb, {
      general: ['OnlineCheckMode = none'],
      env: { NOTIFY_SOCKET: listener.address, WATCHDOG_USEC: '200000' },
    });
  }, 120_000);

  afterAll(async () => {
    listener?.close();
    early?.disconnect();
    late?.disconnect();
    await sb?.destroy();
  });

  it('a session created the instant net.connman appears gets the same first Update as one created a second later', async () => {
    const e = await earlySession;
    const first = await e.n.waitCount(1);
    await new Promise((r) => setTimeout(r, 1_000));
    late = await ConnmanClient.connect(sb.dbusAddress!);
    const l = await late.createSession({}, '/test/late');
    const lateFirst = await l.n.waitCount(1);
    const strip = (u: RecordedUpdate) => u.values;
    expect(strip(first)).toEqual(strip(lateFirst));
    expect(first.values).toMatchObject({
      AllowedBearers: ['cellular', 'wifi'],
      Bearer: 'cellular',
      Interface: 'eth-c',
      State: 'connected',
    });
    expect(first.values.IPv4).toMatchObject({ Address: sb.uplink('eth-c').devAddr4 });
    // Nothing corrected the early client's first view.
    await new Promise((r) => setTimeout(r, 300));
    expect(e.n.updates).toHaveLength(1);
  });

  it('tells systemd READY=1 (after STATUS= lines) only once the name is owned and the state complete', async () => {
    const ready = await listener.waitFor((m) => m.fields.READY === '1', 10_000, 'READY=1');
    const before = listener.messages.slice(0, listener.messages.indexOf(ready));
    expect(before.map((m) => Object.keys(m.fields))).toEqual([['STATUS'], ['STATUS']]);
    expect(ready.fields.STATUS).toBe(`3 services, ${POLICY_FILES} policy files`);
    expect(Number(ready.fields.MAINPID)).toBeGreaterThan(0);
    expect(await atReady).toEqual({ owned: true, services: ['eth-a:ethernet', 'eth-b:wifi', 'eth-c:cellular'] });
    expect(listener.messages.filter((m) => m.fields.READY === '1')).toHaveLength(1);
  });

  it("runs the daemon as it ships: the bundle, with its shebang's Node options", async () => {
    const ready = await listener.waitFor((m) => m.fields.READY === '1');
    const argv = readFileSync(`/proc/${ready.fields.MAINPID}/cmdline`, 'utf8')
      .split('\0')
      .filter((x) => x !== '');
    expect(argv.slice(0, 2 + shebangNodeFlags().length)).toEqual([
      process.execPath,
      ...shebangNodeFlags(),
      DAEMON_BUNDLE,
    ]);
  });

  it('pings WATCHDOG=1 at half of WATCHDOG_USEC after READY=1', async () => {
    const ready = await listener.waitFor((m) => m.fields.READY === '1');
    const since = performance.now();
    await new Promise((r) => setTimeout(r, 1_000));
    const pings = listener.messages.filter((m) => m.fields.WATCHDOG === '1');
    expect(pings.every((m) => m.at > ready.at)).toBe(true);
    const recent = pings.filter((m) => m.at >= since);
    // 100 ms period on a loaded machine: at least half the expected ten.
    expect(recent.length).toBeGreaterThanOrEqual(5);
    expect(recent.length).toBeLessThanOrEqual(12);
  });
});

/**
 * The SDK (lib/) against the real netsessiond, over the sandbox's private bus: the SDK runs in
 * this test process and reaches the bus with `busAddress`; the daemon runs in the device
 * namespace with the bearer overrides of daemon-sessions.test.ts (eth-a ethernet, eth-b wifi,
 * eth-c cellular).
 *
 * | input                                        | expected                                                 |
 * |----------------------------------------------|----------------------------------------------------------|
 * | createSession()                              | resolves online on eth-a, every value set                |
 * | allowedBearers ['cellular']                  | interface eth-c                                          |
 * | carrier loss on eth-a, then back             | 'interface' event to eth-b, then back to eth-a           |
 * | waitFor('online') on a disconnected session  | resolves when the uplink passes its check                |
 * | change() with a bad bearer                   | InvalidOptionError, no D-Bus call                        |
 * | a Change the daemon rejects (raw transport)  | InvalidArgumentsError, no Update                         |
 * | statistics()                                 | counters, or ExtensionNotSupported without the capability |
 * | two sessions, destroy one                    | the other lives on                                       |
 * | SIGTERM to the daemon                        | Release -> 'destroyed' with SessionClosedError(released) |
 * | SIGKILL to a restarted daemon                | NameOwnerChanged -> 'destroyed' + 'error', daemon-left   |
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DBusTransport,
  DaemonUnavailableError,
  ExtensionNotSupportedError,
  InvalidArgumentsError,
  InvalidOptionError,
  SessionClosedError,
  createSession,
  type NetsessionError,
  type Session,
} from '../../lib/index.js';
import { startNetsessiond } from './harness/daemon.js';
import { createSandbox, requireRoot, type Sandbox, type SandboxProcess } from './harness/sandbox.js';

const supported = requireRoot();

let sb: Sandbox;
let daemon: SandboxProcess;
let transport: DBusTransport;

/** Starts netsessiond in the sandbox with `conf` and waits until it is ready. */
async function startDaemon(conf: string): Promise<SandboxProcess> {
  const d = await startNetsessiond(sb, {
    args: ['--config', conf, '--state-dir', join(sb.tmpDir, 'state'), '--policy-dir', join(sb.tmpDir, 'policy'), '--online-check-url', sb.inet.onlineUrl4, '--online-check-url6', sb.inet.onlineUrl6, '--debug'],
  });
  await d.waitForLine(/ready:/, { timeoutMs: 15_000 });
  return d;
}

/** Polls `cond` every 10 ms for up to 5 s. */
async function waitUntil(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The next 'interface' event's new name. */
function nextInterface(s: Session): Promise<string | null> {
  return new Promise((resolve) => s.once('interface', (name) => resolve(name)));
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
  }, 120_000);

  afterAll(async () => {
    await transport?.close();
    await sb?.destroy();
  });

  it('createSession resolves with the daemon values: online on eth-a', async () => {
    await using s = await createSession({ transport });
    expect(s.path).toMatch(/^\/sessions\/_1_\d+\/netsession\/\d+\/s\d+$/);
    expect(s.settings).toMatchObject({
      state: 'online',
      name: 'eth-a',
      interface: 'eth-a',
      bearer: 'ethernet',
      connectionType: 'any',
      allowedBearers: ['ethernet', 'wifi', 'bluetooth', 'cellular', 'gadget'],
      allowedInterface: '*',
      contextIdentifier: '',
      sourceIPRule: false,
    });
    expect(s.ipv4).toMatchObject({ address: sb.uplink('eth-a').devAddr4, gateway: sb.uplink('eth-a').gw4 });
  });

  it("allowedBearers ['cellular'] binds to eth-c", async () => {
    await using s = await createSession({ transport, allowedBearers: ['cellular'] });
    expect(s.interface).toBe('eth-c');
    expect(s.bearer).toBe('cellular');
  });

  it("carrier loss moves the session to eth-b with an 'interface' event, and back", async () => {
    await using s = await createSession({ transport });
    expect(s.interface).toBe('eth-a');
    const moved = nextInterface(s);
    await sb.setCarrier('eth-a', false);
    expect(await moved).toBe('eth-b');
    expect(s.state).toBe('online');
    await sb.setCarrier('eth-a', true);
    await s.waitFor((i) => i.interface === 'eth-a' && i.state === 'online', { timeout: 15_000 });
  });

  it("waitFor('online') resolves when the session's uplink comes up", async () => {
    await using s = await createSession({ transport, allowedInterface: 'eth-c', connectionType: 'internet' });
    expect(s.state).toBe('online');
    await sb.setCarrier('eth-c', false);
    await s.waitFor('disconnected', { timeout: 5_000 });
    expect(s.interface).toBeNull();
    const online = s.waitFor('online', { timeout: 15_000 });
    await sb.setCarrier('eth-c', true);
    await expect(online).resolves.toMatchObject({ state: 'online', interface: 'eth-c' });
  });

  it('change(): a bad bearer is refused client-side; a daemon rejection is typed and changes nothing', async () => {
    await using s = await createSession({ transport });
    await expect(s.change({ allowedBearers: ['wimax' as never] })).rejects.toBeInstanceOf(InvalidOptionError);
    // 'eth-c' is a fine interface name, and the daemon accepts it; ContextIdentifier round-trips.
    await s.change({ allowedInterface: 'eth-c', contextIdentifier: 'sdk-test' });
    expect(s.settings).toMatchObject({ interface: 'eth-c', allowedInterface: 'eth-c', contextIdentifier: 'sdk-test' });
    // One level down, the Transport API takes ConnMan values unchecked: the daemon's own
    // rejection must arrive typed, and must not produce an Update.
    const updates: unknown[] = [];
    const raw = await transport.createSession({}, { update: (u) => updates.push(u), release: () => undefined, lost: () => undefined });
    await waitUntil(() => updates.length === 1);
    const err = await raw.change('ConnectionType', 'bogus' as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentsError);
    expect((err as InvalidArgumentsError).dbusName).toBe('net.connman.Error.InvalidArguments');
    await raw.change('SourceIPRule', true);
    expect(updates).toEqual([expect.objectContaining({ State: 'online' }), { SourceIPRule: true }]);
    await raw.destroy();
  });

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

  it('two sessions in parallel; destroying one leaves the other working', async () => {
    const [a, b] = await Promise.all([createSession({ transport }), createSession({ transport, allowedBearers: ['wifi'] })]);
    expect([a.interface, b.interface]).toEqual(['eth-a', 'eth-b']);
    expect(a.path).not.toBe(b.path);
    const destroyed: Array<NetsessionError | null> = [];
    a.on('destroyed', (e) => destroyed.push(e));
    await a.destroy();
    expect(destroyed).toEqual([null]);
    await expect(a.connect()).rejects.toBeInstanceOf(SessionClosedError);
    await b.disconnect();
    expect(b.state).toBe('disconnected');
    await b.connect();
    expect(b.interface).toBe('eth-b');
    await b.destroy();
  });

  it('the daemon stopping (SIGTERM -> Release) destroys open sessions with an event', async () => {
    const s = await createSession({ transport });
    const destroyed = new Promise<NetsessionError | null>((resolve) => s.once('destroyed', resolve));
    await daemon.kill('SIGTERM', 5_000);
    const err = await destroyed;
    expect(err).toBeInstanceOf(SessionClosedError);
    expect((err as SessionClosedError).reason).toBe('released');
    expect(s.state).toBe('disconnected');
    expect(s.interface).toBeNull();
    await daemon.exited;
    // With nobody owning net.connman, a new session fails with a typed error.
    await expect(createSession({ transport })).rejects.toMatchObject({ code: 'NS_ERR_DAEMON_UNAVAILABLE', reason: 'no-daemon' });
  });

  it('a daemon that vanishes without Release (SIGKILL) destroys the session with DaemonUnavailableError', async () => {
    daemon = await startDaemon(join(sb.tmpDir, 'netsessiond.conf'));
    // The same transport reaches the new daemon: its connection outlived the old one.
    const s = await createSession({ transport });
    const errors: NetsessionError[] = [];
    s.on('error', (e) => errors.push(e));
    const destroyed = new Promise<NetsessionError | null>((resolve) => s.once('destroyed', resolve));
    await daemon.kill('SIGKILL', 0);
    const err = await destroyed;
    expect(err).toBeInstanceOf(DaemonUnavailableError);
    expect((err as DaemonUnavailableError).reason).toBe('daemon-left');
    expect(errors).toEqual([err]);
    await expect(s.connect()).rejects.toMatchObject({ code: 'NS_ERR_SESSION_CLOSED', reason: 'lost' });
  });
});

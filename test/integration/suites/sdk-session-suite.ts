/**
 * The SDK's session tests that need no extension, written once and run against every daemon
 * that speaks ConnMan's Session API: netsessiond (sdk-session.test.ts) and a real connmand
 * (sdk-connmand.test.ts). Passing against both is the proof of wire compatibility.
 *
 * Where the daemons legitimately differ, the context says how (each flag names its row in
 * docs/behaviour.md); the netsessiond expectations stay exact.
 *
 * | input                                          | expected                                                        |
 * |------------------------------------------------|-----------------------------------------------------------------|
 * | createSession()                                | resolves with every value set, on the best uplink (B1)          |
 * | allowedBearers [bearer of eth-c] / of no uplink| an uplink of that bearer / disconnected, no interface           |
 * | carrier loss on the session's uplink, then back| an 'interface' event to another uplink; back to eth-a (B2)      |
 * | waitFor on a pinned session whose uplink flaps | 'disconnected', then resolves when the uplink is back           |
 * | change() with a bad bearer                     | InvalidOptionError, no D-Bus call                               |
 * | a Change the daemon rejects (raw transport)    | InvalidArgumentsError, no Update                                |
 * | two sessions, destroy one                      | the other lives on, disconnect/connect work                     |
 * | SIGTERM to the daemon                          | Release -> 'destroyed' with SessionClosedError(released)        |
 * | SIGKILL to a restarted daemon                  | NameOwnerChanged -> 'destroyed' + 'error', daemon-left          |
 * | the same with a persistent session, restarted  | one 'daemon-lost', not destroyed; back on its uplink with 'daemon-restored' |
 *
 * The last two tests stop the daemon: define the suite after every test that needs it running.
 */
import { expect, it } from 'vitest';
import {
  type Bearer,
  createSession,
  DaemonUnavailableError,
  type DBusTransport,
  InvalidArgumentsError,
  InvalidOptionError,
  type NetsessionError,
  type RequestKey,
  type Session,
  SessionClosedError,
  type SessionOptions,
} from '../../../lib/index.js';
import { DEFAULT_BEARERS } from '../../../lib/protocol.js';
import type { Sandbox } from '../harness/sandbox.js';

/** What the suite needs from a test file, and how its daemon differs from netsessiond. */
export interface SdkSuiteContext {
  readonly sb: Sandbox;
  /** The SDK's transport to the daemon on the sandbox's bus; it must outlive daemon restarts. */
  readonly transport: DBusTransport;
  /** Bearer each uplink's service reports, by interface name. */
  readonly bearers: Readonly<Record<string, Bearer>>;
  /**
   * docs/behaviour.md B1: the first pick is the best eligible service (bearer order, online
   * over ready, service order), so an unpinned session lands on eth-a and fails over to eth-b.
   * False: ConnMan walks a hash table, any eligible uplink may be picked.
   */
  readonly deterministicPick: boolean;
  /**
   * docs/behaviour.md B2: an unpinned session moves back to the best service when it returns.
   * False: ConnMan never moves a session between two services of one type.
   */
  readonly returnsToBestService: boolean;
  /**
   * docs/behaviour.md B9 (and O1, B3): every service is online-checked, and the bound service's
   * state changes reach the session. False: only the default service can be `online`, so a
   * session on another uplink (pinned, or after a failover) says `connected`.
   */
  readonly everyServiceChecked: boolean;
  /**
   * docs/behaviour.md B7: a session moving to another service gets one Update. False: ConnMan
   * sends a disconnected Update first (seen for Change and for a failover after carrier loss).
   */
  readonly movesInOneUpdate: boolean;
  /** docs/behaviour.md B10: the `Name` a session reports for an uplink (netsessiond: the interface name; ConnMan: `Wired`). */
  serviceName(uplink: string): string;
  /**
   * docs/behaviour.md S1: ContextIdentifier is kept and can be changed. False: ConnMan drops it
   * and rejects `Change("ContextIdentifier")` with InvalidArguments.
   */
  readonly keepsContextIdentifier: boolean;
  /**
   * docs/behaviour.md S3: an unknown ConnectionType is rejected. False: ConnMan accepts it and
   * reports `""`.
   */
  readonly rejectsUnknownConnectionType: boolean;
  /**
   * The owner part of a session's path, which names the connection the SDK created it on:
   * netsessiond's private socket (`_peer_N`, the SDK's default path to it) or a bus unique name
   * (`_1_N`: connmand has no private socket).
   */
  readonly sessionOwner: RegExp;
  /** Stops the daemon with `signal` and resolves once it exited. */
  stopDaemon(signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Starts the daemon again (after {@link stopDaemon}) and resolves once sessions can bind. */
  startDaemon(): Promise<void>;
}

const CONNECTED = /^(connected|online)$/;

/** Polls `cond` every 10 ms for up to 5 s. */
async function waitUntil(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Records every 'interface' event of `s` from now on. */
function interfaceEvents(s: Session): Array<string | null> {
  const seen: Array<string | null> = [];
  s.on('interface', (name) => seen.push(name));
  return seen;
}

/** Defines the shared tests; `getContext` is called inside each test (after the file's beforeAll). */
export function defineSdkSessionSuite(getContext: () => SdkSuiteContext): void {
  /** Uplinks whose service has `bearer`. */
  const uplinksOf = (bearer: Bearer): string[] =>
    Object.entries(getContext().bearers)
      .filter(([, b]) => b === bearer)
      .map(([name]) => name);

  /** Options that bind a session to `uplink`: by its bearer when no other uplink has it, else by name. */
  const selecting = (uplink: string): SessionOptions => {
    const bearer = getContext().bearers[uplink];
    if (!bearer) throw new Error(`no bearer known for ${uplink}`);
    return uplinksOf(bearer).length === 1 ? { allowedBearers: [bearer] } : { allowedInterface: uplink };
  };

  /** A freshly bound unpinned session is online where the pick is the best (online) service; else either. */
  const expectFreshState = (state: string): void => {
    const { deterministicPick, everyServiceChecked } = getContext();
    if (deterministicPick && everyServiceChecked) expect(state).toBe('online');
    else expect(state).toMatch(CONNECTED);
  };

  it('createSession resolves with the daemon values, on the best uplink', async () => {
    const { transport, sb, bearers, deterministicPick } = getContext();
    await using s = await createSession({ transport });
    const { sessionOwner } = getContext();
    expect(s.path).toMatch(new RegExp(`^/sessions/${sessionOwner.source}/netsession/\\d+/s\\d+$`));
    const iface = s.interface;
    if (deterministicPick) expect(iface).toBe('eth-a');
    else expect(Object.keys(bearers)).toContain(iface);
    expectFreshState(s.state);
    expect(s.settings).toMatchObject({
      name: getContext().serviceName(iface!),
      interface: iface,
      bearer: bearers[iface!],
      connectionType: 'any',
      allowedBearers: ['ethernet', 'wifi', 'bluetooth', 'cellular', 'gadget'],
      allowedInterface: '*',
      contextIdentifier: '',
      sourceIPRule: false,
    });
    expect(s.ipv4).toMatchObject({ address: sb.uplink(iface!).devAddr4, gateway: sb.uplink(iface!).gw4 });
  });

  it('allowedBearers binds to an uplink of that bearer, or to nothing when no uplink has it', async () => {
    const { transport, bearers } = getContext();
    const bearer = bearers['eth-c']!;
    const candidates = uplinksOf(bearer);
    await using s = await createSession({ transport, allowedBearers: [bearer] });
    if (candidates.length === 1) expect(s.interface).toBe('eth-c');
    else expect(candidates).toContain(s.interface);
    expect(s.bearer).toBe(bearer);
    expect(s.settings.allowedBearers).toEqual([bearer]);

    const absent = DEFAULT_BEARERS.find((b) => uplinksOf(b).length === 0);
    if (!absent) throw new Error('every default bearer has an uplink: no unmatched bearer to test');
    await using none = await createSession({ transport, allowedBearers: [absent] });
    expect(none.settings).toMatchObject({
      state: 'disconnected',
      interface: null,
      name: null,
      bearer: null,
      ipv4: null,
      allowedBearers: [absent],
    });
  });

  it("carrier loss moves the session to another uplink with an 'interface' event, and it comes back", async () => {
    const { transport, sb, deterministicPick, returnsToBestService, everyServiceChecked, movesInOneUpdate } =
      getContext();
    await using s = await createSession({ transport });
    const first = s.interface!;
    if (deterministicPick) expect(first).toBe('eth-a');
    const events = interfaceEvents(s);
    let second: string | null = null;
    await sb.setCarrier(first, false);
    try {
      second = (await s.waitFor((i) => i.interface !== null && i.interface !== first, { timeout: 10_000 })).interface;
      if (deterministicPick) expect(second).toBe('eth-b');
      if (movesInOneUpdate) expect(events).toEqual([second]);
      else expect(events).toEqual([null, second]);
      if (everyServiceChecked) expect(s.state).toBe('online');
      else expect(s.state).toMatch(CONNECTED);
    } finally {
      // Restored even when an assertion failed: the next tests need every uplink.
      await sb.setCarrier(first, true);
    }
    // A session pinned to the returning uplink binds once its service is back.
    await using back = await createSession({ transport, allowedInterface: first });
    await back.waitFor('connected', { timeout: 15_000 });
    if (returnsToBestService) {
      await s.waitFor((i) => i.interface === first && i.state === 'online', { timeout: 15_000 });
    } else {
      // A round trip after that: its reply shares the bus connection with `s`'s Updates, so any
      // Update the daemon sent about the returning service has arrived by now.
      await back.connect();
      expect(s.interface).toBe(second);
      expect(s.state).toMatch(CONNECTED);
    }
  });

  it("waitFor resolves when a pinned session's uplink comes back", async () => {
    const { transport, sb, everyServiceChecked } = getContext();
    // With only the default service ever online (B9), an internet session pinned to eth-c may
    // never be online: wait for 'connected' there instead.
    const condition = everyServiceChecked ? 'online' : 'connected';
    await using s = await createSession({
      transport,
      allowedInterface: 'eth-c',
      ...(everyServiceChecked ? { connectionType: 'internet' as const } : {}),
    });
    if (everyServiceChecked) expect(s.state).toBe('online');
    else expect(s.state).toMatch(CONNECTED);
    expect(s.interface).toBe('eth-c');
    await sb.setCarrier('eth-c', false);
    try {
      await s.waitFor('disconnected', { timeout: 5_000 });
      expect(s.interface).toBeNull();
    } finally {
      await sb.setCarrier('eth-c', true);
    }
    // waitFor looks at the current values first, so an Update that already arrived counts too.
    const info = await s.waitFor(condition, { timeout: 15_000 });
    expect(info.interface).toBe('eth-c');
    if (everyServiceChecked) expect(info.state).toBe('online');
    else expect(info.state).toMatch(CONNECTED);
  });

  it('change(): a bad bearer is refused client-side; a daemon rejection is typed and changes nothing', async () => {
    const { transport, keepsContextIdentifier, rejectsUnknownConnectionType } = getContext();
    await using s = await createSession({ transport });
    await expect(s.change({ allowedBearers: ['wimax' as never] })).rejects.toBeInstanceOf(InvalidOptionError);
    if (keepsContextIdentifier) {
      // 'eth-c' is a fine interface name, and the daemon accepts it; ContextIdentifier round-trips.
      await s.change({ allowedInterface: 'eth-c', contextIdentifier: 'sdk-test' });
      expect(s.settings).toMatchObject({
        interface: 'eth-c',
        allowedInterface: 'eth-c',
        contextIdentifier: 'sdk-test',
      });
    } else {
      await s.change({ allowedInterface: 'eth-c' });
      expect(s.settings).toMatchObject({ interface: 'eth-c', allowedInterface: 'eth-c', contextIdentifier: '' });
      await expect(s.change({ contextIdentifier: 'sdk-test' })).rejects.toBeInstanceOf(InvalidArgumentsError);
      expect(s.settings).toMatchObject({ interface: 'eth-c', contextIdentifier: '' });
    }
    // One level down, the Transport API takes ConnMan values unchecked: the daemon's own
    // rejection must arrive typed, and must not produce an Update.
    const rejected: [RequestKey, string] | null = rejectsUnknownConnectionType
      ? ['ConnectionType', 'bogus']
      : keepsContextIdentifier
        ? null
        : ['ContextIdentifier', 'sdk-test'];
    if (!rejected) throw new Error('the context names no Change this daemon rejects');
    const updates: unknown[] = [];
    const raw = await transport.createSession(
      {},
      { update: (u) => updates.push(u), release: () => undefined, lost: () => undefined },
    );
    await waitUntil(() => updates.length === 1);
    const err = await raw.change(rejected[0], rejected[1] as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentsError);
    expect((err as InvalidArgumentsError).dbusName).toBe('net.connman.Error.InvalidArguments');
    await raw.change('SourceIPRule', true);
    const state =
      getContext().deterministicPick && getContext().everyServiceChecked ? 'online' : expect.stringMatching(CONNECTED);
    expect(updates).toEqual([expect.objectContaining({ State: state }), { SourceIPRule: true }]);
    await raw.destroy();
  });

  it('two sessions in parallel; destroying one leaves the other working', async () => {
    const { transport, bearers, deterministicPick } = getContext();
    const [a, b] = await Promise.all([
      createSession({ transport }),
      createSession({ transport, ...selecting('eth-b') }),
    ]);
    if (deterministicPick) expect([a.interface, b.interface]).toEqual(['eth-a', 'eth-b']);
    else {
      expect(Object.keys(bearers)).toContain(a.interface);
      expect(b.interface).toBe('eth-b');
    }
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
    const { transport } = getContext();
    const s = await createSession({ transport });
    const destroyed = new Promise<NetsessionError | null>((resolve) => s.once('destroyed', resolve));
    await getContext().stopDaemon('SIGTERM');
    const err = await destroyed;
    expect(err).toBeInstanceOf(SessionClosedError);
    expect((err as SessionClosedError).reason).toBe('released');
    expect(s.state).toBe('disconnected');
    expect(s.interface).toBeNull();
    // With nobody owning net.connman, a new session fails with a typed error.
    await expect(createSession({ transport })).rejects.toMatchObject({
      code: 'NS_ERR_DAEMON_UNAVAILABLE',
      reason: 'no-daemon',
    });
  });

  it('a daemon that vanishes without Release (SIGKILL) destroys the session with DaemonUnavailableError', async () => {
    const { transport } = getContext();
    await getContext().startDaemon();
    // The same transport reaches the new daemon: its connection outlived the old one.
    const s = await createSession({ transport });
    const errors: NetsessionError[] = [];
    s.on('error', (e) => errors.push(e));
    const destroyed = new Promise<NetsessionError | null>((resolve) => s.once('destroyed', resolve));
    await getContext().stopDaemon('SIGKILL');
    const err = await destroyed;
    expect(err).toBeInstanceOf(DaemonUnavailableError);
    expect((err as DaemonUnavailableError).reason).toBe('daemon-left');
    expect(errors).toEqual([err]);
    await expect(s.connect()).rejects.toMatchObject({ code: 'NS_ERR_SESSION_CLOSED', reason: 'lost' });
  });

  it('a persistent session survives SIGKILL and restart of the daemon: one daemon-lost, then back on its uplink', async () => {
    const { transport } = getContext();
    await getContext().startDaemon();
    const s = await createSession({ transport, ...selecting('eth-c'), persistent: true });
    await s.waitFor('connected', { timeout: 15_000 });
    expect(s.interface).toBe('eth-c');
    const lost: NetsessionError[] = [];
    s.on('daemon-lost', (e) => lost.push(e));
    const destroyed: unknown[] = [];
    s.on('destroyed', (e) => destroyed.push(e));
    await getContext().stopDaemon('SIGKILL');
    await waitUntil(() => lost.length === 1);
    expect(s.destroyed).toBe(false);
    expect(s.interface).toBeNull();
    const restored = new Promise<void>((resolve) => s.once('daemon-restored', resolve));
    await getContext().startDaemon();
    const t0 = Date.now();
    await restored;
    await s.waitFor((i) => i.interface === 'eth-c' && i.state !== 'disconnected', { timeout: 15_000 });
    console.log(
      `[sdk-session-suite] persistent session back on eth-c ${Date.now() - t0} ms after the daemon was ready`,
    );
    expect(lost).toHaveLength(1);
    expect(destroyed).toEqual([]);
    await s.destroy();
    expect(destroyed).toEqual([null]);
  }, 60_000);
}

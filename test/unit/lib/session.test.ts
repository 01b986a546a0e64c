/**
 * Session behaviour against the MockTransport: values after createSession, update deltas and
 * events, waitFor, updates(), change(), destroy and the ways a session ends.
 */
import { describe, expect, it } from 'vitest';
import {
  AbortError,
  BearersNotAllowedError,
  createSession,
  DaemonUnavailableError,
  ExtensionNotSupportedError,
  InvalidArgumentsError,
  InvalidOptionError,
  MockTransport,
  type MockUplink,
  PermissionDeniedError,
  type Session,
  SessionClosedError,
  type SessionUpdate,
  SourceIPRuleRequiredError,
  TimeoutError,
} from '../../../lib/index.js';

const eth: MockUplink = { interface: 'eth0', bearer: 'ethernet', ipv4: '198.51.100.7/24', ipv6: '2001:db8::7/64' };
const wifi: MockUplink = { interface: 'wlan0', bearer: 'wifi', ipv4: '198.51.100.20' };
const cell: MockUplink = { interface: 'wwan0', bearer: 'cellular', ipv4: '203.0.113.9' };

/** Records every event a session emits, in order. */
function record(s: Session): Array<[string, ...unknown[]]> {
  const log: Array<[string, ...unknown[]]> = [];
  for (const ev of ['update', 'state', 'online', 'offline', 'interface', 'destroyed'] as const) {
    s.on(ev, (...args: unknown[]) => log.push([ev, ...args]));
  }
  return log;
}

describe('createSession', () => {
  it('resolves after the first Update, with every value current', async () => {
    const mock = new MockTransport({ uplinks: [eth] });
    const s = await createSession({ transport: mock });
    expect(s.state).toBe('online');
    expect(s.interface).toBe('eth0');
    expect(s.bearer).toBe('ethernet');
    expect(s.ipv4).toEqual({ method: 'manual', address: '198.51.100.7', netmask: '255.255.255.0' });
    expect(s.ipv6).toEqual({ method: 'manual', address: '2001:db8::7', prefixLength: 64 });
    expect(s.path).toBe(mock.lastSession().path);
    expect(s.settings).toEqual({
      state: 'online',
      name: 'eth0',
      ipv4: { method: 'manual', address: '198.51.100.7', netmask: '255.255.255.0' },
      ipv6: { method: 'manual', address: '2001:db8::7', prefixLength: 64 },
      interface: 'eth0',
      bearer: 'ethernet',
      connectionType: 'any',
      allowedBearers: ['ethernet', 'wifi', 'bluetooth', 'cellular', 'gadget'],
      allowedInterface: '*',
      contextIdentifier: '',
      sourceIPRule: false,
      // The uplink's service, from the daemon's service list (netsessiond's status extension).
      nameservers: [],
      metered: false,
      roaming: false,
      captivePortal: false,
      portalUrl: null,
    });
    expect(Object.isFrozen(s.settings)).toBe(true);
  });

  it('sends the options as ConnMan settings', async () => {
    const mock = new MockTransport({ uplinks: [eth, cell] });
    const s = await createSession({
      transport: mock,
      allowedBearers: ['cellular', '*'],
      connectionType: 'internet',
      sourceIPRule: true,
      contextIdentifier: 'telemetry',
    });
    expect(mock.calls[0]).toEqual({
      method: 'CreateSession',
      path: null,
      args: [
        {
          AllowedBearers: ['cellular', '*'],
          ConnectionType: 'internet',
          SourceIPRule: true,
          ContextIdentifier: 'telemetry',
        },
      ],
    });
    expect(s.interface).toBe('wwan0');
    expect(s.settings.allowedBearers).toEqual(['cellular', 'ethernet', 'wifi', 'bluetooth', 'gadget']);
  });

  it('rejects bad options with InvalidOptionError before any call', async () => {
    const mock = new MockTransport();
    await expect(createSession({ transport: mock, allowedBearers: ['lte' as never] })).rejects.toMatchObject({
      code: 'NS_ERR_INVALID_OPTION',
      option: 'allowedBearers',
    });
    await expect(createSession({ transport: mock, bogus: 1 } as never)).rejects.toMatchObject({ option: 'bogus' });
    await expect(createSession({ transport: mock, allowedInterface: 'a/b' })).rejects.toBeInstanceOf(
      InvalidOptionError,
    );
    await expect(createSession({ transport: mock, timeout: -1 })).rejects.toMatchObject({ option: 'timeout' });
    await expect(createSession({ transport: {} as never })).rejects.toMatchObject({ option: 'transport' });
    expect(mock.calls).toEqual([]);
  });

  it('maps a daemon rejection to its error class', async () => {
    const mock = new MockTransport();
    mock.failNext('CreateSession', 'net.connman.Error.PermissionDenied', 'no');
    const err = await createSession({ transport: mock }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermissionDeniedError);
    expect(err).toMatchObject({ dbusName: 'net.connman.Error.PermissionDenied', message: 'no' });
  });

  it('rejects with DaemonUnavailableError when no daemon is on the bus', async () => {
    const mock = new MockTransport();
    mock.stopDaemon();
    await expect(createSession({ transport: mock })).rejects.toMatchObject({
      code: 'NS_ERR_DAEMON_UNAVAILABLE',
      reason: 'no-daemon',
    });
  });

  it('an already aborted signal rejects with AbortError and calls nothing', async () => {
    const mock = new MockTransport();
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    const err = await createSession({ transport: mock, signal: ac.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as AbortError).name).toBe('AbortError');
    expect((err as AbortError).cause).toEqual(new Error('stop'));
    expect(mock.calls).toEqual([]);
  });

  it('aborting before the first Update destroys the half-made session', async () => {
    const mock = new MockTransport({ autoUpdate: false });
    const ac = new AbortController();
    const p = createSession({ transport: mock, signal: ac.signal });
    await Promise.resolve();
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(AbortError);
    await new Promise((r) => setImmediate(r));
    expect(mock.calls.map((c) => c.method)).toEqual(['CreateSession', 'Destroy']);
    expect(mock.lastSession().destroyed).toBe(true);
  });

  it('times out with TimeoutError when no first Update comes, and destroys the session', async () => {
    const mock = new MockTransport({ autoUpdate: false });
    const err = await createSession({ transport: mock, timeout: 20 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err).toMatchObject({ code: 'NS_ERR_TIMEOUT', timeout: 20 });
    await new Promise((r) => setImmediate(r));
    expect(mock.calls.map((c) => c.method)).toEqual(['CreateSession', 'Destroy']);
  });

  it('resolves when the test sends the first Update itself; a partial first Update is refused', async () => {
    const mock = new MockTransport({ autoUpdate: false });
    const p = createSession({ transport: mock });
    expect(() => mock.lastSession().update({ State: 'online' })).toThrow(/first Update must carry every key/);
    mock.lastSession().update({
      State: 'connected',
      Name: 'usb0',
      IPv4: { Address: '198.18.0.2' },
      IPv6: {},
      Interface: 'usb0',
      Bearer: 'gadget',
      ConnectionType: 'local',
      AllowedBearers: ['gadget'],
      AllowedInterface: '*',
      ContextIdentifier: '',
      SourceIPRule: false,
    });
    const s = await p;
    expect(s.settings).toMatchObject({
      state: 'connected',
      interface: 'usb0',
      bearer: 'gadget',
      ipv4: { address: '198.18.0.2' },
      ipv6: null,
      connectionType: 'local',
    });
  });
});

describe('updates and events', () => {
  it('a move emits update (changed keys only), state, online/offline and interface, with values already current', async () => {
    const mock = new MockTransport({ uplinks: [eth] });
    const s = await createSession({ transport: mock });
    const log = record(s);
    let seenInsideListener: string | null = null;
    s.on('interface', () => (seenInsideListener = s.interface));
    mock.lastSession().goConnected(cell);
    expect(log).toEqual([
      [
        'update',
        // A scripted uplink the mock does not list: its properties are unknown (null), no longer eth0's.
        {
          state: 'connected',
          name: 'wwan0',
          ipv4: { method: 'manual', address: '203.0.113.9' },
          ipv6: null,
          interface: 'wwan0',
          bearer: 'cellular',
          metered: null,
          roaming: null,
          captivePortal: null,
        },
      ],
      ['state', 'connected', 'online'],
      ['offline'],
      ['interface', 'wwan0', 'eth0'],
    ]);
    expect(seenInsideListener).toBe('wwan0');
    log.length = 0;
    mock.lastSession().update({ State: 'online' });
    expect(log).toEqual([['update', { state: 'online' }], ['state', 'online', 'connected'], ['online']]);
    log.length = 0;
    mock.lastSession().goOffline();
    expect(log.map((e) => e[0])).toEqual(['update', 'state', 'offline', 'interface']);
    expect(log[3]).toEqual(['interface', null, 'wwan0']);
    expect(s.settings).toMatchObject({
      state: 'disconnected',
      interface: null,
      bearer: null,
      name: null,
      ipv4: null,
      ipv6: null,
    });
  });

  it('an Update that repeats current values emits nothing', async () => {
    const mock = new MockTransport({ uplinks: [eth] });
    const s = await createSession({ transport: mock });
    const log = record(s);
    mock.lastSession().update({
      State: 'online',
      Interface: 'eth0',
      IPv6: { Method: 'manual', Address: '2001:db8::7', PrefixLength: 64 },
    });
    expect(log).toEqual([]);
  });

  it('sessions follow the uplinks by the selection rule (failover and back)', async () => {
    const mock = new MockTransport({ uplinks: [eth, wifi] });
    const s = await createSession({ transport: mock });
    const moves: Array<string | null> = [];
    s.on('interface', (name) => moves.push(name));
    mock.setUplinks([wifi]);
    mock.setUplinks([]);
    mock.setUplinks([wifi, eth]);
    expect(moves).toEqual(['wlan0', null, 'eth0']);
    expect(s.state).toBe('online');
  });
});

describe('waitFor', () => {
  it('resolves at once when the condition already holds', async () => {
    const s = await createSession({ transport: new MockTransport({ uplinks: [eth] }) });
    await expect(s.waitFor('online')).resolves.toMatchObject({ state: 'online', interface: 'eth0' });
    await expect(s.waitFor('connected')).resolves.toMatchObject({ state: 'online' });
  });

  it('resolves on the Update that makes it true (named condition and predicate)', async () => {
    const mock = new MockTransport();
    const s = await createSession({ transport: mock });
    expect(s.state).toBe('disconnected');
    const online = s.waitFor('online');
    const onCell = s.waitFor((i) => i.bearer === 'cellular');
    mock.setUplinks([{ ...cell, state: 'connected' }]);
    await expect(onCell).resolves.toMatchObject({ interface: 'wwan0', state: 'connected' });
    mock.setUplinks([cell]);
    await expect(online).resolves.toMatchObject({ state: 'online' });
    mock.setUplinks([]);
    await expect(s.waitFor('disconnected')).resolves.toMatchObject({ interface: null });
  });

  it('rejects with TimeoutError after timeout, and with AbortError on abort', async () => {
    const s = await createSession({ transport: new MockTransport() });
    await expect(s.waitFor('online', { timeout: 10 })).rejects.toBeInstanceOf(TimeoutError);
    const ac = new AbortController();
    const p = s.waitFor('online', { signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(AbortError);
    await expect(s.waitFor('online', { signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: 'NS_ERR_ABORTED',
    });
  });

  it('rejects with SessionClosedError when the session ends first, and for bad arguments', async () => {
    const s = await createSession({ transport: new MockTransport() });
    const p = s.waitFor('online');
    await s.destroy();
    await expect(p).rejects.toMatchObject({ code: 'NS_ERR_SESSION_CLOSED', reason: 'destroyed' });
    await expect(s.waitFor('disconnected')).rejects.toBeInstanceOf(SessionClosedError);
    const t = await createSession({ transport: new MockTransport() });
    await expect(t.waitFor('ready' as never)).rejects.toMatchObject({ option: 'condition' });
    await expect(t.waitFor('online', { timeout: Number.NaN })).rejects.toMatchObject({ option: 'timeout' });
  });

  it('a wait for an uplink the policy made impossible fails at once, naming the policy and the bearers', async () => {
    const mock = new MockTransport({
      uplinks: [cell, wifi],
      policy: { group: 'kiosk.policy:policy_kiosk', allowedBearers: ['wifi'] },
    });
    const s = await createSession({ transport: mock, allowedBearers: ['cellular'] });
    expect(s.settings.allowedBearers).toEqual([]);
    const t0 = Date.now();
    const err = await s.waitFor('online', { timeout: 5_000 }).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(err).toBeInstanceOf(BearersNotAllowedError);
    expect(err).toMatchObject({
      code: 'NS_ERR_BEARERS_NOT_ALLOWED',
      requested: ['cellular'],
      policy: 'kiosk.policy:policy_kiosk',
    });
    expect((err as Error).message).toMatch(/kiosk\.policy:policy_kiosk.*cellular/);
    await expect(s.waitFor('connected')).rejects.toBeInstanceOf(BearersNotAllowedError);
    // 'disconnected' holds, and a predicate is the app's own business: neither is refused.
    await expect(s.waitFor('disconnected')).resolves.toMatchObject({ state: 'disconnected' });
    // A wait under way fails as soon as a Change leaves no bearer.
    const ok = await createSession({ transport: mock, allowedBearers: ['wifi', 'cellular'] });
    expect(ok.interface).toBe('wlan0');
    await ok.disconnect();
    const pending = ok.waitFor('online', { timeout: 5_000 });
    await ok.change({ allowedBearers: ['cellular'] });
    await expect(pending).rejects.toMatchObject({ code: 'NS_ERR_BEARERS_NOT_ALLOWED', requested: ['cellular'] });
    // Against a daemon that does not say which policy (connmand), policy is null.
    const anon = new MockTransport({
      uplinks: [wifi],
      capabilities: null,
      policy: { group: 'x:y', allowedBearers: ['wifi'] },
    });
    const a = await createSession({ transport: anon, allowedBearers: ['cellular'] });
    await expect(a.waitFor('online')).rejects.toMatchObject({ policy: null, requested: ['cellular'] });
  });

  it('a predicate that throws rejects the wait', async () => {
    const mock = new MockTransport();
    const s = await createSession({ transport: mock });
    const p = s.waitFor((i) => {
      if (i.interface) throw new Error('boom');
      return false;
    });
    mock.setUplinks([eth]);
    await expect(p).rejects.toThrow('boom');
  });
});

describe('updates()', () => {
  it('yields each update in order and ends after the last one when the session is destroyed', async () => {
    const mock = new MockTransport({ uplinks: [eth] });
    const s = await createSession({ transport: mock });
    const seen: SessionUpdate[] = [];
    const done = (async () => {
      for await (const u of s.updates()) seen.push(u);
    })();
    mock.setUplinks([wifi]);
    mock.lastSession().update({ ContextIdentifier: 'x' });
    await s.destroy();
    await done;
    // destroy() ends the iterator without a last "uplink lost" update: the app ended it.
    expect(seen.map((u) => Object.keys(u))).toEqual([
      ['name', 'ipv4', 'ipv6', 'interface', 'bearer'],
      ['contextIdentifier'],
    ]);
  });

  it('ends with a last update clearing the uplink when the daemon ends the session', async () => {
    const mock = new MockTransport({ uplinks: [eth] });
    const s = await createSession({ transport: mock });
    const seen: SessionUpdate[] = [];
    const done = (async () => {
      for await (const u of s.updates()) seen.push(u);
    })();
    mock.stopDaemon({ release: true });
    await done;
    expect(seen).toEqual([expect.objectContaining({ state: 'disconnected', interface: null })]);
  });

  it('throws AbortError when its signal aborts; break stops it', async () => {
    const mock = new MockTransport({ uplinks: [eth] });
    const s = await createSession({ transport: mock });
    const ac = new AbortController();
    const it1 = s.updates({ signal: ac.signal });
    const next = it1.next();
    ac.abort();
    await expect(next).rejects.toBeInstanceOf(AbortError);
    await expect(it1.next()).resolves.toEqual({ value: undefined, done: true });

    const got: SessionUpdate[] = [];
    const loop = (async () => {
      for await (const u of s.updates()) {
        got.push(u);
        break;
      }
    })();
    mock.setUplinks([wifi]);
    await loop;
    mock.setUplinks([eth]);
    expect(got).toHaveLength(1);
  });

  it('on a destroyed session it is empty', async () => {
    const s = await createSession({ transport: new MockTransport() });
    await s.destroy();
    await expect(s.updates().next()).resolves.toEqual({ value: undefined, done: true });
  });
});

describe('change(), connect(), disconnect()', () => {
  it('maps options to one Change per key; values are current when it resolves', async () => {
    const mock = new MockTransport({ uplinks: [eth, cell] });
    const s = await createSession({ transport: mock });
    await s.change({ allowedBearers: ['cellular'], sourceIPRule: true });
    expect(mock.calls.slice(1)).toEqual([
      { method: 'Change', path: s.path, args: ['AllowedBearers', ['cellular']] },
      { method: 'Change', path: s.path, args: ['SourceIPRule', true] },
    ]);
    expect(s.settings).toMatchObject({ interface: 'wwan0', allowedBearers: ['cellular'], sourceIPRule: true });
  });

  it('validates before calling: a bad bearer or an unknown option sends nothing', async () => {
    const mock = new MockTransport();
    const s = await createSession({ transport: mock });
    await expect(s.change({ allowedBearers: ['wimax' as never] })).rejects.toMatchObject({
      code: 'NS_ERR_INVALID_OPTION',
      option: 'allowedBearers',
    });
    await expect(s.change({ state: 'online' } as never)).rejects.toMatchObject({ option: 'state' });
    await expect(s.change({ connectionType: 'bogus' as never })).rejects.toMatchObject({ option: 'connectionType' });
    expect(mock.calls.map((c) => c.method)).toEqual(['CreateSession']);
  });

  it('a daemon rejection is typed and changes nothing on the client side', async () => {
    const mock = new MockTransport({ uplinks: [eth] });
    const s = await createSession({ transport: mock });
    const before = s.settings;
    const log = record(s);
    mock.failNext('Change', 'net.connman.Error.InvalidArguments', 'nope');
    const err = await s.change({ connectionType: 'internet' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentsError);
    expect(s.settings).toBe(before);
    expect(log).toEqual([]);
  });

  it('disconnect detaches until connect', async () => {
    const mock = new MockTransport({ uplinks: [eth] });
    const s = await createSession({ transport: mock });
    await s.disconnect();
    expect(s.state).toBe('disconnected');
    mock.setUplinks([eth, wifi]);
    expect(s.state).toBe('disconnected');
    await s.connect();
    expect(s.interface).toBe('eth0');
    expect(mock.calls.map((c) => c.method)).toEqual(['CreateSession', 'Disconnect', 'Connect']);
    // connect(port, host) is the bind helper's overload: a socket, refused here without the source rule.
    expect(() => s.connect(80, 'example.org')).toThrow(SourceIPRuleRequiredError);
    expect(() => (s.connect as (...a: unknown[]) => unknown)('80')).toThrow(InvalidOptionError);
  });

  it('statistics() needs the Statistics capability', async () => {
    const mock = new MockTransport({ uplinks: [eth] });
    const s = await createSession({ transport: mock });
    mock.lastSession().statistics = { rxBytes: 10n, txBytes: 20n, rxPackets: 1n, txPackets: 2n };
    await expect(s.statistics()).resolves.toEqual({ rxBytes: 10n, txBytes: 20n, rxPackets: 1n, txPackets: 2n });
    const connman = new MockTransport({ capabilities: null });
    const c = await createSession({ transport: connman });
    const err = await c.statistics().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExtensionNotSupportedError);
    expect(err).toMatchObject({ code: 'NS_ERR_EXTENSION_NOT_SUPPORTED', feature: 'Statistics' });
    const noDatapath = await createSession({ transport: new MockTransport({ capabilities: ['ListSessions'] }) });
    await expect(noDatapath.statistics()).rejects.toBeInstanceOf(ExtensionNotSupportedError);
  });
});

describe('the end of a session', () => {
  it('destroy() is idempotent, closes at once, and later calls reject with SessionClosedError', async () => {
    const mock = new MockTransport({ uplinks: [eth] });
    const s = await createSession({ transport: mock });
    const log = record(s);
    const a = s.destroy();
    const b = s.destroy();
    expect(a).toBe(b);
    expect(s.destroyed).toBe(true);
    await a;
    // The app's own destroy() is no loss of the uplink: no 'offline', 'state' or 'interface'.
    expect(log).toEqual([['destroyed', null, 'destroyed']]);
    expect(s.state).toBe('disconnected');
    expect(s.interface).toBeNull();
    expect(mock.calls.filter((c) => c.method === 'Destroy')).toHaveLength(1);
    await expect(s.connect()).rejects.toMatchObject({ code: 'NS_ERR_SESSION_CLOSED', reason: 'destroyed' });
    await expect(s.change({ sourceIPRule: true })).rejects.toBeInstanceOf(SessionClosedError);
    await expect(s.statistics()).rejects.toBeInstanceOf(SessionClosedError);
    mock.setUplinks([wifi]);
    expect(s.interface).toBeNull();
  });

  it('await using destroys the session at the end of the scope', async () => {
    const mock = new MockTransport();
    let s: Session | null = null;
    {
      await using session = await createSession({ transport: mock });
      s = session;
      expect(session.destroyed).toBe(false);
    }
    expect(s.destroyed).toBe(true);
    expect(mock.lastSession().destroyed).toBe(true);
  });

  it('destroy() resolves when the daemon is already gone, rejects when it refuses', async () => {
    const mock = new MockTransport();
    const s = await createSession({ transport: mock });
    mock.failNext('Destroy', 'org.freedesktop.DBus.Error.ServiceUnknown');
    await expect(s.destroy()).resolves.toBeUndefined();
    const t = await createSession({ transport: mock });
    mock.failNext('Destroy', 'net.connman.Error.Failed', 'busy');
    await expect(t.destroy()).rejects.toMatchObject({ code: 'NS_ERR_FAILED' });
    expect(t.destroyed).toBe(true);
  });

  it('a Release from the daemon destroys the session with SessionClosedError(released)', async () => {
    const mock = new MockTransport({ uplinks: [eth] });
    const s = await createSession({ transport: mock });
    const log = record(s);
    mock.stopDaemon({ release: true });
    expect(s.destroyed).toBe(true);
    const [, err, reason] = log.at(-1)!;
    expect(log.at(-1)![0]).toBe('destroyed');
    expect(err).toMatchObject({ code: 'NS_ERR_SESSION_CLOSED', reason: 'released' });
    expect(reason).toBe('released');
    // A daemon that ends the session is a real loss: the uplink events come first.
    expect(log.map((e) => e[0])).toEqual(['update', 'state', 'offline', 'interface', 'destroyed']);
    expect(s.state).toBe('disconnected');
    await expect(s.destroy()).resolves.toBeUndefined();
    expect(mock.calls.map((c) => c.method)).not.toContain('Destroy');
  });

  it('losing the daemon destroys the session with DaemonUnavailableError, and emits error only when listened to', async () => {
    const mock = new MockTransport({ uplinks: [eth] });
    const quiet = await createSession({ transport: mock });
    const loud = await createSession({ transport: mock });
    const errors: unknown[] = [];
    loud.on('error', (e) => errors.push(e));
    const destroyed: unknown[] = [];
    const reasons: string[] = [];
    quiet.on('destroyed', (e, reason) => {
      destroyed.push(e);
      reasons.push(reason);
    });
    mock.stopDaemon();
    expect(destroyed).toHaveLength(1);
    expect(destroyed[0]).toBeInstanceOf(DaemonUnavailableError);
    expect(reasons).toEqual(['lost']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ reason: 'daemon-left' });
    await expect(quiet.connect()).rejects.toMatchObject({ code: 'NS_ERR_SESSION_CLOSED', reason: 'lost' });
    mock.startDaemon();
    await expect(createSession({ transport: mock })).resolves.toMatchObject({ state: 'online' });
  });

  it('a call answered with UnknownObject closes the session as gone', async () => {
    const mock = new MockTransport();
    const s = await createSession({ transport: mock });
    mock.failNext('Connect', 'org.freedesktop.DBus.Error.UnknownObject');
    await expect(s.connect()).rejects.toMatchObject({ code: 'NS_ERR_SESSION_CLOSED', reason: 'gone' });
    expect(s.destroyed).toBe(true);
  });

  it('closing the transport ends its sessions', async () => {
    const mock = new MockTransport();
    const s = await createSession({ transport: mock });
    await mock.close();
    expect(s.destroyed).toBe(true);
    await expect(s.connect()).rejects.toMatchObject({ reason: 'transport-closed' });
    await expect(createSession({ transport: mock })).rejects.toMatchObject({ reason: 'transport-closed' });
  });
});

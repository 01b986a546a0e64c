/**
 * The public MockTransport as app developers use it: selection rule, recorded calls, injected
 * failures, validation of scripted Updates, the default-transport switch.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  createSession,
  DaemonUnavailableError,
  DBusTransport,
  getDefaultTransport,
  InvalidArgumentsError,
  MockTransport,
  type MockUplink,
  type SessionNotifier,
  setDefaultTransport,
  type Transport,
} from '../../../lib/index.js';
import { selectUplink } from '../../../lib/mock/uplink.js';

const eth: MockUplink = { interface: 'eth0', bearer: 'ethernet' };
const wifi: MockUplink = { interface: 'wlan0', bearer: 'wifi' };
const cellUp: MockUplink = { interface: 'wwan0', bearer: 'cellular', state: 'connected' };

describe('MockTransport selection (the daemon rule: bearer order, online first, uplink order)', () => {
  const all = {
    AllowedBearers: ['ethernet', 'wifi', 'bluetooth', 'cellular', 'gadget'] as const,
    AllowedInterface: '*',
    ConnectionType: 'any' as const,
  };

  it('picks by the session bearer order, then online over connected, then list order', () => {
    expect(selectUplink({ ...all, AllowedBearers: ['cellular', 'ethernet'] }, [eth, cellUp])).toBe(cellUp);
    expect(
      selectUplink({ ...all, AllowedBearers: ['ethernet'] }, [
        { ...eth, state: 'connected' },
        { ...eth, interface: 'eth1' },
      ])?.interface,
    ).toBe('eth1');
    expect(selectUplink({ ...all, AllowedBearers: [...all.AllowedBearers] }, [wifi, eth])).toBe(eth);
    expect(selectUplink({ ...all, AllowedBearers: ['wifi'] }, [eth])).toBeNull();
  });

  it('honours AllowedInterface and ConnectionType internet', () => {
    const bearers = [...all.AllowedBearers];
    expect(selectUplink({ ...all, AllowedBearers: bearers, AllowedInterface: 'wlan0' }, [eth, wifi])).toBe(wifi);
    expect(selectUplink({ ...all, AllowedBearers: bearers, ConnectionType: 'internet' }, [cellUp])).toBeNull();
    expect(selectUplink({ ...all, AllowedBearers: bearers, ConnectionType: 'local' }, [cellUp])).toBe(cellUp);
  });

  it('re-selects on Change of bearers, in one Update', async () => {
    const mock = new MockTransport({ uplinks: [eth, cellUp] });
    const s = await createSession({ transport: mock });
    const updates: unknown[] = [];
    s.on('update', (u) => updates.push(u));
    await s.change({ allowedBearers: ['cellular'] });
    // The uplink's properties move with it: cellular is metered.
    expect(updates).toEqual([
      {
        allowedBearers: ['cellular'],
        state: 'connected',
        name: 'wwan0',
        interface: 'wwan0',
        bearer: 'cellular',
        metered: true,
      },
    ]);
  });

  it('a scripted uplink sticks until the next scripted one', async () => {
    const mock = new MockTransport({ uplinks: [eth] });
    const s = await createSession({ transport: mock });
    mock.sessionFor(s).goOnline({ interface: 'wwan0', bearer: 'cellular', ipv4: '203.0.113.9' });
    mock.setUplinks([wifi]);
    await s.change({ sourceIPRule: true });
    expect(s.interface).toBe('wwan0');
    mock.sessionFor(s).goOffline();
    expect(s.interface).toBeNull();
  });
});

describe('MockTransport bookkeeping', () => {
  it('records every call in ConnMan terms', async () => {
    const mock = new MockTransport({ uplinks: [eth] });
    const s = await createSession({ transport: mock, connectionType: 'internet' });
    await s.change({ contextIdentifier: 'x' });
    await s.statistics();
    await s.destroy();
    expect(mock.calls).toEqual([
      { method: 'CreateSession', path: null, args: [{ ConnectionType: 'internet' }] },
      { method: 'Change', path: s.path, args: ['ContextIdentifier', 'x'] },
      { method: 'GetCapabilities', path: null, args: [] },
      { method: 'GetStatistics', path: s.path, args: [] },
      { method: 'Destroy', path: s.path, args: [] },
    ]);
    expect(mock.sessions).toHaveLength(1);
    expect(mock.liveSessions).toEqual([]);
    expect(mock.lastSession().request).toEqual({ ConnectionType: 'internet' });
  });

  it('failNext queues failures per method, mapped like the D-Bus transport maps them', async () => {
    const mock = new MockTransport();
    mock.failNext('CreateSession', 'org.freedesktop.DBus.Error.ServiceUnknown');
    mock.failNext('CreateSession');
    await expect(createSession({ transport: mock })).rejects.toBeInstanceOf(DaemonUnavailableError);
    await expect(createSession({ transport: mock })).rejects.toMatchObject({
      code: 'NS_ERR_FAILED',
      dbusName: 'net.connman.Error.Failed',
    });
    await expect(createSession({ transport: mock })).resolves.toBeDefined();
    mock.failNext('GetCapabilities', 'org.freedesktop.DBus.Error.UnknownMethod');
    await expect(mock.capabilities()).resolves.toEqual([]);
  });

  it('the daemon side validates Change like netsessiond when called directly', async () => {
    const mock = new MockTransport();
    const notifier: SessionNotifier = { update: () => undefined, release: () => undefined, lost: () => undefined };
    const h = await mock.createSession({}, notifier);
    await Promise.resolve();
    await expect(h.change('AllowedBearers', ['lte' as never])).rejects.toBeInstanceOf(InvalidArgumentsError);
    await expect(h.change('AllowedInterface', 'no/such')).rejects.toBeInstanceOf(InvalidArgumentsError);
    await expect(h.change('State' as never, 'online' as never)).rejects.toBeInstanceOf(InvalidArgumentsError);
  });

  it('scripted Updates are checked: unknown keys, wrong types, unknown states', async () => {
    const mock = new MockTransport();
    await createSession({ transport: mock });
    const m = mock.lastSession();
    expect(() => m.update({ Foo: 1 } as never)).toThrow(/unknown key 'Foo'/);
    expect(() => m.update({ SourceIPRule: 'yes' } as never)).toThrow(/type 'b'/);
    expect(() => m.update({ State: 'ready' } as never)).toThrow(/State must be/);
    expect(() => m.update({ Bearer: 'lte' } as never)).toThrow(/unknown Bearer/);
    m.release();
    expect(() => m.update({ State: 'online' })).toThrow(/has ended/);
  });
});

describe('default transport', () => {
  const original = getDefaultTransport();
  afterEach(() => setDefaultTransport(original));

  it('is a DBusTransport until replaced; createSession() without a transport uses it', async () => {
    expect(original).toBeInstanceOf(DBusTransport);
    expect(getDefaultTransport()).toBe(original);
    const mock = new MockTransport({ uplinks: [eth] });
    setDefaultTransport(mock);
    const s = await createSession();
    expect(s.interface).toBe('eth0');
    expect(mock.sessions).toHaveLength(1);
  });

  it('refuses something that is not a transport', () => {
    expect(() => setDefaultTransport({ createSession() {} } as unknown as Transport)).toThrow(/must implement/);
  });
});

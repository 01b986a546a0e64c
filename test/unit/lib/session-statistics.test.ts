/**
 * The Session's `statistics` event against the MockTransport: the first listener subscribes
 * (SetStatisticsInterval), the last one's removal unsubscribes, signals arrive as typed
 * SessionStatistics, and a daemon without the extension is reported on `error`, never thrown.
 *
 * | input                                                  | expected                                                   |
 * |--------------------------------------------------------|------------------------------------------------------------|
 * | no listener                                            | nothing asked of the daemon                                |
 * | first listener / second / remove one / remove last     | SetStatisticsInterval(1) / nothing / nothing / (0)         |
 * | emitStatistics while subscribed / after                | each listener gets the bigint counters / false, nothing    |
 * | setStatisticsInterval(5000) while listening            | (0) then (5); bad values InvalidOptionError                |
 * | add and remove in one tick                             | no call at all                                             |
 * | removeAllListeners() then a new listener               | unsubscribes, then subscribes again                        |
 * | destroy()                                              | the watch ends, no call after Destroy, no more events      |
 * | connmand (no extension) / no StatisticsSignal          | `error` with ExtensionNotSupportedError; silent without one |
 * | the daemon refuses / forgot the session                | `error` with its error / the session ends as gone          |
 */
import { describe, expect, it } from 'vitest';
import {
  createSession,
  ExtensionNotSupportedError,
  InvalidOptionError,
  MockTransport,
  type MockUplink,
  type NetsessionError,
  PermissionDeniedError,
  SessionClosedError,
  type SessionStatistics,
  type Transport,
} from '../../../lib/index.js';

const eth: MockUplink = { interface: 'eth0', bearer: 'ethernet', ipv4: '198.51.100.7/24' };

/** Lets the session's subscription steps (a few promise hops on the mock) run. */
const settle = async () => {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
};

async function setup(options: ConstructorParameters<typeof MockTransport>[0] = {}) {
  const mock = new MockTransport({ uplinks: [eth], ...options });
  const s = await createSession({ transport: mock });
  const intervals = () => mock.calls.filter((c) => c.method === 'SetStatisticsInterval').map((c) => c.args[0]);
  return { mock, s, m: mock.sessionFor(s), intervals };
}

describe("Session 'statistics' event", () => {
  it('the first listener subscribes, the last one leaving unsubscribes; each signal reaches every listener', async () => {
    const { s, m, intervals } = await setup();
    await settle();
    expect(intervals()).toEqual([]);
    expect(m.statisticsInterval).toBeNull();

    const a: SessionStatistics[] = [];
    const b: SessionStatistics[] = [];
    const la = (st: SessionStatistics) => a.push(st);
    const lb = (st: SessionStatistics) => b.push(st);
    s.on('statistics', la);
    await settle();
    expect(intervals()).toEqual([1]);
    expect(m.statisticsInterval).toBe(1);
    s.on('statistics', lb);
    await settle();
    expect(intervals()).toEqual([1]);

    expect(m.emitStatistics({ rxBytes: 1500n, txPackets: 2n })).toBe(true);
    expect(a).toEqual([{ rxBytes: 1500n, txBytes: 0n, rxPackets: 0n, txPackets: 2n }]);
    expect(b).toEqual(a);
    expect(typeof a[0]!.rxBytes).toBe('bigint');
    // GetStatistics answers the same numbers.
    await expect(s.statistics()).resolves.toEqual(a[0]);

    s.off('statistics', la);
    await settle();
    expect(intervals()).toEqual([1]);
    s.off('statistics', lb);
    await settle();
    expect(intervals()).toEqual([1, 0]);
    expect(m.statisticsInterval).toBeNull();
    expect(m.emitStatistics({ rxBytes: 9n })).toBe(false);
    expect(a).toHaveLength(1);
  });

  it('setStatisticsInterval takes whole seconds from 1 s to 1 h and re-subscribes while listened to', async () => {
    const { s, m, intervals } = await setup();
    expect(s.setStatisticsInterval(2000)).toBe(s);
    await settle();
    expect(intervals()).toEqual([]);
    s.on('statistics', () => undefined);
    await settle();
    expect(intervals()).toEqual([2]);
    s.setStatisticsInterval(5000);
    await settle();
    expect(intervals()).toEqual([2, 0, 5]);
    expect(m.statisticsInterval).toBe(5);
    s.setStatisticsInterval(5000);
    await settle();
    expect(intervals()).toEqual([2, 0, 5]);
    for (const bad of [0, 999, 1500, 3_601_000, Number.NaN, '5000' as unknown as number]) {
      expect(() => s.setStatisticsInterval(bad), String(bad)).toThrow(InvalidOptionError);
    }
    expect(s.setStatisticsInterval(3_600_000)).toBe(s);
  });

  it('adding and removing a listener in the same tick asks nothing of the daemon', async () => {
    const { s, intervals } = await setup();
    const l = () => undefined;
    s.on('statistics', l);
    s.off('statistics', l);
    s.once('statistics', l);
    s.removeListener('statistics', l);
    await settle();
    expect(intervals()).toEqual([]);
  });

  it('removeAllListeners() unsubscribes, and the session still follows listeners added afterwards', async () => {
    const { s, m, intervals } = await setup();
    s.on('statistics', () => undefined);
    await settle();
    s.removeAllListeners();
    await settle();
    expect(intervals()).toEqual([1, 0]);
    // The session's own hooks are back, once each.
    expect([s.listenerCount('newListener'), s.listenerCount('removeListener')]).toEqual([1, 1]);
    const seen: SessionStatistics[] = [];
    s.on('statistics', (st) => seen.push(st));
    await settle();
    expect(intervals()).toEqual([1, 0, 1]);
    m.emitStatistics({ rxBytes: 7n });
    expect(seen.map((x) => x.rxBytes)).toEqual([7n]);
    s.removeAllListeners('statistics');
    await settle();
    expect(intervals()).toEqual([1, 0, 1, 0]);
  });

  it('the end of the session ends the watch: no call after Destroy, no more events', async () => {
    const { mock, s, m, intervals } = await setup();
    const seen: SessionStatistics[] = [];
    s.on('statistics', (st) => seen.push(st));
    await settle();
    await s.destroy();
    await settle();
    expect(intervals()).toEqual([1]);
    expect(mock.calls.at(-1)!.method).toBe('Destroy');
    expect(m.statisticsInterval).toBeNull();
    expect(seen).toEqual([]);
    // Listeners added to an ended session ask for nothing.
    s.on('statistics', () => undefined);
    await settle();
    expect(intervals()).toEqual([1]);
  });

  it('against a daemon without the extension: error with ExtensionNotSupportedError when listened to, silence otherwise', async () => {
    for (const capabilities of [null, ['ListSessions', 'Statistics']]) {
      const { s, intervals } = await setup({ capabilities });
      const errors: NetsessionError[] = [];
      s.on('error', (e) => errors.push(e));
      s.on('statistics', () => undefined);
      await settle();
      expect(errors).toHaveLength(1);
      expect(errors[0]).toBeInstanceOf(ExtensionNotSupportedError);
      expect(errors[0]).toMatchObject({ feature: 'StatisticsSignal' });
      expect(intervals()).toEqual([]);
      expect(s.destroyed).toBe(false);
      // A second listener does not retry; the listeners going and coming back does.
      s.on('statistics', () => undefined);
      await settle();
      expect(errors).toHaveLength(1);
      s.removeAllListeners('statistics');
      s.on('statistics', () => undefined);
      await settle();
      expect(errors).toHaveLength(2);

      // No error listener: nothing thrown, nothing unhandled (vitest fails the run on either).
      const quiet = (await setup({ capabilities })).s;
      quiet.on('statistics', () => undefined);
      await settle();
      expect(quiet.destroyed).toBe(false);
    }
  });

  it('a transport without watchStatistics is treated as a daemon without the extension', async () => {
    const mock = new MockTransport({ uplinks: [eth] });
    const bare: Transport = {
      createSession: (settings, notifier) => mock.createSession(settings, notifier),
      capabilities: () => mock.capabilities(),
      statistics: (path) => mock.statistics(path),
      close: () => mock.close(),
    };
    const s = await createSession({ transport: bare });
    const errors: unknown[] = [];
    s.on('error', (e) => errors.push(e));
    s.on('statistics', () => undefined);
    await settle();
    expect(errors[0]).toBeInstanceOf(ExtensionNotSupportedError);
  });

  it("the daemon's refusal comes on error; a session the daemon forgot ends as gone", async () => {
    const { mock, s, intervals } = await setup();
    const errors: unknown[] = [];
    s.on('error', (e) => errors.push(e));
    mock.failNext('SetStatisticsInterval', 'net.connman.Error.PermissionDenied');
    s.on('statistics', () => undefined);
    await settle();
    expect(errors[0]).toBeInstanceOf(PermissionDeniedError);
    expect(intervals()).toEqual([1]);

    const { mock: m2, s: s2 } = await setup();
    m2.failNext('SetStatisticsInterval', 'org.freedesktop.DBus.Error.UnknownObject');
    const gone: unknown[] = [];
    s2.on('destroyed', (e) => gone.push(e));
    s2.on('statistics', () => undefined);
    await settle();
    expect(gone).toHaveLength(1);
    expect(gone[0]).toBeInstanceOf(SessionClosedError);
    expect(gone[0]).toMatchObject({ reason: 'gone' });
  });
});

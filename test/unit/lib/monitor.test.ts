/**
 * monitorUplinks with the MockTransport and scripted probes (plus the built-in probes on
 * loopback): which sessions it makes, the results and up/down transitions it emits, the loss
 * window, uplinks coming and going, and cleanup.
 *
 * | input                                               | expected                                                  |
 * |-----------------------------------------------------|-----------------------------------------------------------|
 * | three uplinks                                       | three pinned sessions (AllowedInterface, SourceIPRule, bearer); 'added' + 'up' each |
 * | outcomes ok, fail, fail, ok, ok, ok, ok (window 4)  | lossRatio 0, 1/2, 2/3, 1/2, 1/2, 1/4, 0; down at 2nd, up at 4th |
 * | a probe that never ends                             | TimeoutError result after `timeout`, rttMs null            |
 * | the session loses its uplink                        | NotConnectedError result, address null, 'down'             |
 * | an uplink removed / added                           | 'removed' + its session destroyed / 'added' + probed        |
 * | daemon stops, comes back                            | uplinks removed, then added again with new sessions        |
 * | close() / signal aborted                            | sessions destroyed, 'close', no result afterwards          |
 * | built-in tcp and http probes on loopback            | reachable; HTTP 500 is a failure                           |
 * | bad options, transport without watchServices        | InvalidOptionError                                        |
 */
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  InvalidOptionError,
  MockTransport,
  type MockUplink,
  monitorUplinks,
  NotConnectedError,
  ProbeFailedError,
  type Session,
  TimeoutError,
  type Transport,
  type UplinkMonitor,
  type UplinkMonitorEvents,
  type UplinkResult,
} from '../../../lib/index.js';

const ETH: MockUplink = { interface: 'eth0', bearer: 'ethernet', ipv4: '198.51.100.2' };
const WIFI: MockUplink = { interface: 'wlan0', bearer: 'wifi', ipv4: '198.51.100.10' };
const WWAN: MockUplink = { interface: 'wwan0', bearer: 'cellular', ipv4: '198.51.100.18' };

type Outcome = 'ok' | 'fail' | 'hang';
/** Scripted outcomes per interface, consumed one per probe; 'ok' when the script is empty. */
const scripts = new Map<string, Outcome[]>();
const probed: string[] = [];

async function scripted(session: Session, signal: AbortSignal): Promise<void> {
  // Like the built-in probes: no address, no probe.
  session.socketOptions();
  const name = session.interface!;
  probed.push(name);
  const outcome = scripts.get(name)?.shift() ?? 'ok';
  if (outcome === 'fail') throw new Error(`${name}: scripted failure`);
  if (outcome === 'hang')
    await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
}

const monitors: UplinkMonitor[] = [];
afterEach(async () => {
  await Promise.all(monitors.splice(0).map((m) => m.close()));
  scripts.clear();
  probed.length = 0;
});

function start(mock: Transport, extra: Parameters<typeof monitorUplinks>[0] = {}): UplinkMonitor {
  const m = monitorUplinks({ probe: scripted, interval: 20, timeout: 15, transport: mock, ...extra });
  monitors.push(m);
  return m;
}

/** Collects every event of `m` in order. */
function record(m: UplinkMonitor): Array<[keyof UplinkMonitorEvents, unknown]> {
  const log: Array<[keyof UplinkMonitorEvents, unknown]> = [];
  for (const ev of ['added', 'removed', 'result', 'up', 'down', 'close'] as const)
    m.on(ev, (arg?: unknown) => log.push([ev, arg]));
  return log;
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
}

const resultsOf = (log: Array<[string, unknown]>, name: string) =>
  log.filter(([e, r]) => e === 'result' && (r as UplinkResult).interface === name).map(([, r]) => r as UplinkResult);

describe('monitorUplinks', () => {
  it('makes one pinned session per uplink, with the source rule, and reports each up', async () => {
    const mock = new MockTransport({ uplinks: [ETH, WIFI, WWAN] });
    const m = start(mock);
    const log = record(m);
    await until(() => log.filter(([e]) => e === 'up').length === 3);
    const creates = mock.calls.filter((c) => c.method === 'CreateSession').map((c) => c.args[0]);
    expect(creates).toEqual([
      { AllowedInterface: 'eth0', AllowedBearers: ['ethernet'], SourceIPRule: true },
      { AllowedInterface: 'wlan0', AllowedBearers: ['wifi'], SourceIPRule: true },
      { AllowedInterface: 'wwan0', AllowedBearers: ['cellular'], SourceIPRule: true },
    ]);
    expect(log.filter(([e]) => e === 'added').map(([, s]) => (s as { interface: string }).interface)).toEqual([
      'eth0',
      'wlan0',
      'wwan0',
    ]);
    const first = resultsOf(log, 'wlan0')[0]!;
    expect(first).toMatchObject({
      interface: 'wlan0',
      bearer: 'wifi',
      address: '198.51.100.10',
      reachable: true,
      lossRatio: 0,
      probes: 1,
      error: null,
    });
    expect(first.rttMs).toBeGreaterThanOrEqual(0);
    expect(Object.isFrozen(first)).toBe(true);
    expect([...m.uplinks.keys()]).toEqual(['eth0', 'wlan0', 'wwan0']);
    expect(m.uplinks.get('eth0')).toMatchObject({
      reachable: true,
      service: { interface: 'eth0', bearer: 'ethernet', state: 'online' },
    });
    expect(m.uplinks.get('eth0')!.session!.settings).toMatchObject({ interface: 'eth0', sourceIPRule: true });
  });

  it('computes the loss ratio over the window and emits down/up on changes only', async () => {
    const mock = new MockTransport({ uplinks: [WIFI] });
    scripts.set('wlan0', ['ok', 'fail', 'fail', 'ok', 'ok', 'ok', 'ok']);
    const m = start(mock, { window: 4 });
    const log = record(m);
    await until(() => resultsOf(log, 'wlan0').length >= 7);
    const rs = resultsOf(log, 'wlan0').slice(0, 7);
    expect(rs.map((r) => r.reachable)).toEqual([true, false, false, true, true, true, true]);
    expect(rs.map((r) => Math.round(r.lossRatio * 100) / 100)).toEqual([0, 0.5, 0.67, 0.5, 0.5, 0.25, 0]);
    expect(rs.map((r) => r.probes)).toEqual([1, 2, 3, 4, 4, 4, 4]);
    expect(rs[1]!.error?.message).toBe('wlan0: scripted failure');
    // A probe's own error arrives wrapped as an SDK error, the original kept as its cause.
    expect(rs[1]!.error).toBeInstanceOf(ProbeFailedError);
    expect(rs[1]!.error?.code).toBe('NS_ERR_PROBE_FAILED');
    expect((rs[1]!.error?.cause as Error).message).toBe('wlan0: scripted failure');
    expect(rs[1]!.rttMs).toBeNull();
    // Transitions, in order, each right after the result that caused it.
    const transitions = log
      .filter(([e]) => e === 'up' || e === 'down')
      .map(([e, r]) => [e, rs.indexOf(r as UplinkResult)]);
    expect(transitions.slice(0, 3)).toEqual([
      ['up', 0],
      ['down', 1],
      ['up', 3],
    ]);
  });

  it('counts a probe that does not finish in time as lost, with a TimeoutError', async () => {
    const mock = new MockTransport({ uplinks: [ETH] });
    scripts.set('eth0', ['hang']);
    const m = start(mock, { interval: 40, timeout: 10 });
    const [r] = (await once(m, 'down')) as [UplinkResult];
    expect(r.error).toBeInstanceOf(TimeoutError);
    expect(r.error?.message).toBe('probe timed out after 10 ms');
    expect(r).toMatchObject({ reachable: false, rttMs: null });
    const [back] = (await once(m, 'up')) as [UplinkResult];
    expect(back.lossRatio).toBe(0.5);
  });

  it('reports an uplink whose session lost its address as down with NotConnectedError', async () => {
    const mock = new MockTransport({ uplinks: [ETH] });
    const m = start(mock);
    await once(m, 'up');
    mock.sessionFor(m.uplinks.get('eth0')!.session!).goOffline();
    const [r] = (await once(m, 'down')) as [UplinkResult];
    expect(r.error).toBeInstanceOf(NotConnectedError);
    expect(r.address).toBeNull();
  });

  it('follows uplinks as they come and go', async () => {
    const mock = new MockTransport({ uplinks: [ETH, WIFI] });
    const m = start(mock);
    const log = record(m);
    await until(() => log.filter(([e]) => e === 'up').length === 2);
    const wifiSession = m.uplinks.get('wlan0')!.session!;
    mock.setUplinks([ETH, WWAN]);
    await until(() => resultsOf(log, 'wwan0').length > 0);
    expect(log.filter(([e]) => e === 'removed').map(([, s]) => (s as { interface: string }).interface)).toEqual([
      'wlan0',
    ]);
    expect(wifiSession.destroyed).toBe(true);
    expect([...m.uplinks.keys()]).toEqual(['eth0', 'wwan0']);
    const count = resultsOf(log, 'wlan0').length;
    await until(() => resultsOf(log, 'eth0').length > count + 3);
    expect(resultsOf(log, 'wlan0').length).toBe(count);
  });

  it('drops the uplinks while the daemon is gone and makes new sessions when it is back', async () => {
    const mock = new MockTransport({ uplinks: [ETH] });
    const m = start(mock);
    await once(m, 'up');
    const before = m.uplinks.get('eth0')!.session!;
    mock.stopDaemon();
    expect(before.destroyed).toBe(true);
    expect(m.uplinks.size).toBe(0);
    mock.startDaemon();
    await once(m, 'up');
    const after = m.uplinks.get('eth0')!.session!;
    expect(after).not.toBe(before);
    expect(after.destroyed).toBe(false);
  });

  it('close() destroys the sessions, stops watching and emits close; a signal does the same', async () => {
    const mock = new MockTransport({ uplinks: [ETH, WIFI] });
    const m = start(mock);
    const log = record(m);
    await until(() => log.filter(([e]) => e === 'up').length === 2);
    const sessions = [...m.uplinks.values()].map((u) => u.session!);
    await m.close();
    expect(m.closed).toBe(true);
    expect(sessions.every((s) => s.destroyed)).toBe(true);
    expect(log.at(-1)).toEqual(['close', undefined]);
    const n = log.length;
    mock.setUplinks([ETH, WIFI, WWAN]);
    await new Promise((r) => setTimeout(r, 60));
    expect(log.length).toBe(n);
    expect(m.close()).toBe(m.close());

    const ac = new AbortController();
    const m2 = start(mock, { signal: ac.signal });
    await once(m2, 'up');
    const closed = once(m2, 'close');
    ac.abort();
    await closed;
    expect(mock.liveSessions).toEqual([]);
  });

  it('probes with the built-in tcp and http probes through the session', async () => {
    const lo: MockUplink = { interface: 'lo-b', bearer: 'ethernet', ipv4: '127.0.0.2' };
    const seen: string[] = [];
    const tcp = net.createServer((c) => {
      seen.push(c.remoteAddress!);
      c.destroy();
    });
    let status = 200;
    const web = http.createServer((req, res) => {
      seen.push(req.socket.remoteAddress!);
      res.writeHead(status).end();
    });
    tcp.listen(0, '127.0.0.1');
    web.listen(0, '127.0.0.1');
    await Promise.all([once(tcp, 'listening'), once(web, 'listening')]);
    try {
      const mock = new MockTransport({ uplinks: [lo] });
      const t = monitorUplinks({
        target: `127.0.0.1:${(tcp.address() as net.AddressInfo).port}`,
        interval: 50,
        transport: mock,
      });
      monitors.push(t);
      const [rt] = (await once(t, 'result')) as [UplinkResult];
      expect(rt).toMatchObject({ reachable: true, address: '127.0.0.2' });
      await t.close();
      const h = monitorUplinks({
        target: `http://127.0.0.1:${(web.address() as net.AddressInfo).port}/health`,
        interval: 50,
        transport: mock,
      });
      monitors.push(h);
      const [rh] = (await once(h, 'result')) as [UplinkResult];
      expect(rh.reachable).toBe(true);
      status = 500;
      const [down] = (await once(h, 'down')) as [UplinkResult];
      expect(down.error?.message).toMatch(/answered 500$/);
      expect(new Set(seen)).toEqual(new Set(['127.0.0.2']));
    } finally {
      tcp.close();
      web.closeAllConnections();
      web.close();
    }
  });

  it('refuses bad options and transports that cannot list services', () => {
    const mock = new MockTransport();
    const bad: Array<[Record<string, unknown>, string]> = [
      [{}, 'target'],
      [{ target: 'example.org' }, 'target'],
      [{ target: 'example.org:0' }, 'target'],
      [{ target: '[example.org]:80' }, 'target'],
      [{ target: 'ftp://example.org/', probe: 'http' }, 'target'],
      [{ target: 'example.org:80', probe: 'icmp' }, 'probe'],
      [{ target: 'example.org:80', interval: 0 }, 'interval'],
      [{ target: 'example.org:80', interval: 100, timeout: 200 }, 'timeout'],
      [{ target: 'example.org:80', window: 1.5 }, 'window'],
      [{ target: 'example.org:80', signal: {} }, 'signal'],
      [{ target: 'example.org:80', filter: 'eth0' }, 'filter'],
      [{ target: 'example.org:80', targets: [] }, 'targets'],
    ];
    for (const [opts, option] of bad) {
      expect(() => monitorUplinks({ transport: mock, ...opts } as never), JSON.stringify(opts)).toThrow(
        expect.objectContaining({ option }),
      );
    }
    const { watchServices: _, ...partial } = {
      createSession: mock.createSession.bind(mock),
      capabilities: mock.capabilities.bind(mock),
      statistics: mock.statistics.bind(mock),
      close: mock.close.bind(mock),
      watchServices: undefined,
    };
    expect(() => monitorUplinks({ target: 'example.org:80', transport: partial as Transport })).toThrow(
      InvalidOptionError,
    );
    // '[v6]:port' and a hostname are fine.
    expect(() => monitors.push(monitorUplinks({ target: '[2001:db8::1]:443', transport: mock }))).not.toThrow();
  });

  it('monitors only the services the filter keeps', async () => {
    const mock = new MockTransport({ uplinks: [ETH, WIFI, WWAN] });
    const m = start(mock, { filter: (s) => s.bearer !== 'cellular' });
    await until(() => m.uplinks.size === 2 && [...m.uplinks.values()].every((u) => u.last !== null));
    expect([...m.uplinks.keys()]).toEqual(['eth0', 'wlan0']);
    expect(probed).not.toContain('wwan0');
  });
});

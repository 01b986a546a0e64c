/**
 * Persistent sessions (lib/session.ts, lib/restore.ts) with the MockTransport: the daemon goes
 * away and comes back.
 *
 * | input                                                   | expected                                                       |
 * |---------------------------------------------------------|----------------------------------------------------------------|
 * | daemon vanishes (SIGKILL-like), then starts again        | one 'daemon-lost', offline/interface null, not destroyed; calls reject DaemonUnavailable; back: same settings, interface/online events, 'daemon-restored' |
 * | daemon shuts down with Release                          | the same (a restart is a loss too)                              |
 * | change() before the loss                                 | made again with the changed settings                            |
 * | destroy() while waiting                                  | destroyed (null, 'destroyed'), no attempt after                 |
 * | the persistent signal aborts while waiting               | destroyed with the loss's DaemonUnavailableError ('lost')       |
 * | the returned daemon refuses the settings                 | the session ends with its error                                 |
 * | bad persistent options                                   | InvalidOptionError, nothing sent                                |
 * | retryDelay                                               | 50, 100, 200, … capped                                          |
 */
import { describe, expect, it } from 'vitest';
import {
  createSession,
  DaemonUnavailableError,
  InvalidOptionError,
  MockTransport,
  type MockUplink,
  type Session,
} from '../../../lib/index.js';
import { retryDelay } from '../../../lib/restore.js';

const cell: MockUplink = { interface: 'wwan0', bearer: 'cellular', ipv4: '203.0.113.9' };
const eth: MockUplink = { interface: 'eth0', bearer: 'ethernet', ipv4: '198.51.100.7' };

function record(s: Session): string[] {
  const log: string[] = [];
  for (const ev of [
    'state',
    'online',
    'offline',
    'interface',
    'destroyed',
    'daemon-lost',
    'daemon-restored',
  ] as const) {
    s.on(ev, (...args: unknown[]) =>
      log.push(
        `${ev}${args.length ? ` ${args.map((a) => (a instanceof Error ? (a as { code?: string }).code : String(a))).join(' ')}` : ''}`,
      ),
    );
  }
  return log;
}

const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
};

describe('persistent sessions', () => {
  it('survive the daemon vanishing: one daemon-lost, then made again with the same settings', async () => {
    const mock = new MockTransport({ uplinks: [eth, cell] });
    const s = await createSession({
      transport: mock,
      allowedBearers: ['cellular'],
      sourceIPRule: true,
      persistent: true,
    });
    const firstPath = s.path;
    const log = record(s);
    mock.stopDaemon();
    expect(s.destroyed).toBe(false);
    expect(s.state).toBe('disconnected');
    expect(log).toEqual([
      'state disconnected online',
      'offline',
      'interface null wwan0',
      'daemon-lost NS_ERR_DAEMON_UNAVAILABLE',
    ]);
    await expect(s.connect()).rejects.toBeInstanceOf(DaemonUnavailableError);
    expect(() => s.socketOptions()).toThrow(/no uplink|NotConnected|not connected/i);
    const waiting = s.waitFor('online', { timeout: 5_000 });
    await new Promise((r) => setTimeout(r, 120));
    // It kept trying while the daemon was away.
    expect(mock.calls.filter((c) => c.method === 'CreateSession').length).toBeGreaterThanOrEqual(3);
    log.length = 0;
    mock.startDaemon();
    await waiting;
    expect(s.interface).toBe('wwan0');
    expect(s.path).not.toBe(firstPath);
    expect(log).toEqual(['state online disconnected', 'online', 'interface wwan0 null', 'daemon-restored']);
    expect(mock.lastSession().request).toEqual({ AllowedBearers: ['cellular'], SourceIPRule: true });
    expect(mock.liveSessions).toHaveLength(1);
    await s.destroy();
    expect(mock.lastSession().destroyed).toBe(true);
  });

  it('a Release (the daemon shutting down) is survived the same way, with the settings changed since', async () => {
    const mock = new MockTransport({ uplinks: [eth, cell] });
    const s = await createSession({ transport: mock, persistent: true });
    await s.change({ allowedBearers: ['cellular'] });
    const lost: unknown[] = [];
    s.on('daemon-lost', (e) => lost.push(e));
    mock.stopDaemon({ release: true });
    expect(lost).toEqual([expect.objectContaining({ code: 'NS_ERR_SESSION_CLOSED', reason: 'released' })]);
    mock.startDaemon();
    await s.waitFor('online', { timeout: 2_000 });
    expect(s.interface).toBe('wwan0');
    expect(mock.lastSession().request).toEqual({ AllowedBearers: ['cellular'] });
    await s.destroy();
  });

  it('destroy() or the signal ends the wait', async () => {
    const mock = new MockTransport({ uplinks: [eth] });
    const a = await createSession({ transport: mock, persistent: true });
    const ac = new AbortController();
    const b = await createSession({ transport: mock, persistent: { signal: ac.signal, maxRetryDelay: 100 } });
    const ends: unknown[][] = [];
    a.on('destroyed', (e, r) => ends.push(['a', e, r]));
    b.on('destroyed', (e, r) => ends.push(['b', (e as { code?: string } | null)?.code, r]));
    mock.stopDaemon();
    await a.destroy();
    ac.abort();
    expect(ends).toEqual([
      ['a', null, 'destroyed'],
      ['b', 'NS_ERR_DAEMON_UNAVAILABLE', 'lost'],
    ]);
    const attempts = mock.calls.filter((c) => c.method === 'CreateSession').length;
    mock.startDaemon();
    await new Promise((r) => setTimeout(r, 150));
    expect(mock.calls.filter((c) => c.method === 'CreateSession').length).toBe(attempts);
    expect(mock.liveSessions).toHaveLength(0);
  });

  it('a returned daemon that refuses the settings ends the session with its error', async () => {
    const mock = new MockTransport({ uplinks: [eth] });
    const s = await createSession({ transport: mock, persistent: true });
    const ended = new Promise<unknown>((resolve) => s.once('destroyed', (e) => resolve(e)));
    mock.stopDaemon();
    mock.failNext('CreateSession', 'net.connman.Error.PermissionDenied');
    mock.startDaemon();
    await expect(ended).resolves.toMatchObject({ code: 'NS_ERR_PERMISSION_DENIED' });
    await until(() => s.destroyed);
  });

  it('closing the transport during the wait ends the session (transport-closed)', async () => {
    const mock = new MockTransport({ uplinks: [eth] });
    const s = await createSession({ transport: mock, persistent: { maxRetryDelay: 50 } });
    const ends: unknown[] = [];
    s.on('destroyed', (_e, reason) => ends.push(reason));
    mock.stopDaemon();
    await mock.close();
    await until(() => s.destroyed);
    expect(ends).toEqual(['transport-closed']);
  });

  it('a plain session still ends with the daemon', async () => {
    const mock = new MockTransport({ uplinks: [eth] });
    const s = await createSession({ transport: mock });
    mock.stopDaemon();
    expect(s.destroyed).toBe(true);
  });

  it('bad persistent options are refused before anything is sent', async () => {
    const mock = new MockTransport();
    await expect(createSession({ transport: mock, persistent: 'yes' as never })).rejects.toBeInstanceOf(
      InvalidOptionError,
    );
    await expect(createSession({ transport: mock, persistent: { maxRetryDelay: 1 } })).rejects.toMatchObject({
      option: 'persistent',
    });
    await expect(createSession({ transport: mock, persistent: { signal: 'x' as never } })).rejects.toMatchObject({
      option: 'persistent',
    });
    expect(mock.calls).toEqual([]);
  });

  it('backs off 50 ms doubling, capped', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 40].map((n) => retryDelay(n, 1_000))).toEqual([
      50, 100, 200, 400, 800, 1000, 1000, 1000,
    ]);
  });
});

/**
 * netsessionctl's commands end to end against the SDK's mock daemon (no bus): output, JSON
 * shapes and exit codes. The real daemon is driven in test/integration/cli.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { main } from '../../../bin/cli/main.js';
import { createSession, MockTransport, type MockTransportOptions, type Transport } from '../../../lib/index.js';

const UPLINKS = [
  { interface: 'eth-a', bearer: 'ethernet' as const, ipv4: '198.51.100.10/29' },
  { interface: 'eth-c', bearer: 'cellular' as const, ipv4: '198.51.100.26/29' },
];

/** The mock as main() sees it, minus close(): main closes its transport, the next call reuses the mock. */
function keepOpen(mock: MockTransport): Transport {
  return new Proxy(mock, {
    get(target, prop) {
      if (prop === 'close') return async () => {};
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

async function cli(argv: string[], mock: MockTransport = new MockTransport({ uplinks: UPLINKS })) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (t) => out.push(t), err: (t) => err.push(t), isTTY: false }, { transport: () => keepOpen(mock) });
  return { code, out: out.join('\n'), err, mock };
}

const mockWith = (o: MockTransportOptions) => new MockTransport({ uplinks: UPLINKS, ...o });

describe('netsessionctl against the mock daemon', () => {
  it('state, services, technologies: JSON and text', async () => {
    expect(JSON.parse((await cli(['--json', 'state'])).out)).toEqual({ state: 'online', offlineMode: false, sessionMode: false });
    const services = JSON.parse((await cli(['services', '--json'])).out) as Array<{ interface: string; state: string }>;
    expect(services.map((s) => [s.interface, s.state])).toEqual([
      ['eth-a', 'online'],
      ['eth-c', 'online'],
    ]);
    expect((await cli(['services'])).out).toMatch(/^INTERFACE +BEARER +STATE.*\neth-a +ethernet +online/);
    const techs = await cli(['technologies']);
    expect(techs.code).toBe(0);
    expect(techs.out).toContain('cellular  Cellular  yes      yes');
  });

  it('enable/disable report whether anything changed; an unknown technology is an error', async () => {
    const mock = new MockTransport({ uplinks: UPLINKS });
    expect(JSON.parse((await cli(['--json', 'disable', 'cellular'], mock)).out)).toEqual({ technology: 'cellular', powered: false, changed: true });
    expect(JSON.parse((await cli(['--json', 'disable', 'cellular'], mock)).out)).toEqual({ technology: 'cellular', powered: false, changed: false });
    expect((await cli(['enable', 'cellular'], mock)).out).toBe('cellular: enabled');
    const wifi = await cli(['enable', 'wifi'], mock);
    expect(wifi.code).toBe(1);
    expect(wifi.err).toEqual(["netsessionctl: no technology 'wifi' (the daemon has ethernet, cellular)"]);
  });

  it('offline on|off prints the resulting state', async () => {
    const mock = new MockTransport({ uplinks: UPLINKS });
    expect(JSON.parse((await cli(['--json', 'offline', 'on'], mock)).out)).toMatchObject({ state: 'offline', offlineMode: true });
    expect((await cli(['offline', 'off'], mock)).out).toContain('OfflineMode:  off');
  });

  it('sessions and stats', async () => {
    const mock = new MockTransport({ uplinks: UPLINKS });
    expect(JSON.parse((await cli(['--json', 'sessions'], mock)).out)).toEqual([]);
    const s = await createSession({ transport: mock, allowedBearers: ['cellular'] });
    mock.sessionFor(s).statistics = { rxBytes: 100n, txBytes: 200n, rxPackets: 3n, txPackets: 4n };
    const [entry] = JSON.parse((await cli(['--json', 'sessions'], mock)).out) as Array<Record<string, unknown>>;
    expect(entry).toMatchObject({ path: s.path, uid: 0, rxBytes: 100, txBytes: 200, settings: { interface: 'eth-c', state: 'online' } });
    expect(JSON.parse((await cli(['--json', 'stats', s.path], mock)).out)).toEqual({ path: s.path, rxBytes: 100, txBytes: 200, rxPackets: 3, txPackets: 4 });
    expect(JSON.parse((await cli(['--json', 'stats'], mock)).out)).toEqual([{ path: s.path, rxBytes: 100, txBytes: 200, rxPackets: 3, txPackets: 4 }]);
    await s.destroy();
  });

  it('root-only calls fail with exit 1 and the daemon\'s reason for others', async () => {
    const r = await cli(['sessions'], mockWith({ uid: 1000 }));
    expect(r.code).toBe(1);
    expect(r.err).toEqual(['netsessionctl: only root may call ListSessions']);
  });

  it('a daemon without the extension: exit 1, one line', async () => {
    const r = await cli(['stats', '/sessions/x'], mockWith({ capabilities: null }));
    expect(r.code).toBe(1);
    expect(r.err).toEqual(["netsessionctl: the daemon does not support the 'Statistics' extension"]);
  });

  it('no daemon: exit 3', async () => {
    const mock = new MockTransport({ uplinks: UPLINKS });
    mock.stopDaemon();
    const r = await cli(['state'], mock);
    expect(r.code).toBe(3);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(/^netsessionctl: the session daemon is not on the bus/);
  });

  it('usage errors: exit 2 before any call', async () => {
    const r = await cli(['session', 'create', '--bearers', 'lte']);
    expect(r.code).toBe(2);
    expect(r.err).toEqual(["netsessionctl: unknown bearer 'lte' (expected ethernet, wifi, bluetooth, cellular, gadget, vpn or *)"]);
    expect(r.mock.calls).toEqual([]);
  });

  it('session create prints the session, then its updates, until SIGINT destroys it', async () => {
    const mock = new MockTransport({ uplinks: UPLINKS });
    const out: string[] = [];
    const done = main(['--json', 'session', 'create', '--bearers', 'cellular,ethernet'], { out: (t) => out.push(t), err: () => {}, isTTY: false }, { transport: () => mock });
    while (out.length === 0) await new Promise((r) => setTimeout(r, 5));
    expect(JSON.parse(out[0]!)).toMatchObject({ event: 'session', settings: { interface: 'eth-c', allowedBearers: ['cellular', 'ethernet'] } });
    mock.setUplinks([UPLINKS[0]!]);
    expect(JSON.parse(out[1]!)).toMatchObject({ event: 'update', changes: { interface: 'eth-a', bearer: 'ethernet' } });
    // Only the listeners run: no signal is really sent to the test process.
    process.emit('SIGINT');
    expect(await done).toBe(0);
    expect(JSON.parse(out.at(-1)!)).toEqual({ event: 'end', path: mock.lastSession().path, reason: 'destroyed' });
    expect(mock.lastSession().destroyed).toBe(true);
    expect(process.listenerCount('SIGINT')).toBe(0);
  });
});

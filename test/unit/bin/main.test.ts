/**
 * netsessionctl's commands end to end against the SDK's mock daemon (no bus): output, JSON
 * shapes and exit codes. The real daemon is driven in test/integration/cli.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { main } from '../../../bin/cli/main.js';
import {
  createSession,
  fromDBusError,
  MockTransport,
  type MockTransportOptions,
  type Transport,
} from '../../../lib/index.js';
import { cli, keepOpen, UPLINKS } from '../../fakes/cli.js';

const mockWith = (o: MockTransportOptions) => new MockTransport({ uplinks: UPLINKS, ...o });

/**
 * The mock daemon plus Service.Connect / Disconnect / SetProperty('AutoConnect'), which the mock
 * does not have: connected services are kept here, refusals come as the daemon's D-Bus errors
 * through the SDK's mapping (`fail`: every service call is refused with that error).
 */
class ServiceDouble {
  readonly mock = new MockTransport({ uplinks: UPLINKS });
  readonly calls: string[] = [];
  readonly #connected = new Set(['/net/connman/service/mock_eth_a', '/net/connman/service/mock_eth_c']);

  constructor(
    readonly fail?: string,
    readonly failMessage = '',
  ) {}

  #refuse(): void {
    if (this.fail) throw fromDBusError(this.fail, this.failMessage);
  }

  async cli(argv: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const base = keepOpen(this.mock);
    const transport: Transport = Object.assign(Object.create(base) as Transport, {
      connectService: async (path: string) => {
        this.calls.push(`connect ${path}`);
        this.#refuse();
        if (this.#connected.has(path)) throw fromDBusError('net.connman.Error.AlreadyConnected', 'already connected');
        this.#connected.add(path);
      },
      disconnectService: async (path: string) => {
        this.calls.push(`disconnect ${path}`);
        this.#refuse();
        if (!this.#connected.delete(path)) throw fromDBusError('net.connman.Error.NotConnected', 'not connected');
      },
      setServiceAutoConnect: async (path: string, on: boolean) => {
        this.calls.push(`autoconnect ${path} ${on}`);
        this.#refuse();
      },
    });
    const code = await main(
      argv,
      { out: (t) => out.push(t), err: (t) => err.push(t), isTTY: false },
      { transport: () => transport },
    );
    return { code, out: out.join('\n'), err };
  }
}

describe('netsessionctl against the mock daemon', () => {
  it('state, services, technologies: JSON and text', async () => {
    expect(JSON.parse((await cli(['--json', 'state'])).out)).toEqual({
      state: 'online',
      offlineMode: false,
      sessionMode: false,
    });
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
    expect(JSON.parse((await cli(['--json', 'disable', 'cellular'], mock)).out)).toEqual({
      technology: 'cellular',
      powered: false,
      changed: true,
    });
    expect(JSON.parse((await cli(['--json', 'disable', 'cellular'], mock)).out)).toEqual({
      technology: 'cellular',
      powered: false,
      changed: false,
    });
    expect((await cli(['enable', 'cellular'], mock)).out).toBe('cellular: enabled');
    const wifi = await cli(['enable', 'wifi'], mock);
    expect(wifi.code).toBe(1);
    expect(wifi.err).toEqual(["netsessionctl: no technology 'wifi' (the daemon has ethernet, cellular)"]);
  });

  it('offline on|off prints the resulting state', async () => {
    const mock = new MockTransport({ uplinks: UPLINKS });
    expect(JSON.parse((await cli(['--json', 'offline', 'on'], mock)).out)).toMatchObject({
      state: 'offline',
      offlineMode: true,
    });
    expect((await cli(['offline', 'off'], mock)).out).toContain('OfflineMode:  off');
  });

  it('connect/disconnect name the service by interface, id or path; already in that state is changed: false', async () => {
    const d = new ServiceDouble();
    const eth = '/net/connman/service/mock_eth_a';
    expect(JSON.parse((await d.cli(['--json', 'disconnect', 'eth-a'])).out)).toEqual({
      service: eth,
      interface: 'eth-a',
      connected: false,
      changed: true,
    });
    expect(JSON.parse((await d.cli(['--json', 'disconnect', 'mock_eth_a'])).out)).toEqual({
      service: eth,
      interface: 'eth-a',
      connected: false,
      changed: false,
    });
    expect(await d.cli(['connect', eth])).toMatchObject({ code: 0, out: 'eth-a: connected', err: [] });
    expect(await d.cli(['connect', 'eth-a'])).toMatchObject({ code: 0, out: 'eth-a: already connected', err: [] });
    expect(await d.cli(['disconnect', 'eth-a'])).toMatchObject({ code: 0, out: 'eth-a: disconnected', err: [] });
    expect(d.calls).toEqual([
      `disconnect ${eth}`,
      `disconnect ${eth}`,
      `connect ${eth}`,
      `connect ${eth}`,
      `disconnect ${eth}`,
    ]);
  });

  it("autoconnect SERVICE on|off sets the service's AutoConnect", async () => {
    const d = new ServiceDouble();
    expect(JSON.parse((await d.cli(['--json', 'autoconnect', 'eth-c', 'off'])).out)).toEqual({
      service: '/net/connman/service/mock_eth_c',
      interface: 'eth-c',
      autoConnect: false,
    });
    expect(await d.cli(['autoconnect', 'eth-c', 'on'])).toMatchObject({
      code: 0,
      out: 'eth-c: autoconnect on',
      err: [],
    });
    expect(d.calls).toEqual([
      'autoconnect /net/connman/service/mock_eth_c false',
      'autoconnect /net/connman/service/mock_eth_c true',
    ]);
  });

  it('an unknown service is one line and exit 1, and nothing is sent for it', async () => {
    const d = new ServiceDouble();
    for (const argv of [
      ['connect', 'eth-x'],
      ['autoconnect', 'wifi_1_x', 'on'],
      ['--json', 'disconnect', '/net/connman/service/nope'],
    ]) {
      const r = await d.cli(argv);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(r.out).toBe('');
      expect(r.err).toEqual([
        `netsessionctl: no service '${argv.at(argv[0] === '--json' ? 2 : 1)}' (the daemon has eth-a, eth-c)`,
      ]);
    }
    expect(d.calls).toEqual([]);
  });

  it("connect, disconnect, autoconnect: the daemon's refusals (observed link, not root) are exit 1 with its reason", async () => {
    const d = new ServiceDouble('net.connman.Error.NotSupported', 'eth-c is observed, not managed');
    for (const argv of [
      ['connect', 'eth-c'],
      ['disconnect', 'eth-c'],
      ['autoconnect', 'eth-c', 'off'],
    ]) {
      expect(await d.cli(argv), argv.join(' ')).toMatchObject({
        code: 1,
        out: '',
        err: ['netsessionctl: eth-c is observed, not managed'],
      });
    }
    const user = new ServiceDouble('net.connman.Error.PermissionDenied', 'only root may call Connect');
    expect(await user.cli(['--json', 'connect', 'eth-a'])).toMatchObject({
      code: 1,
      out: '',
      err: ['netsessionctl: only root may call Connect'],
    });
  });

  it('sessions and stats', async () => {
    const mock = new MockTransport({ uplinks: UPLINKS });
    expect(JSON.parse((await cli(['--json', 'sessions'], mock)).out)).toEqual([]);
    const s = await createSession({ transport: mock, allowedBearers: ['cellular'] });
    mock.sessionFor(s).statistics = { rxBytes: 100n, txBytes: 200n, rxPackets: 3n, txPackets: 4n };
    const [entry] = JSON.parse((await cli(['--json', 'sessions'], mock)).out) as Array<Record<string, unknown>>;
    expect(entry).toMatchObject({
      path: s.path,
      uid: 0,
      rxBytes: 100,
      txBytes: 200,
      settings: { interface: 'eth-c', state: 'online' },
    });
    expect(JSON.parse((await cli(['--json', 'stats', s.path], mock)).out)).toEqual({
      path: s.path,
      rxBytes: 100,
      txBytes: 200,
      rxPackets: 3,
      txPackets: 4,
    });
    expect(JSON.parse((await cli(['--json', 'stats'], mock)).out)).toEqual([
      { path: s.path, rxBytes: 100, txBytes: 200, rxPackets: 3, txPackets: 4 },
    ]);
    await s.destroy();
  });

  it("root-only calls fail with exit 1 and the daemon's reason for others", async () => {
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
    expect(r.err[0]).toMatch(/^netsessionctl: no session daemon on the bus: is netsessiond \(or connmand\) running\?/);
  });

  it('usage errors: exit 2 before any call', async () => {
    const r = await cli(['session', 'create', '--bearers', 'lte']);
    expect(r.code).toBe(2);
    expect(r.err).toEqual([
      "netsessionctl: unknown bearer 'lte' (expected ethernet, wifi, bluetooth, cellular, gadget, vpn or *)",
    ]);
    expect(r.mock.calls).toEqual([]);
  });

  it('session create prints the session, then its updates, until SIGINT destroys it', async () => {
    const mock = new MockTransport({ uplinks: UPLINKS });
    const out: string[] = [];
    const done = main(
      ['--json', 'session', 'create', '--bearers', 'cellular,ethernet'],
      { out: (t) => out.push(t), err: () => {}, isTTY: false },
      { transport: () => mock },
    );
    while (out.length === 0) await new Promise((r) => setTimeout(r, 5));
    expect(JSON.parse(out[0]!)).toMatchObject({
      event: 'session',
      settings: { interface: 'eth-c', allowedBearers: ['cellular', 'ethernet'] },
    });
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

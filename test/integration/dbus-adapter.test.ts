/**
 * The D-Bus adapter against a real, private dbus-daemon (no network namespace: the bus socket is
 * a file in a temp dir). The bus runs Debian's system-bus default policy plus the policy file the
 * daemon ships (daemon/netsession-dbus.conf), so that file is tested too.
 *
 * The daemon behind the adapter is a TEST DOUBLE (test/integration/support/daemon-api-double.ts):
 * scripted answers, recorded calls. Clients are dbus-next connections of their own; one runs as
 * `nobody` in a child process.
 */

import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import dbus from 'dbus-next';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDBusAdapter, type DBusAdapter } from '../../daemon/adapters/dbus/index.js';
import { statisticsProps } from '../../daemon/core/statistics-schedule.js';
import {
  BUS_NAME,
  INTERFACES,
  IPV6_SIGNATURES,
  METHODS,
  NETSESSION_INTERFACE,
  NETSESSION_MANAGER_INTERFACE,
  NETSESSION_METHODS,
  NETSESSION_SIGNATURES,
  PATHS,
  SETTING_KEYS,
  SETTING_SIGNATURES,
  SIGNATURES,
  STATISTICS_KEYS,
  sessionPath,
} from '../../lib/protocol.js';
import { reachPrefix } from './harness/reach.js';
import { ScriptedDaemonApiDouble } from './support/daemon-api-double.js';
import { patchMatchRuleLeak } from './support/dbus-next-match-fix.js';
import { type PrivateBus, privateBusSkipReason, startPrivateBus } from './support/private-bus.js';

const { Message, Variant, MessageType, MessageFlag, DBusError } = dbus;
type Msg = InstanceType<typeof Message>;
type Var = InstanceType<typeof Variant>;

const CONF = fileURLToPath(new URL('../../daemon/netsession-dbus.conf', import.meta.url));
const UID_CLIENT = fileURLToPath(new URL('./support/dbus-uid-client.cjs', import.meta.url));
const ROOT_DIR = fileURLToPath(new URL('../..', import.meta.url));
const DBUS = { name: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus' };
const UNKNOWN_OBJECT = 'org.freedesktop.DBus.Error.UnknownObject';
const UNKNOWN_METHOD = 'org.freedesktop.DBus.Error.UnknownMethod';

const skipReason = privateBusSkipReason();
if (skipReason) console.warn(`dbus-adapter.test.ts: skipped, ${skipReason}`);

/** Polls until `cond` holds (no timing assertion: only a bound on how long to wait). */
async function until(cond: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** One received Update/Release, as the client saw it on the wire. */
interface Received {
  member: string;
  path: string;
  signature: string;
  flags: number;
  body: unknown[];
  at: bigint;
}

/** A raw dbus-next client on its own connection that exports Notification objects. */
class Client {
  readonly wire: Array<{ kind: 'reply' | 'error' | 'notification' | 'signal'; msg: Msg; at: bigint }> = [];
  readonly received: Received[] = [];
  readonly signals: Msg[] = [];

  private constructor(readonly bus: ReturnType<typeof dbus.sessionBus>) {
    // Wire order, recorded synchronously as messages are parsed (promise callbacks run later).
    bus.on('message', (msg: Msg) => {
      const at = process.hrtime.bigint();
      if (msg.type === MessageType.METHOD_RETURN) this.wire.push({ kind: 'reply', msg, at });
      else if (msg.type === MessageType.ERROR) this.wire.push({ kind: 'error', msg, at });
      else if (msg.type === MessageType.SIGNAL) {
        this.wire.push({ kind: 'signal', msg, at });
        if (msg.sender !== DBUS.name) this.signals.push(msg);
      } else if (msg.interface === INTERFACES.notification || msg.interface === INTERFACES.counter) {
        this.wire.push({ kind: 'notification', msg, at });
        this.received.push({
          member: msg.member,
          path: msg.path,
          signature: msg.signature,
          flags: msg.flags,
          body: msg.body,
          at,
        });
      }
    });
    // Notification and Counter objects: answered here without a reply (the daemon asked for none).
    bus.addMethodHandler(
      (msg: Msg) => msg.interface === INTERFACES.notification || msg.interface === INTERFACES.counter,
    );
  }

  static async connect(address: string): Promise<Client> {
    const bus = dbus.sessionBus({ busAddress: address });
    await new Promise<void>((resolve, reject) => {
      bus.once('connect', resolve);
      bus.once('error', reject);
    });
    bus.on('error', () => {});
    patchMatchRuleLeak(bus);
    return new Client(bus);
  }

  get name(): string {
    return (this.bus as unknown as { name: string }).name;
  }

  /** Sends a call; resolves with the reply message (errors reject as DBusError). */
  call(
    path: string,
    iface: string,
    member: string,
    signature = '',
    body: unknown[] = [],
    destination: string = BUS_NAME,
  ): Promise<Msg> {
    return this.bus.call(new Message({ destination, path, interface: iface, member, signature, body })) as Promise<Msg>;
  }

  /** Sends a call and returns the serial (for ordering checks on `wire`). */
  send(
    path: string,
    iface: string,
    member: string,
    signature: string,
    body: unknown[],
  ): { serial: number; reply: Promise<Msg> } {
    const msg = new Message({ destination: BUS_NAME, path, interface: iface, member, signature, body });
    const reply = this.bus.call(msg) as Promise<Msg>;
    return { serial: msg.serial!, reply };
  }

  async error(p: Promise<unknown>): Promise<{ type: string; text: string }> {
    try {
      await p;
    } catch (err) {
      if (err instanceof DBusError) return { type: err.type, text: err.text };
      throw err;
    }
    throw new Error('expected a D-Bus error reply');
  }

  createSession(settings: Record<string, Var>, notifier: string) {
    return this.send(PATHS.manager, INTERFACES.manager, METHODS.manager.CreateSession, SIGNATURES.CreateSession.in, [
      settings,
      notifier,
    ]);
  }

  bus_(member: string, signature = '', body: unknown[] = [], iface = DBUS.name): Promise<Msg> {
    return this.call(DBUS.path, iface, member, signature, body, DBUS.name);
  }

  updatesFor(notifier: string): Received[] {
    return this.received.filter((r) => r.path === notifier && r.member === METHODS.notification.Update);
  }

  close(): void {
    this.bus.disconnect();
  }
}

/** `a{sv}` as [key, signature] pairs, nested dicts expanded one level. */
function signaturesOf(dict: Record<string, Var>): Record<string, string> {
  return Object.fromEntries(Object.entries(dict).map(([k, v]) => [k, v.signature]));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const listNames = async (c: Client) => (await c.bus_('ListNames')).body[0] as string[];

/** Runs `connect` and returns the unique name of the bus connection that appears after it. */
async function connectionAppearing(c: Client, connect: () => void): Promise<string> {
  const before = new Set(await listNames(c));
  connect();
  for (let i = 0; i < 500; i++) {
    const unique = (await listNames(c)).find((n) => n.startsWith(':') && !before.has(n));
    if (unique !== undefined) return unique;
    await sleep(10);
  }
  throw new Error('no new connection appeared on the bus');
}

describe.skipIf(skipReason !== null)('D-Bus adapter on a private dbus-daemon', () => {
  let bus: PrivateBus;
  let api: ScriptedDaemonApiDouble;
  let adapter: DBusAdapter;
  let client: Client;
  let daemonName = '';
  const logs: Array<[string, string]> = [];
  let statsAvailable: string | null = null;

  beforeAll(async () => {
    bus = await startPrivateBus({ policy: 'system', include: [CONF] });
    api = new ScriptedDaemonApiDouble();
    adapter = createDBusAdapter({ busAddress: bus.address, log: (level, msg) => logs.push([level, msg]) });
    api.events = adapter.events;
    await adapter.start(api);
    client = await Client.connect(bus.address);
    daemonName = (await client.bus_('GetNameOwner', 's', [BUS_NAME])).body[0] as string;
    try {
      await client.bus_('GetConnectionStats', 's', [daemonName], 'org.freedesktop.DBus.Debug.Stats');
    } catch (err) {
      statsAvailable = `org.freedesktop.DBus.Debug.Stats is not available on this dbus-daemon (${(err as Error).message})`;
    }
  });

  afterAll(async () => {
    client?.close();
    await adapter?.stop();
    await bus?.stop();
  });

  it('owns net.connman; a second daemon fails to start with a clear error', async () => {
    expect(daemonName).toMatch(/^:/);
    const second = createDBusAdapter({ busAddress: bus.address });
    await expect(second.start(new ScriptedDaemonApiDouble())).rejects.toThrow(/net\.connman is already owned/);
    await second.stop();
  });

  it('connect() shakes hands with the bus before start(), which then owns the name on that connection', async () => {
    const other = await startPrivateBus({ policy: 'system', include: [CONF] });
    const watcher = await Client.connect(other.address);
    const early = createDBusAdapter({ busAddress: other.address });
    try {
      const unique = await connectionAppearing(watcher, () => early.connect());
      expect(unique).toMatch(/^:/);
      expect(await listNames(watcher)).not.toContain(BUS_NAME);
      await early.start(new ScriptedDaemonApiDouble());
      expect((await watcher.bus_('GetNameOwner', 's', [BUS_NAME])).body[0]).toBe(unique);
    } finally {
      await early.stop();
      watcher.close();
      await other.stop();
    }
  });

  it('a connect() that fails surfaces from start(); a stop() before start() closes the early connection', async () => {
    const nowhere = createDBusAdapter({ busAddress: 'unix:path=/nonexistent/netsession-test-bus' });
    nowhere.connect();
    await expect(nowhere.start(new ScriptedDaemonApiDouble())).rejects.toThrow(/cannot connect to the bus/);
    await nowhere.stop();

    const abandoned = createDBusAdapter({ busAddress: bus.address });
    const unique = await connectionAppearing(client, () => abandoned.connect());
    expect(unique).toMatch(/^:/);
    await abandoned.stop();
    for (let i = 0; i < 500 && (await listNames(client)).includes(unique); i++) await sleep(10);
    expect(await listNames(client)).not.toContain(unique);
  });

  it('CreateSession(a{sv}, o) returns the session path; the reply precedes the first Update', async () => {
    const notifier = '/app/first';
    const { serial, reply } = client.createSession(
      { AllowedBearers: new Variant('as', ['ethernet', 'wifi']), ConnectionType: new Variant('s', 'internet') },
      notifier,
    );
    const r = await reply;
    expect(r.signature).toBe(SIGNATURES.CreateSession.out);
    const path = r.body[0] as string;
    expect(path).toBe(sessionPath(client.name, notifier));
    await until(() => client.updatesFor(notifier).length === 1, 'the first Update');

    const replyAt = client.wire.findIndex((w) => w.kind === 'reply' && Number(w.msg.replySerial) === serial);
    const updateAt = client.wire.findIndex((w) => w.kind === 'notification' && w.msg.path === notifier);
    expect(replyAt).toBeGreaterThanOrEqual(0);
    expect(updateAt).toBeGreaterThan(replyAt);

    const call = api.callsOf('createSession').at(-1)!;
    expect(call.args[0]).toEqual({
      AllowedBearers: { signature: 'as', value: ['ethernet', 'wifi'] },
      ConnectionType: { signature: 's', value: 'internet' },
    });
    expect(call.args[1]).toBe(notifier);
  });

  it('the first Update has every key with ConnMan signatures, nested a{sv} and y, sent NO_REPLY_EXPECTED', () => {
    const [u] = client.updatesFor('/app/first');
    expect(u!.signature).toBe(SIGNATURES.Update.in);
    expect(u!.flags & MessageFlag.NO_REPLY_EXPECTED).toBeTruthy();
    const dict = u!.body[0] as Record<string, Var>;
    expect(Object.keys(dict)).toEqual(SETTING_KEYS);
    expect(signaturesOf(dict)).toEqual(SETTING_SIGNATURES);
    const v6 = dict.IPv6!.value as Record<string, Var>;
    expect(signaturesOf(v6)).toEqual(IPV6_SIGNATURES);
    expect(v6.PrefixLength!.value).toBe(64);
    expect((dict.IPv4!.value as Record<string, Var>).Address!.value).toBe('198.51.100.2');
    expect(dict.AllowedBearers!.value).toEqual(['ethernet', 'wifi']);
  });

  it("the caller's uid, gids and pid reach the api (root client)", () => {
    const caller = api.callsOf('createSession').at(-1)!.caller!;
    expect(caller).toMatchObject({ sender: client.name, uid: 0, pid: process.pid });
    expect(caller.gids).toContain(0);
  });

  it('the reply still comes first when the api sends the Update before answering', async () => {
    api.firstUpdate = 'eager';
    try {
      const notifier = '/app/eager';
      const { serial, reply } = client.createSession({}, notifier);
      await reply;
      await until(() => client.updatesFor(notifier).length === 1, 'the eager Update');
      const replyAt = client.wire.findIndex((w) => w.kind === 'reply' && Number(w.msg.replySerial) === serial);
      const updateAt = client.wire.findIndex((w) => w.kind === 'notification' && w.msg.path === notifier);
      expect(updateAt).toBeGreaterThan(replyAt);
    } finally {
      api.firstUpdate = 'deferred';
    }
  });

  it('DaemonErrors arrive under their ConnMan names; other errors as Failed', async () => {
    const bad = await client.error(
      client.createSession({ AllowedBearers: new Variant('as', ['foo']) }, '/app/bad').reply,
    );
    expect(bad.type).toBe('net.connman.Error.InvalidArguments');
    expect(bad.text).toContain("unknown bearer 'foo'");
    expect((await client.error(client.createSession({ Bogus: new Variant('b', true) }, '/app/bad').reply)).type).toBe(
      'net.connman.Error.InvalidArguments',
    );
    expect((await client.error(client.createSession({}, '/app/first').reply)).type).toBe(
      'net.connman.Error.AlreadyExists',
    );
    const boom = await client.error(client.createSession({}, '/boom').reply);
    expect(boom).toEqual({ type: 'net.connman.Error.Failed', text: 'internal error: scripted bug in the daemon' });
    expect(logs.some(([level, msg]) => level === 'error' && msg.includes('scripted bug'))).toBe(true);
    const destroyUnknown = await client.error(
      client.call(PATHS.manager, INTERFACES.manager, METHODS.manager.DestroySession, SIGNATURES.DestroySession.in, [
        '/sessions/nope',
      ]),
    );
    expect(destroyUnknown.type).toBe('net.connman.Error.InvalidArguments');
    const prop = await client.error(
      client.call(PATHS.manager, INTERFACES.manager, METHODS.manager.SetProperty, SIGNATURES.SetProperty.in, [
        'Bogus',
        new Variant('b', true),
      ]),
    );
    expect(prop.type).toBe('net.connman.Error.InvalidProperty');
  });

  it('counter calls reach the daemon and map its errors; Usage reaches the client without a reply; agents are no-ops', async () => {
    const register = () =>
      client.call(PATHS.manager, INTERFACES.manager, METHODS.manager.RegisterCounter, SIGNATURES.RegisterCounter.in, [
        '/c',
        1,
        10,
      ]);
    expect((await register()).type).toBe(MessageType.METHOD_RETURN);
    expect(api.callsOf('registerCounter').at(-1)).toMatchObject({
      caller: { sender: client.name, uid: 0 },
      args: ['/c', 1, 10],
    });
    expect((await client.error(register())).type).toBe('net.connman.Error.AlreadyExists');

    adapter.events.counterUsage(
      client.name,
      '/c',
      '/net/connman/service/ethernet_02aabbccdd01_cable',
      { 'RX.Bytes': { signature: 'u', value: 5 } },
      {},
    );
    await until(() => client.received.some((r) => r.member === METHODS.counter.Usage), 'the Usage call');
    const usage = client.received.find((r) => r.member === METHODS.counter.Usage)!;
    expect(usage).toMatchObject({ path: '/c', signature: SIGNATURES.Usage.in });
    expect(usage.flags & MessageFlag.NO_REPLY_EXPECTED).toBeTruthy();
    const [service, home, roaming] = usage.body as [string, Record<string, Var>, Record<string, Var>];
    expect(service).toBe('/net/connman/service/ethernet_02aabbccdd01_cable');
    expect(signaturesOf(home)).toEqual({ 'RX.Bytes': 'u' });
    expect(home['RX.Bytes']!.value).toBe(5);
    expect(roaming).toEqual({});

    const unregister = () =>
      client.call(
        PATHS.manager,
        INTERFACES.manager,
        METHODS.manager.UnregisterCounter,
        SIGNATURES.UnregisterCounter.in,
        ['/c'],
      );
    expect((await unregister()).type).toBe(MessageType.METHOD_RETURN);
    expect((await client.error(unregister())).type).toBe('net.connman.Error.NotRegistered');
    const reset = await client.call(
      '/net/connman/service/ethernet_02aabbccdd01_cable',
      INTERFACES.service,
      METHODS.service.ResetCounters,
    );
    expect(reset.type).toBe(MessageType.METHOD_RETURN);
    expect(api.callsOf('serviceResetCounters').at(-1)!.args).toEqual(['ethernet_02aabbccdd01_cable']);
    expect((await client.call(PATHS.manager, INTERFACES.manager, 'RegisterAgent', 'o', ['/agent'])).type).toBe(
      MessageType.METHOD_RETURN,
    );
    expect((await client.call(PATHS.manager, INTERFACES.manager, 'UnregisterAgent', 'o', ['/agent'])).type).toBe(
      MessageType.METHOD_RETURN,
    );
  });

  it('a wrong input signature gets UnknownMethod (as libdbus/gdbus answer for connmand)', async () => {
    const e = await client.error(
      client.call(PATHS.manager, INTERFACES.manager, METHODS.manager.CreateSession, 's', ['x']),
    );
    expect(e.type).toBe(UNKNOWN_METHOD);
    expect(e.text).toContain('with signature "s"');
    expect((await client.error(client.call(PATHS.manager, INTERFACES.manager, 'NoSuchMethod'))).type).toBe(
      UNKNOWN_METHOD,
    );
  });

  it('Session.Change sends its Update before the reply; Connect/Disconnect reach the api', async () => {
    const path = sessionPath(client.name, '/app/first');
    const before = client.updatesFor('/app/first').length;
    const { serial, reply } = client.send(path, INTERFACES.session, METHODS.session.Change, SIGNATURES.Change.in, [
      'AllowedBearers',
      new Variant('as', ['wifi']),
    ]);
    await reply;
    const updateAt = client.wire.map((w) => w.kind === 'notification' && w.msg.path === '/app/first').lastIndexOf(true);
    const replyAt = client.wire.findIndex((w) => w.kind === 'reply' && Number(w.msg.replySerial) === serial);
    expect(client.updatesFor('/app/first').length).toBe(before + 1);
    expect(updateAt).toBeLessThan(replyAt);
    expect(api.callsOf('sessionChange').at(-1)!.args).toEqual([
      path,
      'AllowedBearers',
      { signature: 'as', value: ['wifi'] },
    ]);
    const changed = (client.updatesFor('/app/first').at(-1)!.body[0] as Record<string, Var>).AllowedBearers!;
    expect(changed.signature).toBe('as');
    expect(changed.value).toEqual(['wifi']);

    await client.call(path, INTERFACES.session, METHODS.session.Connect);
    await client.call(path, INTERFACES.session, METHODS.session.Disconnect);
    expect(api.callsOf('sessionConnect').at(-1)!.args).toEqual([path]);
    expect(api.callsOf('sessionDisconnect').at(-1)!.args).toEqual([path]);
    const wrongKey = await client.error(
      client.call(path, INTERFACES.session, METHODS.session.Change, SIGNATURES.Change.in, [
        'State',
        new Variant('s', 'online'),
      ]),
    );
    expect(wrongKey.type).toBe('net.connman.Error.InvalidArguments');
  });

  it('Introspect describes /, a session and the tree; dbus-next proxies can use it', async () => {
    const root = (await client.call(PATHS.manager, 'org.freedesktop.DBus.Introspectable', 'Introspect'))
      .body[0] as string;
    expect(root).toContain(`<interface name="${INTERFACES.manager}">`);
    expect(root).toContain(`<interface name="${NETSESSION_MANAGER_INTERFACE}">`);
    expect(root).toContain(
      '<method name="CreateSession"><arg name="settings" type="a{sv}" direction="in"/><arg name="notifier" type="o" direction="in"/><arg name="session" type="o" direction="out"/></method>',
    );
    expect(root).toContain(
      '<signal name="ServicesChanged"><arg name="changed" type="a(oa{sv})"/><arg name="removed" type="ao"/></signal>',
    );
    expect(root).toContain('<node name="net"/>');
    expect(root).toContain('<node name="sessions"/>');

    const path = sessionPath(client.name, '/app/first');
    const xml = (await client.call(path, 'org.freedesktop.DBus.Introspectable', 'Introspect')).body[0] as string;
    expect(xml).toContain(`<interface name="${INTERFACES.session}">`);
    expect(xml).toContain(`<interface name="${NETSESSION_INTERFACE}">`);
    expect(xml).not.toContain(INTERFACES.manager);

    const sessions = (await client.call(PATHS.sessionPrefix, 'org.freedesktop.DBus.Introspectable', 'Introspect'))
      .body[0] as string;
    expect(sessions).toContain(`<node name="${client.name.replace(/[:.]/g, '_')}"/>`);
    expect(sessions).not.toContain('<interface');

    const proxy = await client.bus.getProxyObject(BUS_NAME, path);
    expect(Object.keys(proxy.interfaces)).toEqual(expect.arrayContaining([INTERFACES.session, NETSESSION_INTERFACE]));
    const mgr = await client.bus.getProxyObject(BUS_NAME, PATHS.manager);
    const props = (await mgr.getInterface(INTERFACES.manager).GetProperties!()) as Record<string, Var>;
    expect(props.State!.value).toBe('online');
  });

  it('Destroy unexports the session: later calls get UnknownObject (as connmand)', async () => {
    const notifier = '/app/doomed';
    const path = (await client.createSession({}, notifier).reply).body[0] as string;
    await client.call(path, INTERFACES.session, METHODS.session.Destroy);
    expect(api.sessions.has(path)).toBe(false);
    const again = await client.error(client.call(path, INTERFACES.session, METHODS.session.Destroy));
    expect(again.type).toBe(UNKNOWN_OBJECT);
    expect(
      (await client.error(client.call(path, NETSESSION_INTERFACE, NETSESSION_METHODS.session.GetStatistics))).type,
    ).toBe(UNKNOWN_OBJECT);
    // Manager.DestroySession goes the same way.
    const p2 = (await client.createSession({}, '/app/doomed2').reply).body[0] as string;
    await client.call(PATHS.manager, INTERFACES.manager, METHODS.manager.DestroySession, SIGNATURES.DestroySession.in, [
      p2,
    ]);
    expect((await client.error(client.call(p2, INTERFACES.session, METHODS.session.Connect))).type).toBe(
      UNKNOWN_OBJECT,
    );
  });

  it('Manager, Service and Technology methods have ConnMan signatures', async () => {
    const props = await client.call(PATHS.manager, INTERFACES.manager, METHODS.manager.GetProperties);
    expect(props.signature).toBe(SIGNATURES.GetProperties.out);
    expect(signaturesOf(props.body[0] as Record<string, Var>)).toEqual({
      State: 's',
      OfflineMode: 'b',
      SessionMode: 'b',
    });

    await client.call(PATHS.manager, INTERFACES.manager, METHODS.manager.SetProperty, SIGNATURES.SetProperty.in, [
      'SessionMode',
      new Variant('b', true),
    ]);
    const set = api.callsOf('setManagerProperty').at(-1)!;
    expect(set.args).toEqual(['SessionMode', { signature: 'b', value: true }]);
    expect(set.caller!.uid).toBe(0);

    const services = await client.call(PATHS.manager, INTERFACES.manager, METHODS.manager.GetServices);
    expect(services.signature).toBe(SIGNATURES.GetServices.out);
    const list = services.body[0] as Array<[string, Record<string, Var>]>;
    expect(list.map(([p]) => p)).toEqual(api.services_.map((s) => s.path));
    expect(signaturesOf(list[0]![1])).toMatchObject({ Type: 's', State: 's', Ethernet: 'a{sv}', Nameservers: 'as' });
    expect((list[0]![1].Ethernet!.value as Record<string, Var>).MTU!.signature).toBe('q');

    const techs = await client.call(PATHS.manager, INTERFACES.manager, METHODS.manager.GetTechnologies);
    expect(techs.signature).toBe(SIGNATURES.GetTechnologies.out);
    expect((techs.body[0] as Array<[string]>).map(([p]) => p)).toEqual(['/net/connman/technology/ethernet']);

    const svcPath = api.services_[0]!.path;
    const svc = await client.call(svcPath, INTERFACES.service, METHODS.service.GetProperties);
    expect(svc.signature).toBe('a{sv}');
    expect(api.callsOf('serviceProperties').at(-1)!.args).toEqual(['ethernet_02aabbccdd01_cable']);
    await client.call(svcPath, INTERFACES.service, METHODS.service.Connect);
    expect(api.callsOf('serviceConnect').at(-1)!.args).toEqual(['ethernet_02aabbccdd01_cable']);

    const tech = await client.call(
      '/net/connman/technology/ethernet',
      INTERFACES.technology,
      METHODS.technology.GetProperties,
    );
    expect(signaturesOf(tech.body[0] as Record<string, Var>)).toEqual({
      Name: 's',
      Type: 's',
      Powered: 'b',
      Connected: 'b',
      Tethering: 'b',
    });
    await client.call(
      '/net/connman/technology/ethernet',
      INTERFACES.technology,
      METHODS.technology.SetProperty,
      SIGNATURES.SetProperty.in,
      ['Powered', new Variant('b', true)],
    );
    expect(api.callsOf('setTechnologyProperty').at(-1)!.args).toEqual([
      'ethernet',
      'Powered',
      { signature: 'b', value: true },
    ]);

    expect(
      (await client.error(client.call('/net/connman/service/nope', INTERFACES.service, METHODS.service.GetProperties)))
        .type,
    ).toBe(UNKNOWN_OBJECT);
  });

  it('signals: PropertyChanged, ServicesChanged, TechnologyAdded/Removed carry ConnMan signatures; objects follow', async () => {
    await client.bus_('AddMatch', 's', [`type='signal',sender='${BUS_NAME}'`]);
    const from = client.signals.length;
    const ev = adapter.events;
    const newSvc = '/net/connman/service/ethernet_02aabbccdd03_cable';
    ev.managerPropertyChanged('State', { signature: 's', value: 'ready' });
    ev.servicesChanged(
      [
        { path: newSvc, props: { State: { signature: 's', value: 'ready' } } },
        { path: api.services_[0]!.path, props: null },
      ],
      [api.services_[1]!.path],
    );
    ev.servicePropertyChanged('ethernet_02aabbccdd03_cable', 'State', { signature: 's', value: 'online' });
    ev.technologyAdded('/net/connman/technology/wifi', { Type: { signature: 's', value: 'wifi' } });
    ev.technologyPropertyChanged('/net/connman/technology/wifi', 'Powered', { signature: 'b', value: false });
    ev.technologyRemoved('/net/connman/technology/wifi');
    await until(() => client.signals.length >= from + 6, 'six signals');
    const got = client.signals.slice(from).map((m) => [m.path, m.interface, m.member, m.signature]);
    expect(got).toEqual([
      ['/', INTERFACES.manager, 'PropertyChanged', SIGNATURES.PropertyChanged],
      ['/', INTERFACES.manager, 'ServicesChanged', SIGNATURES.ServicesChanged],
      [newSvc, INTERFACES.service, 'PropertyChanged', SIGNATURES.PropertyChanged],
      ['/', INTERFACES.manager, 'TechnologyAdded', SIGNATURES.TechnologyAdded],
      ['/net/connman/technology/wifi', INTERFACES.technology, 'PropertyChanged', SIGNATURES.PropertyChanged],
      ['/', INTERFACES.manager, 'TechnologyRemoved', SIGNATURES.TechnologyRemoved],
    ]);
    const changed = client.signals[from + 1]!.body as [Array<[string, Record<string, Var>]>, string[]];
    expect(changed[0].map(([p]) => p)).toEqual([newSvc, api.services_[0]!.path]);
    expect(changed[0][1]![1]).toEqual({});
    expect(changed[1]).toEqual([api.services_[1]!.path]);

    // Object table follows the events: the removed service is gone, the new one answers.
    expect(
      (await client.error(client.call(api.services_[1]!.path, INTERFACES.service, METHODS.service.GetProperties))).type,
    ).toBe(UNKNOWN_OBJECT);
    expect((await client.error(client.call(newSvc, INTERFACES.service, METHODS.service.GetProperties))).type).toBe(
      'net.connman.Error.NotFound',
    );
    expect(
      (
        await client.error(
          client.call('/net/connman/technology/wifi', INTERFACES.technology, METHODS.technology.GetProperties),
        )
      ).type,
    ).toBe(UNKNOWN_OBJECT);
  });

  it('extension interfaces: ListSessions, GetCapabilities, GetStatistics (t), ResetStatistics', async () => {
    const list = await client.call(
      PATHS.manager,
      NETSESSION_MANAGER_INTERFACE,
      NETSESSION_METHODS.manager.ListSessions,
    );
    expect(list.signature).toBe('a(oa{sv})');
    const entries = list.body[0] as Array<[string, Record<string, Var>]>;
    const mine = entries.find(([p]) => p === sessionPath(client.name, '/app/first'))!;
    expect(signaturesOf(mine[1])).toEqual({ Owner: 's', UID: 'u', Settings: 'a{sv}', 'RX.Bytes': 't' });
    expect(mine[1]['RX.Bytes']!.value).toBe(2n ** 40n + 1n);

    const caps = await client.call(
      PATHS.manager,
      NETSESSION_MANAGER_INTERFACE,
      NETSESSION_METHODS.manager.GetCapabilities,
    );
    expect(caps.signature).toBe('as');
    expect(caps.body[0]).toEqual(['ListSessions', 'Statistics']);

    const path = sessionPath(client.name, '/app/first');
    const stats = await client.call(path, NETSESSION_INTERFACE, NETSESSION_METHODS.session.GetStatistics);
    const dict = stats.body[0] as Record<string, Var>;
    expect(Object.keys(dict)).toEqual(Object.values(STATISTICS_KEYS));
    expect(signaturesOf(dict)).toEqual({ 'RX.Bytes': 't', 'TX.Bytes': 't', 'RX.Packets': 't', 'TX.Packets': 't' });
    expect(dict['RX.Bytes']!.value).toBe(2n ** 40n + 1n);
    await client.call(path, NETSESSION_INTERFACE, NETSESSION_METHODS.session.ResetStatistics);
    expect(api.callsOf('resetStatistics').at(-1)!.args).toEqual([path]);
  });

  it('SetStatisticsInterval(u) reaches the api; Statistics(a{sv}, t values) goes to the subscriber only', async () => {
    const M = NETSESSION_METHODS.session;
    const path = sessionPath(client.name, '/app/first');
    await client.call(
      path,
      NETSESSION_INTERFACE,
      M.SetStatisticsInterval,
      NETSESSION_SIGNATURES.SetStatisticsInterval.in,
      [5],
    );
    const set = api.callsOf('setStatisticsInterval').at(-1)!;
    expect(set.args).toEqual([path, 5]);
    expect(set.caller!.sender).toBe(client.name);
    const bad = await client.error(client.call(path, NETSESSION_INTERFACE, M.SetStatisticsInterval, 'u', [3601]));
    expect(bad.type).toBe('net.connman.Error.InvalidArguments');
    const xml = (await client.call(path, 'org.freedesktop.DBus.Introspectable', 'Introspect')).body[0] as string;
    expect(xml).toContain('<signal name="Statistics"><arg name="statistics" type="a{sv}"/></signal>');

    // Another client listening to every such signal must not see the subscriber's figures.
    const other = await Client.connect(bus.address);
    try {
      await other.bus_('AddMatch', 's', [`type='signal',interface='${NETSESSION_INTERFACE}'`]);
      await client.bus_('AddMatch', 's', [
        `type='signal',sender='${daemonName}',path='${path}',interface='${NETSESSION_INTERFACE}',member='Statistics'`,
      ]);
      const from = client.signals.length;
      adapter.events.sessionStatistics(client.name, path, statisticsProps(api.stats));
      await until(() => client.signals.slice(from).some((m) => m.member === 'Statistics'), 'the Statistics signal');
      const sig = client.signals.slice(from).find((m) => m.member === 'Statistics')!;
      expect(sig).toMatchObject({
        type: MessageType.SIGNAL,
        path,
        interface: NETSESSION_INTERFACE,
        signature: 'a{sv}',
        destination: client.name,
        sender: daemonName,
      });
      const dict = sig.body[0] as Record<string, Var>;
      expect(Object.keys(dict)).toEqual(Object.values(STATISTICS_KEYS));
      expect(signaturesOf(dict)).toEqual({ 'RX.Bytes': 't', 'TX.Bytes': 't', 'RX.Packets': 't', 'TX.Packets': 't' });
      expect(dict['RX.Bytes']!.value).toBe(2n ** 40n + 1n);
      // The bus queued any copy for `other` when it routed the signal, so before this reply.
      await other.bus_('GetId');
      expect(other.signals.filter((m) => m.member === 'Statistics')).toEqual([]);
    } finally {
      other.close();
    }
  });

  it('a client leaving the bus triggers clientGone(its unique name), after its pending call is answered', async () => {
    const other = await Client.connect(bus.address);
    const name = other.name;
    const path = (await other.createSession({}, '/other/n').reply).body[0] as string;
    expect(api.sessions.has(path)).toBe(true);
    // A create still waiting (slow policy) when the client leaves: clientGone must come after it.
    let release!: () => void;
    api.createDelay = new Promise<void>((r) => (release = r));
    try {
      const pending = other.createSession({}, '/other/late');
      pending.reply.catch(() => {});
      await until(
        () => api.callsOf('createSession').some((c) => c.args[1] === '/other/late'),
        'the late create to reach the api',
      );
      other.close();
      await new Promise((r) => setTimeout(r, 50));
      expect(api.callsOf('clientGone').map((c) => c.args[0])).not.toContain(name);
    } finally {
      api.createDelay = null;
      release();
    }
    await until(() => api.callsOf('clientGone').some((c) => c.args[0] === name), 'clientGone');
    expect(api.sessions.has(path)).toBe(false);
    expect(api.sessions.has(sessionPath(name, '/other/late'))).toBe(false);
    expect((await client.error(client.call(path, INTERFACES.session, METHODS.session.Connect))).type).toBe(
      UNKNOWN_OBJECT,
    );
    // getCaller for a departed client asks the bus again (the cache was dropped) and fails.
    await expect(adapter.getCaller(name)).rejects.toThrow();
  });

  it('a client running as nobody (uid 65534) is allowed by the policy file and identified correctly', async (ctx) => {
    if (process.getuid?.() !== 0) {
      console.warn('nobody-client test skipped: needs root to start a process as uid 65534');
      ctx.skip();
      return;
    }
    const notifier = '/nobody/n1';
    const cfg = {
      address: bus.address,
      busName: BUS_NAME,
      notifier,
      managerInterface: INTERFACES.manager,
      extensionInterface: NETSESSION_MANAGER_INTERFACE,
      notificationInterface: INTERFACES.notification,
      createSession: METHODS.manager.CreateSession,
      destroySession: METHODS.manager.DestroySession,
      listSessions: NETSESSION_METHODS.manager.ListSessions,
    };
    // As nobody, through setpriv (exec in place: the pid stays the client's), with the checkout
    // reachable even under a 0700 directory (harness/reach.ts).
    const argv = [
      ...reachPrefix(),
      'setpriv',
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      '--',
      process.execPath,
      UID_CLIENT,
      JSON.stringify(cfg),
    ];
    const child: ChildProcessWithoutNullStreams = spawn(argv[0]!, argv.slice(1), {
      cwd: ROOT_DIR,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const events: Array<Record<string, unknown>> = [];
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    createInterface({ input: child.stdout }).on('line', (l) => events.push(JSON.parse(l) as Record<string, unknown>));
    const ev = (name: string) => events.find((e) => e.ev === name);
    try {
      await until(
        () => Boolean(ev('created') && ev('Update')),
        `the nobody client to create a session (stderr: ${stderr})`,
        10_000,
      );
      const ready = ev('ready')!;
      expect(ready.uid).toBe(65534);
      expect(ev('created')).toMatchObject({ ok: true, body: [sessionPath(ready.name as string, notifier)] });
      expect(ev('Update')).toMatchObject({ signature: 'a{sv}', noReply: true, state: 'online' });
      const call = api.callsOf('createSession').find((c) => c.caller?.sender === ready.name)!;
      expect(call.caller).toMatchObject({ uid: 65534, pid: child.pid });
      expect(call.caller!.gids).toContain(65534);

      // Ownership and root-only checks use that identity.
      child.stdin.write(`destroy ${sessionPath(client.name, '/app/first')}\n`);
      child.stdin.write('list\n');
      await until(() => Boolean(ev('destroyed') && ev('listed')), 'the nobody client to try destroy and list');
      expect(ev('destroyed')).toMatchObject({ ok: false, name: 'net.connman.Error.PermissionDenied' });
      expect(ev('listed')).toMatchObject({ ok: false, name: 'net.connman.Error.PermissionDenied' });
      expect(api.sessions.has(sessionPath(client.name, '/app/first'))).toBe(true);
    } finally {
      child.stdin.write('exit\n');
      await new Promise((r) => (child.exitCode === null ? child.once('exit', r) : r(null)));
    }
  });

  it('300 Updates sent back-to-back all arrive (NO_REPLY_EXPECTED: no 128 pending-reply limit)', async () => {
    const notifier = '/app/burst';
    await client.createSession({}, notifier).reply;
    await until(() => client.updatesFor(notifier).length === 1, 'the first Update');
    const errorsBefore = client.wire.filter((w) => w.kind === 'error').length;
    for (let i = 0; i < 300; i++)
      adapter.events.update(client.name, notifier, {
        State: { signature: 's', value: i % 2 ? 'online' : 'connected' },
      });
    await until(() => client.updatesFor(notifier).length === 301, '300 Updates');
    const burst = client.updatesFor(notifier).slice(1);
    expect(burst.every((u) => u.flags & MessageFlag.NO_REPLY_EXPECTED)).toBe(true);
    expect(burst.map((u) => (u.body[0] as Record<string, Var>).State!.value)).toEqual(
      Array.from({ length: 300 }, (_, i) => (i % 2 ? 'online' : 'connected')),
    );
    expect(logs.filter(([, m]) => m.includes('LimitsExceeded'))).toEqual([]);
    expect(client.wire.filter((w) => w.kind === 'error').length).toBe(errorsBefore);
  });

  it('Release goes to the notifier with NO_REPLY_EXPECTED', async () => {
    adapter.events.release(client.name, '/app/burst');
    await until(() => client.received.some((r) => r.member === METHODS.notification.Release), 'Release');
    const r = client.received.find((x) => x.member === METHODS.notification.Release)!;
    expect(r.path).toBe('/app/burst');
    expect(r.flags & MessageFlag.NO_REPLY_EXPECTED).toBeTruthy();
  });

  it('no match rules leak: 200 subscribe/unsubscribe cycles on a client, and the daemon keeps exactly one', async (ctx) => {
    if (statsAvailable) {
      console.warn(`match-rule check skipped: ${statsAvailable}`);
      ctx.skip();
      return;
    }
    const rules = async (name: string) =>
      (
        (await client.bus_('GetConnectionStats', 's', [name], 'org.freedesktop.DBus.Debug.Stats')).body[0] as Record<
          string,
          Var
        >
      ).MatchRules!.value as number;
    const sub = await Client.connect(bus.address);
    try {
      const mgr = (await sub.bus.getProxyObject(BUS_NAME, PATHS.manager)).getInterface(INTERFACES.manager);
      const baseline = await rules(sub.name);
      for (let i = 0; i < 200; i++) {
        const h = () => {};
        mgr.on('PropertyChanged', h);
        mgr.removeListener('PropertyChanged', h);
      }
      // Let the AddMatch/RemoveMatch pairs reach the bus.
      await sub.bus_('GetId');
      await new Promise((r) => setTimeout(r, 50));
      await sub.bus_('GetId');
      expect(await rules(sub.name)).toBe(baseline);
    } finally {
      sub.close();
    }
    // The daemon: one NameOwnerChanged rule, however many clients came and went.
    expect(await rules(daemonName)).toBe(1);
  });

  it('measures CreateSession call -> first Update over 200 sessions (printed, not asserted)', async () => {
    const lat: number[] = [];
    for (let i = 0; i < 200; i++) {
      const notifier = `/lat/n${i}`;
      const t0 = process.hrtime.bigint();
      const { reply } = client.createSession({}, notifier);
      await until(() => client.updatesFor(notifier).length === 1, `Update ${i}`);
      lat.push(Number(client.updatesFor(notifier)[0]!.at - t0) / 1e3);
      await reply;
    }
    lat.sort((a, b) => a - b);
    const pct = (p: number) => lat[Math.floor(p * (lat.length - 1))]!.toFixed(0);
    console.log(
      `[dbus-adapter] CreateSession -> first Update over 200 sessions: p50 ${pct(0.5)} µs, p90 ${pct(0.9)} µs, p99 ${pct(0.99)} µs (client and daemon in one process, trivial api)`,
    );
    expect(lat).toHaveLength(200);
  });

  it('stop releases the name and is idempotent', async () => {
    await adapter.stop();
    await adapter.stop();
    const has = await client.bus_('NameHasOwner', 's', [BUS_NAME]);
    expect(has.body[0]).toBe(false);
    const e = await client.error(client.call(PATHS.manager, INTERFACES.manager, METHODS.manager.GetProperties));
    expect(e.type).toBe('org.freedesktop.DBus.Error.ServiceUnknown');
  });
});

/**
 * netsessiond end to end over raw D-Bus (dbus-next as a plain client), inside a sandbox of
 * namespaces: a device with three veth uplinks whose bearers are set by the daemon's
 * per-interface override (eth-a ethernet, eth-b wifi, eth-c cellular), three routers, and an
 * internet host answering the online check.
 *
 * | input                                        | expected                                                  |
 * |----------------------------------------------|-----------------------------------------------------------|
 * | CreateSession {}                             | reply, then an Update with all 11 keys, ConnMan signatures |
 * | AllowedBearers [cellular] / Interface eth-b  | bound to eth-c / eth-b                                    |
 * | carrier loss on the bound uplink             | failover Update; back when it returns                     |
 * | online check down, then up                   | connected, then online                                    |
 * | internet session, check down                 | disconnected until the check passes                       |
 * | bad input                                    | ConnMan error name, no Update, session unchanged          |
 * | another uid calls Change                     | PermissionDenied                                          |
 * | client leaves the bus                        | its sessions are gone                                     |
 * | OfflineMode on/off                           | every session disconnected / back                         |
 * | policy file written / edited / broken / gone | live sessions follow; a broken edit keeps the old policy  |
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INTERFACES, SETTING_KEYS, SETTING_SIGNATURES } from '../../lib/protocol.js';
import { createSandbox, requireRoot, type Sandbox, type SandboxProcess } from './harness/sandbox.js';
import { startTestDaemon } from './harness/test-daemon.js';
import { CallError, ConnmanClient, type Notifier, unwrap, v } from './support/connman-client.js';

const supported = requireRoot();

let sb: Sandbox;
let daemon: SandboxProcess;
let client: ConnmanClient;
let policyDir: string;
let seq = 0;
const notifierPath = () => `/test/n${++seq}`;

async function expectError(p: Promise<unknown>, name: string): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CallError);
  expect((err as CallError).type).toBe(name);
}

/** Waits until no Update arrived for `ms` (to check that nothing more is coming). */
async function quiet(n: Notifier, ms = 300): Promise<number> {
  let count = n.updates.length;
  for (;;) {
    await new Promise((r) => setTimeout(r, ms));
    if (n.updates.length === count) return count;
    count = n.updates.length;
  }
}

describe.skipIf(!supported)('netsessiond sessions over D-Bus', () => {
  beforeAll(async () => {
    sb = await createSandbox();
    ({ daemon, policyDir } = await startTestDaemon(sb, { args: ['--debug'] }));
    client = await ConnmanClient.connect(sb.dbusAddress!);
    // All three uplinks pass their online check at start.
    const deadline = Date.now() + 15_000;
    while ((await client.services()).filter((s) => s.props.State === 'online').length < 3) {
      if (Date.now() > deadline)
        throw new Error(`services never all online: ${JSON.stringify(await client.services())}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 120_000);

  afterAll(async () => {
    client?.disconnect();
    await sb?.destroy();
  });

  it('lists the uplinks as services and technologies with bearer overrides applied', async () => {
    const services = await client.services();
    expect(services.map((s) => [s.props.Name, s.props.Type, s.props.State])).toEqual([
      ['eth-a', 'ethernet', 'online'],
      ['eth-b', 'wifi', 'online'],
      ['eth-c', 'cellular', 'online'],
    ]);
    expect(services[0]!.path).toMatch(/^\/net\/connman\/service\/ethernet_[0-9a-f]{12}_cable$/);
    const techs = await client.technologies();
    expect(techs.map((t) => [t.path, t.props.Powered, t.props.Connected])).toEqual([
      ['/net/connman/technology/ethernet', true, true],
      ['/net/connman/technology/wifi', true, true],
      ['/net/connman/technology/cellular', true, true],
    ]);
    expect(await client.managerProperties()).toMatchObject({ State: 'online', OfflineMode: false });
  });

  it('replies to CreateSession first, then sends an Update with all 11 keys and ConnMan signatures', async () => {
    const { path, n, replySerial } = await client.createSession({}, notifierPath());
    expect(path).toMatch(/^\/sessions\/_1_\d+\/test\/n\d+$/);
    const first = await n.waitCount(1);
    // The daemon numbers its messages in send order: the reply went out first.
    expect(replySerial).toBeGreaterThan(0);
    expect(first.serial).toBeGreaterThan(replySerial);
    expect(Object.keys(first.values)).toEqual(SETTING_KEYS);
    expect(first.signatures).toEqual(SETTING_SIGNATURES);
    expect(first.values).toMatchObject({
      State: 'online',
      Name: 'eth-a',
      Interface: 'eth-a',
      Bearer: 'ethernet',
      ConnectionType: 'any',
      AllowedBearers: ['ethernet', 'wifi', 'bluetooth', 'cellular', 'gadget'],
      AllowedInterface: '*',
      ContextIdentifier: '',
      SourceIPRule: false,
    });
    const ipv4 = first.raw.IPv4!.value as Record<string, { signature: string; value: unknown }>;
    expect(Object.fromEntries(Object.entries(ipv4).map(([k, x]) => [k, x.signature]))).toEqual({
      Method: 's',
      Address: 's',
      Netmask: 's',
      Gateway: 's',
    });
    expect(first.values.IPv4).toMatchObject({ Address: sb.uplink('eth-a').devAddr4, Gateway: sb.uplink('eth-a').gw4 });
    const ipv6 = first.raw.IPv6!.value as Record<string, { signature: string; value: unknown }>;
    expect(ipv6.PrefixLength?.signature).toBe('y');
    await client.session(path).destroy();
  });

  it('AllowedBearers and AllowedInterface choose the uplink', async () => {
    const cell = await client.createSession({ AllowedBearers: v.as(['cellular', 'wifi']) }, notifierPath());
    expect(await cell.n.waitCount(1).then((u) => u.values)).toMatchObject({ Interface: 'eth-c', Bearer: 'cellular' });
    const pinned = await client.createSession({ AllowedInterface: v.s('eth-b') }, notifierPath());
    expect(await pinned.n.waitCount(1).then((u) => u.values)).toMatchObject({ Interface: 'eth-b', Bearer: 'wifi' });
    await client.session(cell.path).destroy();
    await client.session(pinned.path).destroy();
  });

  it('fails over when the bound uplink loses carrier, and comes back', async () => {
    const { path, n } = await client.createSession({}, notifierPath());
    await n.waitFor((s) => s.Interface === 'eth-a');
    await sb.setCarrier('eth-a', false);
    await n.waitFor((s) => s.Interface === 'eth-b', 5_000, 'failover to eth-b');
    expect(n.settings.State).toBe('online');
    await sb.setCarrier('eth-a', true);
    // eth-a is ready again at once and online after its new check: the session returns.
    await n.waitFor((s) => s.Interface === 'eth-a' && s.State === 'online', 10_000, 'back on eth-a and online');
    await client.session(path).destroy();
  });

  it('a pinned session goes connected -> online as the check passes, and disconnected on carrier loss', async () => {
    await sb.setOnlineMode('down', { uplink: 'eth-c' });
    await sb.setCarrier('eth-c', false);
    const { path, n } = await client.createSession({ AllowedInterface: v.s('eth-c') }, notifierPath());
    await n.waitFor((s) => s.State === 'disconnected', 5_000);
    await sb.setCarrier('eth-c', true);
    await n.waitFor((s) => s.State === 'connected' && s.Interface === 'eth-c', 5_000, 'connected on eth-c');
    const internet = await client.createSession(
      { AllowedInterface: v.s('eth-c'), ConnectionType: v.s('internet') },
      notifierPath(),
    );
    await internet.n.waitCount(1);
    expect(internet.n.settings).toMatchObject({ State: 'disconnected', Interface: '' });
    await sb.setOnlineMode('online', { uplink: 'eth-c' });
    await n.waitFor((s) => s.State === 'online', 10_000, 'online after the check passed');
    await internet.n.waitFor((s) => s.State === 'online' && s.Interface === 'eth-c', 5_000, 'internet session online');
    await sb.setCarrier('eth-c', false);
    await n.waitFor((s) => s.State === 'disconnected' && s.Interface === '', 5_000);
    await internet.n.waitFor((s) => s.State === 'disconnected', 5_000);
    await sb.setCarrier('eth-c', true);
    await n.waitFor((s) => s.State === 'online', 10_000);
    await client.session(path).destroy();
    await client.session(internet.path).destroy();
  });

  it('Change re-selects in one Update; Disconnect holds until Connect', async () => {
    const { path, n } = await client.createSession({}, notifierPath());
    await n.waitCount(1);
    const s = client.session(path);
    await s.change('AllowedBearers', v.as(['wifi']));
    // Updates for a Change are sent before its reply (ConnMan's order).
    expect(n.updates).toHaveLength(2);
    expect(n.updates[1]!.values).toMatchObject({ Interface: 'eth-b', AllowedBearers: ['wifi'] });
    await s.change('ContextIdentifier', v.s('ctx-7'));
    expect(n.updates.at(-1)!.values).toEqual({ ContextIdentifier: 'ctx-7' });
    await s.disconnect();
    expect(n.updates.at(-1)!.values).toMatchObject({ State: 'disconnected', Interface: '' });
    const count = n.updates.length;
    await sb.setCarrier('eth-a', false);
    await sb.setCarrier('eth-a', true);
    expect(await quiet(n)).toBe(count);
    await s.connect();
    expect(n.updates.at(-1)!.values).toMatchObject({ Interface: 'eth-b' });
    await s.destroy();
    // ConnMan's last Update on Destroy, then the object is gone.
    expect(n.settings.State).toBe('disconnected');
    await expectError(s.connect(), 'org.freedesktop.DBus.Error.UnknownObject');
  });

  it('bad input gets ConnMan errors and leaves the session as it was', async () => {
    await expectError(
      client.createSession({ AllowedBearers: v.as(['wimax']) }, notifierPath()),
      'net.connman.Error.InvalidArguments',
    );
    await expectError(client.createSession({ Bogus: v.s('x') }, notifierPath()), 'net.connman.Error.InvalidArguments');
    await expectError(
      client.createSession({ ConnectionType: v.b(true) }, notifierPath()),
      'net.connman.Error.InvalidArguments',
    );
    await expectError(
      client.createSession({ AllowedInterface: v.s('no/such') }, notifierPath()),
      'net.connman.Error.InvalidArguments',
    );
    const np = notifierPath();
    const { path, n } = await client.createSession({ AllowedBearers: v.as(['cellular']) }, np);
    await n.waitCount(1);
    const before = n.settings;
    const s = client.session(path);
    await expectError(s.change('AllowedBearers', v.as(['cellular', 'nope'])), 'net.connman.Error.InvalidArguments');
    await expectError(s.change('State', v.s('online')), 'net.connman.Error.InvalidArguments');
    await expectError(s.change('SourceIPRule', v.s('yes')), 'net.connman.Error.InvalidArguments');
    await expectError(s.change('ConnectionType', v.s('bogus')), 'net.connman.Error.InvalidArguments');
    await expectError(s.change('Nope', v.s('x')), 'net.connman.Error.InvalidArguments');
    await expectError(client.createSession({}, np), 'net.connman.Error.AlreadyExists');
    await expectError(
      client.call('/', INTERFACES.manager, 'DestroySession', 'o', ['/sessions/nope']),
      'net.connman.Error.InvalidArguments',
    );
    await expectError(client.setManagerProperty('NoSuch', v.b(true)), 'net.connman.Error.InvalidProperty');
    expect(await quiet(n)).toBe(1);
    expect(n.settings).toEqual(before);
    await s.destroy();
  });

  it('a non-owner gets PermissionDenied; root may act on any session', async () => {
    const { path, n } = await client.createSession({}, notifierPath());
    await n.waitCount(1);
    const script = `
      import dbus from 'dbus-next';
      const bus = dbus.sessionBus({ busAddress: process.env.DBUS_SYSTEM_BUS_ADDRESS });
      const { Message, Variant } = dbus;
      const out = {};
      for (const [member, sig, body] of [['Change', 'sv', ['SourceIPRule', new Variant('b', true)]], ['Disconnect', '', []], ['Destroy', '', []]]) {
        try { await bus.call(new Message({ destination: 'net.connman', path: ${JSON.stringify(path)}, interface: 'net.connman.Session', member, signature: sig, body })); out[member] = 'ok'; }
        catch (e) { out[member] = e.type; }
      }
      try { await bus.call(new Message({ destination: 'net.connman', path: '/', interface: 'net.connman.Manager', member: 'SetProperty', signature: 'sv', body: ['OfflineMode', new Variant('b', true)] })); out.OfflineMode = 'ok'; }
      catch (e) { out.OfflineMode = e.type; }
      console.log(JSON.stringify(out)); bus.disconnect();`;
    const r = await sb.run(sb.devNs, [process.execPath, '--input-type=module', '-e', script], {
      user: { uid: 65534, gid: 65534 },
    });
    expect(JSON.parse(r.stdout.trim())).toEqual({
      Change: 'net.connman.Error.PermissionDenied',
      Disconnect: 'net.connman.Error.PermissionDenied',
      Destroy: 'net.connman.Error.PermissionDenied',
      OfflineMode: 'net.connman.Error.PermissionDenied',
    });
    expect(n.updates).toHaveLength(1);
    await client.session(path).destroy();
  });

  it('a client that leaves the bus loses its sessions', async () => {
    const other = await ConnmanClient.connect(sb.dbusAddress!);
    const { path, n } = await other.createSession({}, '/gone');
    await n.waitCount(1);
    other.disconnect();
    const deadline = Date.now() + 5_000;
    for (;;) {
      const err = await client
        .session(path)
        .connect()
        .then(
          () => null,
          (e: CallError) => e.type,
        );
      if (err === 'org.freedesktop.DBus.Error.UnknownObject') break;
      if (Date.now() > deadline) throw new Error(`session still alive after its client left (${err})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  it('OfflineMode takes every session to disconnected and back', async () => {
    const a = await client.createSession({}, notifierPath());
    const b = await client.createSession({ AllowedBearers: v.as(['cellular']) }, notifierPath());
    await a.n.waitCount(1);
    await b.n.waitCount(1);
    await client.setManagerProperty('OfflineMode', v.b(true));
    expect(a.n.settings.State).toBe('disconnected');
    expect(b.n.settings.State).toBe('disconnected');
    expect(await client.managerProperties()).toMatchObject({ State: 'offline', OfflineMode: true });
    await client.setManagerProperty('OfflineMode', v.b(false));
    await a.n.waitFor((s) => s.State === 'online' && s.Interface === 'eth-a', 10_000);
    await b.n.waitFor((s) => s.State === 'online' && s.Interface === 'eth-c', 10_000);
    await client.session(a.path).destroy();
    await client.session(b.path).destroy();
  });

  it('a policy file edit updates live sessions; a broken edit keeps the previous policy', async () => {
    const { path, n } = await client.createSession({}, notifierPath());
    await n.waitFor((s) => s.Interface === 'eth-a');
    const file = join(policyDir, 'root.policy');
    writeFileSync(file, '[policy_root]\nuid = root\nAllowedBearers = cellular\n');
    await n.waitFor((s) => s.Interface === 'eth-c', 5_000, 'policy applied');
    expect(n.settings.AllowedBearers).toEqual(['cellular']);
    writeFileSync(file, '[policy_root]\nuid = root\nAllowedBearers = wifi\n');
    await n.waitFor((s) => s.Interface === 'eth-b', 5_000, 'policy edit applied');
    writeFileSync(file, '[policy_root]\nuid = root\nAllowedBearers = wimax\n');
    await daemon.waitForLine(/policy rejected/, { timeoutMs: 5_000 });
    expect(n.settings.Interface).toBe('eth-b');
    rmSync(file);
    await n.waitFor((s) => s.Interface === 'eth-a', 5_000, 'policy removed');
    expect(n.settings.AllowedBearers).toEqual(['ethernet', 'wifi', 'bluetooth', 'cellular', 'gadget']);
    await client.session(path).destroy();
  });

  it('a captive portal leaves the service ready and is reported on org.netsession.Service1', async () => {
    const eth = async () => (await client.services()).find((x) => x.props.Name === 'eth-c')!;
    const check = async () => {
      const [dict] = await client.call((await eth()).path, 'org.netsession.Service1', 'GetOnlineCheck', '', []);
      return unwrap(dict) as { IPv4: { Online: boolean; Portal: string }; IPv6: { Online: boolean; Portal: string } };
    };
    expect((await check()).IPv4).toEqual({ Online: true, Portal: '' });
    await sb.setOnlineMode('portal', { uplink: 'eth-c' });
    await sb.setCarrier('eth-c', false);
    await sb.setCarrier('eth-c', true);
    const deadline = Date.now() + 10_000;
    while ((await check()).IPv4.Portal === '') {
      if (Date.now() > deadline) throw new Error(`no portal reported: ${JSON.stringify(await check())}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await check()).IPv4).toEqual({ Online: false, Portal: sb.inet.onlineUrl4 });
    expect((await eth()).props).toMatchObject({ State: 'ready' });
    // ConnMan's own Service dict gains no key for it.
    expect(Object.keys((await eth()).props)).not.toContain('Portal');
    await sb.setOnlineMode('online', { uplink: 'eth-c' });
    const back = Date.now() + 10_000;
    while (!(await check()).IPv4.Online) {
      if (Date.now() > back) throw new Error(`never online again: ${JSON.stringify(await check())}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await check()).IPv4).toEqual({ Online: true, Portal: '' });
    expect((await eth()).props).toMatchObject({ State: 'online' });
  });

  it('SIGTERM sends Release to every session and exits 0', async () => {
    const { n } = await client.createSession({}, notifierPath());
    await n.waitCount(1);
    await daemon.kill('SIGTERM', 5_000);
    const exit = await daemon.exited;
    expect(exit).toMatchObject({ code: 0 });
    await n.waitFor(() => n.releases === 1, 5_000, 'Release');
  });
});

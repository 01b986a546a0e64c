/**
 * ConnMan's per-service counters (`Manager.RegisterCounter`, `net.connman.Counter`) end to end:
 * netsessiond in a sandbox's device namespace with three veth uplinks, a raw D-Bus client that
 * exports Counter objects, and real HTTP traffic over eth-a.
 *
 * | input                                         | expected                                                       |
 * |-----------------------------------------------|----------------------------------------------------------------|
 * | RegisterCounter(o, 0, 1)                      | per connected service a first Usage with all 9 keys as `u`      |
 * | 300 kB downloaded over eth-a                  | eth-a's RX.Bytes grows by at least that; eth-b's does not        |
 * | later Usage calls                             | only keys whose value changed                                    |
 * | same path twice / unknown path / period 0     | AlreadyExists / NotRegistered / InvalidArguments                 |
 * | ResetCounters (root; nobody)                  | totals restart for every counter; PermissionDenied               |
 * | UnregisterCounter                             | no more Usage; the path can be registered again                  |
 * | client leaves the bus                         | its counters end                                                 |
 * | SIGTERM                                       | Release to each registered counter (not to unregistered ones)   |
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COUNTER_KEYS } from '../../daemon/core/counters.js';
import { startNetsessiond } from './harness/daemon.js';
import { createSandbox, requireRoot, type Sandbox, type SandboxProcess } from './harness/sandbox.js';
import { CallError, ConnmanClient, type CounterObject } from './support/connman-client.js';

const supported = requireRoot();

let sb: Sandbox;
let daemon: SandboxProcess;
let client: ConnmanClient;
/** Service object path per uplink name. */
const svc: Record<string, string> = {};

async function expectError(p: Promise<unknown>, name: string): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CallError);
  expect((err as CallError).type).toBe(name);
}

const num = (x: unknown): number => x as number;

describe.skipIf(!supported)('per-service counters (net.connman.Counter)', () => {
  beforeAll(async () => {
    sb = await createSandbox();
    const conf = join(sb.tmpDir, 'netsessiond.conf');
    writeFileSync(conf, ['[Bearers]', 'eth-a = ethernet', 'eth-b = wifi', 'eth-c = cellular', ''].join('\n'));
    daemon = await startNetsessiond(sb, {
      args: [
        '--config',
        conf,
        '--state-dir',
        join(sb.tmpDir, 'state'),
        '--policy-dir',
        join(sb.tmpDir, 'policy'),
        '--online-check-mode',
        'none',
        '--debug',
      ],
    });
    await daemon.waitForLine(/ready:/, { timeoutMs: 15_000 });
    client = await ConnmanClient.connect(sb.dbusAddress!);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const services = await client.services();
      if (services.filter((s) => s.props.State === 'ready' || s.props.State === 'online').length === 3) {
        for (const s of services) svc[s.props.Name as string] = s.path;
        break;
      }
      if (Date.now() > deadline) throw new Error(`services never all connected: ${JSON.stringify(services)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 120_000);

  afterAll(async () => {
    client?.disconnect();
    await sb?.destroy();
  });

  let main: CounterObject;

  it('sends each connected service a first Usage with every key as u, roaming zeroed, no reply expected', async () => {
    main = await client.registerCounter('/counter/main', 0, 1);
    await main.waitFor(
      () => Object.values(svc).every((p) => main.usagesFor(p).length >= 1),
      10_000,
      'a first Usage per service',
    );
    for (const path of Object.values(svc)) {
      const first = main.usagesFor(path)[0]!;
      expect(Object.keys(first.home)).toEqual([...COUNTER_KEYS]);
      expect(first.homeSignatures).toEqual(Object.fromEntries(COUNTER_KEYS.map((k) => [k, 'u'])));
      expect(first.roaming).toEqual(Object.fromEntries(COUNTER_KEYS.map((k) => [k, 0])));
      expect(first.roamingSignatures).toEqual(Object.fromEntries(COUNTER_KEYS.map((k) => [k, 'u'])));
      expect(first.flags & 1).toBe(1);
    }
  });

  it('counts traffic on the service that carried it; later calls carry only changed keys', async () => {
    const a = svc['eth-a']!;
    const b = svc['eth-b']!;
    const baseA = num(main.totals(a)['RX.Bytes']);
    const baseTxA = num(main.totals(a)['TX.Bytes']);
    const baseB = num(main.totals(b)['RX.Bytes']);
    const r = await sb.httpRequest(sb.devNs, `http://${sb.inet.addr4}/data?bytes=300000`, {
      localAddress: sb.uplink('eth-a').devAddr4,
    });
    expect(r.ok && r.bytes).toBe(300_000);
    await main.waitFor(
      () => num(main.totals(a)['RX.Bytes']) >= baseA + 300_000,
      10_000,
      'RX.Bytes of eth-a to grow by 300 kB',
    );
    expect(num(main.totals(a)['TX.Bytes'])).toBeGreaterThan(baseTxA);
    expect(num(main.totals(b)['RX.Bytes']) - baseB).toBeLessThan(300_000);

    for (const path of Object.values(svc)) {
      const calls = main.usagesFor(path);
      const merged: Record<string, unknown> = { ...calls[0]!.home };
      for (const u of calls.slice(1)) {
        expect(Object.keys(u.home).length).toBeGreaterThan(0);
        for (const [k, val] of Object.entries(u.home)) {
          expect(val, `${k} is sent only when it changed`).not.toBe(merged[k]);
          expect(u.homeSignatures[k]).toBe('u');
        }
        expect(u.roaming).toEqual({});
        Object.assign(merged, u.home);
      }
    }
    // Nothing errs on a veth: no later call ever repeats RX.Errors.
    expect(
      main
        .usagesFor(a)
        .slice(1)
        .some((u) => 'RX.Errors' in u.home),
    ).toBe(false);
    expect(main.usagesFor(a).length).toBeGreaterThan(1);
  });

  it('answers ConnMan errors for a duplicate path, an unknown path and a zero period', async () => {
    await expectError(client.registerCounter('/counter/main', 0, 1), 'net.connman.Error.AlreadyExists');
    await expectError(client.unregisterCounter('/counter/nope'), 'net.connman.Error.NotRegistered');
    await expectError(client.registerCounter('/counter/zero', 0, 0), 'net.connman.Error.InvalidArguments');
  });

  it('ResetCounters restarts the totals for every counter; only root may call it', async () => {
    const a = svc['eth-a']!;
    const second = await client.registerCounter('/counter/second', 0, 1);
    await second.waitFor(() => second.usagesFor(a).length >= 1, 10_000, 'first Usage of the second counter');
    expect(num(second.totals(a)['RX.Bytes']), 'totals are per service, shared by counters').toBeGreaterThanOrEqual(
      300_000,
    );

    const script = `
      import dbus from 'dbus-next';
      const bus = dbus.sessionBus({ busAddress: process.env.DBUS_SYSTEM_BUS_ADDRESS });
      let out = 'ok';
      try { await bus.call(new dbus.Message({ destination: 'net.connman', path: ${JSON.stringify(a)}, interface: 'net.connman.Service', member: 'ResetCounters' })); }
      catch (e) { out = e.type; }
      console.log(out); bus.disconnect();`;
    const r = await sb.run(sb.devNs, [process.execPath, '--input-type=module', '-e', script], {
      user: { uid: 65534, gid: 65534 },
    });
    expect(r.stdout.trim()).toBe('net.connman.Error.PermissionDenied');
    expect(num(main.totals(a)['RX.Bytes'])).toBeGreaterThanOrEqual(300_000);

    await client.resetCounters(a);
    await main.waitFor(() => num(main.totals(a)['RX.Bytes']) < 300_000, 10_000, 'main counter to see the reset');
    await second.waitFor(() => num(second.totals(a)['RX.Bytes']) < 300_000, 10_000, 'second counter to see the reset');
    await client.unregisterCounter('/counter/second');
  });

  it('UnregisterCounter stops Usage; the path can then be registered again', async () => {
    await client.unregisterCounter('/counter/main');
    const count = main.usages.length;
    // Time changes every second, so a live counter with period 1 would get calls in this window.
    await sb.httpRequest(sb.devNs, `http://${sb.inet.addr4}/data?bytes=10000`, {
      localAddress: sb.uplink('eth-a').devAddr4,
    });
    await new Promise((r) => setTimeout(r, 2_500));
    expect(main.usages.length).toBe(count);
    const again = await client.registerCounter('/counter/main', 0, 1);
    await again.waitFor(() => again.usages.length > count, 10_000, 'Usage after re-registering');
    await client.unregisterCounter('/counter/main');
  });

  it('a client that leaves the bus loses its counters', async () => {
    const other = await ConnmanClient.connect(sb.dbusAddress!);
    const c = await other.registerCounter('/gone', 0, 1);
    await c.waitFor(() => c.usages.length >= 1, 10_000, 'first Usage');
    const name = other.name;
    other.disconnect();
    const line = await daemon.waitForLine(`counter ${name}/gone ended: its client left the bus`, { timeoutMs: 5_000 });
    expect(line).toContain(name);
  });

  it('SIGTERM sends Release to every registered counter and exits 0', async () => {
    const last = await client.registerCounter('/counter/last', 1024, 1);
    await last.waitFor(() => last.usages.length >= 1, 10_000, 'first Usage');
    await daemon.kill('SIGTERM', 5_000);
    expect(await daemon.exited).toMatchObject({ code: 0 });
    await last.waitFor(() => last.releases === 1, 5_000, 'Release');
    // Unregistered counters are not released (ConnMan sends Release only to registered ones).
    expect(main.releases).toBe(0);
  });
});

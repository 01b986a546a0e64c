/**
 * The runtime's ordering rules with recording fakes for its ports (pure logic; the real
 * adapters are covered by the integration tests).
 */
import { describe, expect, it } from 'vitest';
import type { BusCaller } from '../../../../daemon/api.js';
import { Engine } from '../../../../daemon/core/engine.js';
import type { FirewallState, RoutingState } from '../../../../daemon/core/kernel-state-types.js';
import { DEFAULT_ONLINE_CHECK_SETTINGS } from '../../../../daemon/core/online-schedule.js';
import type { PropDict } from '../../../../daemon/core/properties.js';
import type { BusEvents, Firewall, Routing } from '../../../../daemon/ports.js';
import { Runtime } from '../../../../daemon/runtime/runtime.js';
import { GatedPort } from '../../../fakes/gated.js';
import { uplink } from '../../../fakes/links.js';

type Event = [string, ...unknown[]];

function recorder(log: Event[]): BusEvents {
  const rec =
    (name: string) =>
    (...args: unknown[]) =>
      log.push([name, ...args]);
  return {
    update: (_owner: string, notifier: string, changes: PropDict) =>
      log.push(['update', notifier, Object.keys(changes)]),
    release: rec('release'),
    sessionRemoved: rec('sessionRemoved'),
    sessionStatistics: rec('sessionStatistics'),
    servicesChanged: () => {},
    servicePropertyChanged: () => {},
    technologyAdded: () => {},
    technologyRemoved: () => {},
    technologyPropertyChanged: () => {},
    managerPropertyChanged: () => {},
    counterUsage: () => {},
    counterRelease: () => {},
    flush: rec('flush'),
  } as BusEvents;
}

class GatedRouting extends GatedPort<RoutingState> implements Routing {}
class GatedFirewall extends GatedPort<FirewallState> implements Firewall {}

async function setup(withFirewall = false) {
  const log: Event[] = [];
  const routing = new GatedRouting();
  const firewall = withFirewall ? new GatedFirewall() : undefined;
  const rt = new Runtime({
    engine: new Engine(),
    events: recorder(log),
    links: { start: async () => [uplink(2, 'eth0', 'ethernet')], stop: async () => {} },
    identity: { resolve: (c: BusCaller) => ({ uid: c.uid, groups: [] }), cgroupOf: () => undefined },
    clock: { now: () => 0, setTimeout: () => ({ cancel() {} }) },
    online: {
      settings: { ...DEFAULT_ONLINE_CHECK_SETTINGS, mode: 'none' },
      probe: { probe: async () => ({ kind: 'online' }) },
      urls: { 4: 'http://x/', 6: 'http://x/' },
    },
    routing,
    ...(firewall ? { firewall } : {}),
    log: () => {},
  });
  await rt.start();
  await rt.kernelSettled();
  routing.auto = false;
  if (firewall) firewall.auto = false;
  return { rt, log, routing, firewall };
}

const ROOT: BusCaller = { sender: ':1.5', uid: 0, gids: [0], pid: undefined };
const tick = () => new Promise((r) => setImmediate(r));

describe('runtime: Updates and the kernel', () => {
  it('an Update of a SourceIPRule session waits until routing has applied the state it needs', async () => {
    const { rt, log, routing } = await setup();
    // The reply waits with the Update (as Change's does), so both leave in one write.
    let replied = false;
    const created = rt.createSession(ROOT, { SourceIPRule: { signature: 'b', value: true } }, '/n1');
    void Promise.resolve(created).then(() => (replied = true));
    await tick();
    await tick();
    expect(replied).toBe(false);
    expect(log.filter((e) => e[0] === 'update')).toEqual([]);
    expect(routing.applies.at(-1)!.rules.some((r) => r.kind === 'source')).toBe(true);
    routing.finishAll();
    await rt.kernelSettled();
    await tick();
    expect(log.filter((e) => e[0] === 'update')).toEqual([
      ['update', '/n1', expect.arrayContaining(['State', 'SourceIPRule'])],
    ]);
    expect(await created).toBe('/sessions/_1_5/n1');
  });

  it('a plain session is not held, and Change resolves only after its held Update went out', async () => {
    const { rt, log, routing } = await setup();
    const path = await rt.createSession(ROOT, {}, '/plain');
    await tick();
    expect(log.filter((e) => e[0] === 'update')).toHaveLength(1);
    let replied = false;
    const done = rt.sessionChange(ROOT, path, 'SourceIPRule', { signature: 'b', value: true });
    expect(done).toBeInstanceOf(Promise);
    void (done as Promise<void>).then(() => (replied = true));
    await tick();
    expect(replied).toBe(false);
    expect(log.filter((e) => e[0] === 'update')).toHaveLength(1);
    routing.auto = true;
    routing.finishAll();
    await done;
    expect(log.filter((e) => e[0] === 'update').at(-1)).toEqual(['update', '/plain', ['SourceIPRule']]);
  });

  it('later Updates queue behind a held one, so each client sees them in order', async () => {
    const { rt, log, routing } = await setup();
    const held = rt.createSession(ROOT, { SourceIPRule: { signature: 'b', value: true } }, '/held');
    await tick();
    const plain = rt.createSession(ROOT, {}, '/later');
    await tick();
    expect(log.filter((e) => e[0] === 'update')).toEqual([]);
    routing.auto = true;
    routing.finishAll();
    await rt.kernelSettled();
    await tick();
    expect(log.filter((e) => e[0] === 'update').map((e) => e[1])).toEqual(['/held', '/later']);
    expect(await Promise.all([held, plain])).toHaveLength(2);
  });

  it('a SourceIPRule session waits for routing only, not for the firewall', async () => {
    const { rt, log, routing, firewall } = await setup(true);
    const created = rt.createSession(ROOT, { SourceIPRule: { signature: 'b', value: true } }, '/src');
    await tick();
    await tick();
    expect(log.filter((e) => e[0] === 'update')).toEqual([]);
    routing.finishAll();
    await tick();
    await tick();
    // Routing is applied, the firewall still pending: the source rule is all this session needs.
    expect(firewall!.applies.length).toBeGreaterThan(0);
    expect(log.filter((e) => e[0] === 'update').map((e) => e[1])).toEqual(['/src']);
    await created; // replied with its Update, the firewall still pending
    firewall!.auto = true;
    firewall!.finishAll();
    routing.auto = true;
    await rt.kernelSettled();
  });

  it('an Update released by the routing stage leaves the process (flush) before the firewall apply starts', async () => {
    const { rt, log, routing, firewall } = await setup(true);
    const fwApply = firewall!.apply.bind(firewall);
    firewall!.apply = (d) => {
      log.push(['firewall apply']);
      return fwApply(d);
    };
    const created = rt.createSession(ROOT, { SourceIPRule: { signature: 'b', value: true } }, '/f');
    await tick();
    await tick();
    routing.finishAll();
    await tick();
    await tick();
    const order = log.map((e) => e[0]).filter((n) => n === 'update' || n === 'flush' || n === 'firewall apply');
    // Coalesced writes leave at the loop's check phase otherwise: behind the firewall's synchronous start.
    expect(order.slice(0, 3)).toEqual(['update', 'flush', 'firewall apply']);
    await created;
    firewall!.auto = true;
    firewall!.finishAll();
    routing.auto = true;
    await rt.kernelSettled();
  });

  it('stopping releases Updates still waiting for the kernel', async () => {
    const { rt, log } = await setup();
    const path = await rt.createSession(ROOT, {}, '/w');
    await tick();
    const done = rt.sessionChange(ROOT, path, 'SourceIPRule', { signature: 'b', value: true }) as Promise<void>;
    const stopping = rt.stop();
    await done;
    expect(log.filter((e) => e[0] === 'update' && e[1] === '/w').at(-1)).toEqual(['update', '/w', ['SourceIPRule']]);
    void stopping;
  });

  it('SIGTERM-style stop releases every session', async () => {
    const { rt, log, routing } = await setup();
    // About Release, not kernel gating: let applies finish so stop() can await the last one.
    routing.auto = true;
    await rt.createSession(ROOT, {}, '/a');
    await rt.createSession({ ...ROOT, sender: ':1.6' }, {}, '/b');
    await rt.stop();
    expect(log.filter((e) => e[0] === 'release').map((e) => e.slice(1))).toEqual([
      [':1.5', '/a'],
      [':1.6', '/b'],
    ]);
  });
});

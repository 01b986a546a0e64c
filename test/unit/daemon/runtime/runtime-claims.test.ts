/**
 * The runtime's side of ClaimCgroup: the filesystem is asked only for a well-formed request, the
 * owner it reports feeds the core's permission rule, and the reply waits for the firewall.
 */
import { describe, expect, it } from 'vitest';
import type { BusCaller } from '../../../../daemon/api.js';
import { Engine } from '../../../../daemon/core/engine.js';
import type { DaemonError } from '../../../../daemon/core/errors.js';
import type { FirewallState } from '../../../../daemon/core/kernel-state-types.js';
import { DEFAULT_ONLINE_CHECK_SETTINGS } from '../../../../daemon/core/online-schedule.js';
import type { BusEvents, CgroupDirectory, Firewall } from '../../../../daemon/ports.js';
import { Runtime } from '../../../../daemon/runtime/runtime.js';
import { GatedPort } from '../../../fakes/gated.js';
import { uplink } from '../../../fakes/links.js';

const events = new Proxy({}, { get: () => () => {} }) as BusEvents;

class GatedFirewall extends GatedPort<FirewallState> implements Firewall {}

async function setup(opts: { firewall?: boolean; owners?: Record<string, number> } = {}) {
  const firewall = new GatedFirewall();
  const asked: string[] = [];
  const cgroups: CgroupDirectory = {
    ownerOf: async (p) => {
      asked.push(p);
      return opts.owners?.[p] ?? null;
    },
  };
  const rt = new Runtime({
    engine: new Engine(),
    events,
    links: { start: async () => [uplink(2, 'eth0', 'ethernet')], stop: async () => {} },
    identity: { resolve: (c: BusCaller) => ({ uid: c.uid, groups: [] }), cgroupOf: () => undefined },
    clock: { now: () => 0, setTimeout: () => ({ cancel() {} }) },
    online: {
      settings: { ...DEFAULT_ONLINE_CHECK_SETTINGS, mode: 'none' },
      probe: { probe: async () => ({ kind: 'online' }) },
      urls: { 4: 'http://x/', 6: 'http://x/' },
    },
    ...(opts.firewall === false ? {} : { firewall }),
    cgroups,
    log: () => {},
  });
  await rt.start();
  await rt.kernelSettled();
  return { rt, firewall, asked };
}

const ROOT: BusCaller = { sender: ':1.5', uid: 0, gids: [0], pid: undefined };
const ALICE: BusCaller = { sender: ':1.6', uid: 1001, gids: [1001], pid: undefined };
const tick = () => new Promise((r) => setImmediate(r));

async function codeOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'no error',
    (err: unknown) => (err as DaemonError).code,
  );
}

describe('runtime: sessions that claim nothing', () => {
  it('cost no firewall apply to create or destroy; a claim brings the apply and the marking', async () => {
    const { rt, firewall } = await setup({ owners: { '/run/2': 0 } });
    const base = firewall.applies.length;
    const path = await rt.createSession(ROOT, {}, '/bare');
    await tick();
    await rt.kernelSettled();
    expect(firewall.applies.length).toBe(base);
    await rt.claimCgroup(ROOT, path, '/run/2');
    expect(firewall.applies.length).toBe(base + 1);
    expect(firewall.applies.at(-1)!.sessions.map((s) => s.sessionKey)).toEqual(['s1']);
    const other = await rt.createSession(ROOT, {}, '/bare2');
    await rt.destroySession(ROOT, other);
    await tick();
    await rt.kernelSettled();
    expect(firewall.applies.length).toBe(base + 1);
  });
});

describe('runtime: ClaimCgroup', () => {
  it('resolves only after the firewall holds the cgroup classifier', async () => {
    const { rt, firewall } = await setup({ owners: { '/run/1': 0 } });
    const path = await rt.createSession(ROOT, {}, '/n1');
    await tick();
    await rt.kernelSettled();
    firewall.auto = false;
    let done = false;
    const claim = rt.claimCgroup(ROOT, path, '/run/1').then(() => (done = true));
    await tick();
    await tick();
    expect(firewall.applies.at(-1)!.classifiers).toEqual([{ kind: 'cgroup', key: '/run/1', sessionKey: 's1' }]);
    expect(done).toBe(false);
    firewall.finishAll();
    await claim;
    expect(done).toBe(true);
    expect(rt.capabilities()).toContain('ClaimCgroup');
  });

  it('checks path and ownership of the session before looking at the filesystem', async () => {
    const { rt, asked } = await setup({ owners: { '/a': 0 } });
    const path = await rt.createSession(ROOT, {}, '/n1');
    expect(await codeOf(rt.claimCgroup(ROOT, path, '/a/../b'))).toBe('NSD_ERR_BAD_CGROUP_PATH');
    expect(await codeOf(rt.claimCgroup(ALICE, path, '/a'))).toBe('NSD_ERR_NOT_OWNER');
    expect(asked).toEqual([]);
  });

  it('a non-root caller may claim only a cgroup directory it owns', async () => {
    const { rt, asked } = await setup({ owners: { '/alice': 1001, '/root': 0 } });
    const path = await rt.createSession(ALICE, {}, '/n1');
    expect(await codeOf(rt.claimCgroup(ALICE, path, '/root'))).toBe('NSD_ERR_CGROUP_NOT_OWNED');
    expect(await codeOf(rt.claimCgroup(ALICE, path, '/missing'))).toBe('NSD_ERR_CGROUP_NOT_FOUND');
    expect(await codeOf(rt.claimCgroup(ALICE, path, '/alice'))).toBe('no error');
    expect(asked).toEqual(['/root', '/missing', '/alice']);
    expect((await rt.listSessions(ROOT))[0]!.props.Cgroups).toEqual({ signature: 'as', value: ['/alice'] });
  });

  it('is NotSupported without the firewall (nothing could mark the traffic)', async () => {
    const { rt } = await setup({ firewall: false, owners: { '/a': 0 } });
    const path = await rt.createSession(ROOT, {}, '/n1');
    expect(await codeOf(rt.claimCgroup(ROOT, path, '/a'))).toBe('NSD_ERR_NOT_SUPPORTED');
    expect(rt.capabilities()).not.toContain('ClaimCgroup');
  });
});

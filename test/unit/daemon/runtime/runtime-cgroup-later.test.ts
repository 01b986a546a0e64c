/**
 * A CreateSession reads its caller's cgroup before the reply only when a loaded policy group
 * selects by cgroup; otherwise right after, and a cgroup group loaded later still finds the
 * cgroup the caller had at creation, also when it arrives before that late read.
 */
import { describe, expect, it } from 'vitest';
import type { BusCaller } from '../../../../daemon/api.js';
import { Engine } from '../../../../daemon/core/engine.js';
import { DEFAULT_ONLINE_CHECK_SETTINGS } from '../../../../daemon/core/online-schedule.js';
import type { BusEvents } from '../../../../daemon/ports.js';
import { Runtime } from '../../../../daemon/runtime/runtime.js';
import { uplink } from '../../../fakes/links.js';

const events = new Proxy({}, { get: () => () => {} }) as BusEvents;
const CALLER: BusCaller = { sender: ':1.7', uid: 1001, gids: [1001], pid: 4242 };
const CGROUP = '/app.slice/chat.scope';
const CGROUP_POLICY = `[policy_chat]\ncgroup = ${CGROUP}\nAllowedBearers = cellular\n`;
const tick = () => new Promise((r) => setImmediate(r));

async function setup(policyAtStart?: string) {
  const engine = new Engine();
  const asked: Array<{ cgroup: boolean | undefined }> = [];
  const read: number[] = [];
  let policyFile: (file: string, text: string | null) => void = () => {};
  const rt = new Runtime({
    engine,
    events,
    links: { start: async () => [uplink(2, 'eth0', 'ethernet')], stop: async () => {} },
    identity: {
      resolve: (c: BusCaller, opts) => {
        asked.push({ cgroup: opts?.cgroup });
        return opts?.cgroup === false ? { uid: c.uid, groups: [] } : { uid: c.uid, groups: [], cgroup: CGROUP };
      },
      cgroupOf: (pid) => {
        read.push(pid);
        return CGROUP;
      },
    },
    policies: {
      start: async (onFile) => {
        policyFile = onFile;
        if (policyAtStart) onFile('chat.policy', policyAtStart);
      },
      stop: async () => {},
    },
    clock: { now: () => 0, setTimeout: () => ({ cancel() {} }) },
    online: {
      settings: { ...DEFAULT_ONLINE_CHECK_SETTINGS, mode: 'none' },
      probe: { probe: async () => ({ kind: 'online' }) },
      urls: { 4: 'http://x/', 6: 'http://x/' },
    },
    log: () => {},
  });
  await rt.start();
  return { rt, engine, asked, read, loadPolicy: (text: string) => policyFile('chat.policy', text) };
}

describe('runtime: the caller cgroup of a new session', () => {
  it('is read after the reply when no group selects by cgroup, and a cgroup group loaded later matches it', async () => {
    const { rt, engine, asked, read, loadPolicy } = await setup();
    const path = rt.createSession(CALLER, {}, '/n1');
    expect(typeof path).toBe('string');
    expect(asked).toEqual([{ cgroup: false }]);
    expect(read).toEqual([]);
    expect(engine.session(path as string).identity.cgroup).toBeUndefined();
    await tick();
    expect(read).toEqual([4242]);
    expect(engine.session(path as string).identity.cgroup).toBe(CGROUP);
    expect(engine.session(path as string).match).toBeNull();
    loadPolicy(CGROUP_POLICY);
    expect(engine.session(path as string).match).toMatchObject({ kind: 'cgroup' });
    expect(engine.session(path as string).effective.allowedBearers).toEqual(['cellular']);
  });

  it('is matched again when a cgroup group arrived between the reply and the late read', async () => {
    const { rt, engine, loadPolicy } = await setup();
    const path = rt.createSession(CALLER, {}, '/n2') as string;
    loadPolicy(CGROUP_POLICY);
    expect(engine.session(path).match).toBeNull();
    await tick();
    expect(engine.session(path).match).toMatchObject({ kind: 'cgroup' });
    expect(engine.session(path).effective.allowedBearers).toEqual(['cellular']);
  });

  it('is read before the reply while a group selects by cgroup, and matches at once', async () => {
    const { rt, engine, asked, read } = await setup(CGROUP_POLICY);
    const path = rt.createSession(CALLER, {}, '/n3') as string;
    expect(asked).toEqual([{ cgroup: true }]);
    expect(engine.session(path).match).toMatchObject({ kind: 'cgroup' });
    await tick();
    expect(read).toEqual([]);
  });

  it('a session destroyed before the late read is left alone', async () => {
    const { rt, engine, read } = await setup();
    const path = rt.createSession(CALLER, {}, '/n4') as string;
    rt.destroySession(CALLER, path);
    await tick();
    expect(read).toEqual([4242]);
    expect(engine.sessionCount()).toBe(0);
  });
});

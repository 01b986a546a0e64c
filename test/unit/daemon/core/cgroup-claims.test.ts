/**
 * ClaimCgroup in the core: which paths are accepted, who may claim what, and how claimed
 * cgroups reach (and leave) the desired kernel state beside policy claims.
 */
import { describe, expect, it } from 'vitest';
import { checkCgroupPath, MAX_CGROUP_CLAIMS } from '../../../../daemon/core/cgroup-claims.js';
import { type Caller, Engine } from '../../../../daemon/core/engine.js';
import { codeOf } from '../../../fakes/errors.js';
import { alice, ROOT, uplink } from '../../../fakes/links.js';

const OWNER = ':1.7';
const ME: Caller = { owner: OWNER, uid: 0 };
const ALICE: Caller = { owner: ':1.20', uid: 1001 };

function setup() {
  const e = new Engine();
  e.linkChanged(uplink(2, 'eth0', 'ethernet'));
  e.linkChanged(uplink(4, 'wwan0', 'cellular'));
  return e;
}

const cgroupClassifiers = (e: Engine) => e.kernelState().firewall.classifiers.filter((c) => c.kind === 'cgroup');

describe('cgroup paths', () => {
  it('accepts absolute, normalised paths', () => {
    for (const p of [
      '/netsession.run/4242',
      '/a',
      '/user.slice/user-1000.slice/app-x.scope',
      '/with space/and:colon',
    ]) {
      expect(
        codeOf(() => checkCgroupPath(p)),
        p,
      ).toBe('no error');
    }
  });

  it('rejects relative, unnormalised, root, quoted and overlong paths', () => {
    for (const p of [
      '',
      'a/b',
      '/',
      '/a/',
      '//a',
      '/a//b',
      '/a/./b',
      '/a/..',
      '/../etc',
      '/a"b',
      '/a\\b',
      '/a\nb',
      `/${'x'.repeat(512)}`,
    ]) {
      expect(
        codeOf(() => checkCgroupPath(p)),
        JSON.stringify(p),
      ).toBe('NSD_ERR_BAD_CGROUP_PATH');
    }
  });
});

describe('Engine.claimCgroup', () => {
  it('a claimed cgroup becomes a classifier of the session, bound to its service', () => {
    const e = setup();
    const { path } = e.createSession({
      owner: OWNER,
      notifier: '/n',
      identity: ROOT,
      settings: { AllowedInterface: { signature: 's', value: 'wwan0' } },
    });
    const fx = e.claimCgroup(path, ME, '/netsession.run/42', 0);
    expect(fx.kernelDirty).toBe(true);
    expect(fx.updates).toEqual([]);
    const k = e.kernelState();
    expect(cgroupClassifiers(e)).toEqual([{ kind: 'cgroup', key: '/netsession.run/42', sessionKey: 's1' }]);
    const wwan = e.services().find((s) => s.ifname === 'wwan0')!;
    expect(k.firewall.sessions[0]).toMatchObject({ sessionKey: 's1', mark: wwan.alloc!.mark, ifname: 'wwan0' });
    expect(e.sessions()[0]!.cgroups).toEqual(['/netsession.run/42']);
  });

  it('claiming the same cgroup again changes nothing', () => {
    const e = setup();
    const { path } = e.createSession({ owner: OWNER, notifier: '/n', identity: ROOT, settings: {} });
    e.claimCgroup(path, ME, '/a', 0);
    const fx = e.claimCgroup(path, ME, '/a', 0);
    expect(fx.kernelDirty).toBe(false);
    expect(e.sessions()[0]!.cgroups).toEqual(['/a']);
  });

  it('the claim is released when the session ends (destroyed, or its client left)', () => {
    const e = setup();
    const a = e.createSession({ owner: OWNER, notifier: '/a', identity: ROOT, settings: {} }).path;
    const b = e.createSession({ owner: ':1.9', notifier: '/b', identity: ROOT, settings: {} }).path;
    e.claimCgroup(a, ME, '/x', 0);
    e.claimCgroup(b, { owner: ':1.9', uid: 0 }, '/y', 0);
    expect(cgroupClassifiers(e).map((c) => c.key)).toEqual(['/x', '/y']);
    e.destroySession(a, ME);
    expect(cgroupClassifiers(e).map((c) => c.key)).toEqual(['/y']);
    e.ownerGone(':1.9');
    expect(cgroupClassifiers(e)).toEqual([]);
  });

  it('root may claim any cgroup; others only one whose directory they own', () => {
    const e = setup();
    const mine = e.createSession({ owner: ALICE.owner, notifier: '/n', identity: alice, settings: {} }).path;
    expect(codeOf(() => e.claimCgroup(mine, ALICE, '/root-owned', 0))).toBe('NSD_ERR_CGROUP_NOT_OWNED');
    expect(codeOf(() => e.claimCgroup(mine, ALICE, '/bob', 1002))).toBe('NSD_ERR_CGROUP_NOT_OWNED');
    expect(cgroupClassifiers(e)).toEqual([]);
    e.claimCgroup(mine, ALICE, '/user.slice/alice', 1001);
    const rootSession = e.createSession({ owner: OWNER, notifier: '/r', identity: ROOT, settings: {} }).path;
    e.claimCgroup(rootSession, ME, '/someone-else', 1002);
    expect(cgroupClassifiers(e).map((c) => c.key)).toEqual(['/someone-else', '/user.slice/alice']);
  });

  it('a cgroup that does not exist cannot be claimed, not even by root', () => {
    const e = setup();
    const { path } = e.createSession({ owner: OWNER, notifier: '/n', identity: ROOT, settings: {} });
    expect(codeOf(() => e.claimCgroup(path, ME, '/gone', null))).toBe('NSD_ERR_CGROUP_NOT_FOUND');
  });

  it('only the owner (or root) may claim for a session, and the session must exist', () => {
    const e = setup();
    const { path } = e.createSession({ owner: OWNER, notifier: '/n', identity: ROOT, settings: {} });
    expect(codeOf(() => e.checkCgroupClaim(path, ALICE, '/a'))).toBe('NSD_ERR_NOT_OWNER');
    expect(codeOf(() => e.claimCgroup(path, ALICE, '/a', 1001))).toBe('NSD_ERR_NOT_OWNER');
    expect(codeOf(() => e.checkCgroupClaim('/sessions/none', ME, '/a'))).toBe('NSD_ERR_SESSION_NOT_FOUND');
    expect(codeOf(() => e.checkCgroupClaim(path, ME, 'a'))).toBe('NSD_ERR_BAD_CGROUP_PATH');
    expect(codeOf(() => e.checkCgroupClaim(path, { owner: ':1.99', uid: 0 }, '/a'))).toBe('no error');
  });

  it('a session claims at most MAX_CGROUP_CLAIMS cgroups', () => {
    const e = setup();
    const { path } = e.createSession({ owner: OWNER, notifier: '/n', identity: ROOT, settings: {} });
    for (let i = 0; i < MAX_CGROUP_CLAIMS; i++) e.claimCgroup(path, ME, `/c${i}`, 0);
    expect(codeOf(() => e.claimCgroup(path, ME, '/one-more', 0))).toBe('NSD_ERR_CGROUP_CLAIM_LIMIT');
    expect(e.sessions()[0]!.cgroups).toHaveLength(MAX_CGROUP_CLAIMS);
  });

  it('two sessions claiming one cgroup: the identity-owner rule decides (the older wins, a Priority session beats it)', () => {
    const e = setup();
    const older = e.createSession({ owner: OWNER, notifier: '/old', identity: ROOT, settings: {} }).path;
    const newer = e.createSession({ owner: OWNER, notifier: '/new', identity: ROOT, settings: {} }).path;
    e.claimCgroup(newer, ME, '/shared', 0);
    e.claimCgroup(older, ME, '/shared', 0);
    expect(cgroupClassifiers(e)).toEqual([{ kind: 'cgroup', key: '/shared', sessionKey: 's1' }]);
    e.destroySession(older, ME);
    expect(cgroupClassifiers(e)).toEqual([{ kind: 'cgroup', key: '/shared', sessionKey: 's2' }]);

    // A policy with Priority=true for alice: her session owns the cgroup although it is newer.
    e.loadPolicy('alice.policy', '[alice]\nuid=alice\nPriority=true\n');
    const prio = e.createSession({ owner: ALICE.owner, notifier: '/p', identity: alice, settings: {} }).path;
    e.claimCgroup(prio, ALICE, '/shared', 1001);
    expect(cgroupClassifiers(e)).toEqual([{ kind: 'cgroup', key: '/shared', sessionKey: 's3' }]);
  });

  it('claims add to the policy claim of the session instead of replacing it', () => {
    const e = setup();
    e.loadPolicy('alice.policy', '[alice]\nuid=alice\n');
    const s = e.createSession({ owner: ALICE.owner, notifier: '/n', identity: alice, settings: {} }).path;
    e.claimCgroup(s, ALICE, '/alice/app', 1001);
    expect(e.kernelState().firewall.classifiers).toEqual([
      { kind: 'cgroup', key: '/alice/app', sessionKey: 's1' },
      { kind: 'uid', key: '1001', sessionKey: 's1' },
    ]);
  });
});

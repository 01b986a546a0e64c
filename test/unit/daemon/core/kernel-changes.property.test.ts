/**
 * The engine hands the kernel-state memo only the sessions each call touched (session-table.ts
 * records them). If a call changed a session without recording it, the kept state would drift
 * from the truth: after random sequences of every engine call that can change a session's kernel
 * input, the kept state must equal the whole computation over all sessions.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Caller, Engine } from '../../../../daemon/core/engine.js';
import { computeKernelState } from '../../../../daemon/core/kernel-state.js';
import type { Identity } from '../../../../daemon/core/policy.js';
import type { RawValue } from '../../../../daemon/core/settings.js';
import { alice, as, bool, ROOT, str, uplink } from '../../../fakes/links.js';

const OWNERS = [':1.7', ':1.8'];
const ROOT_CALLER: Caller = { owner: ':1.7', uid: 0 };
const LINKS = [
  [2, 'eth0', 'ethernet'],
  [3, 'wlan0', 'wifi'],
  [4, 'wwan0', 'cellular'],
] as const;

const settingsArb = fc.constantFrom<Record<string, RawValue>>(
  {},
  { SourceIPRule: bool(true) },
  { AllowedBearers: as(['wifi']) },
  { AllowedBearers: as(['cellular']), SourceIPRule: bool(true) },
  { ConnectionType: str('internet') },
);

const opArb = fc.oneof(
  fc.record({
    op: fc.constant('create' as const),
    owner: fc.integer({ min: 0, max: 1 }),
    alice: fc.boolean(),
    settings: settingsArb,
  }),
  fc.record({
    op: fc.constantFrom('destroy' as const, 'connect' as const, 'disconnect' as const),
    at: fc.nat(),
  }),
  fc.record({ op: fc.constant('change' as const), at: fc.nat(), settings: settingsArb }),
  fc.record({ op: fc.constant('claim' as const), at: fc.nat(), cgroup: fc.constantFrom('/a', '/b', '/c') }),
  fc.record({
    op: fc.constant('link' as const),
    link: fc.integer({ min: 0, max: 2 }),
    carrier: fc.boolean(),
    v4: fc.constantFrom<string | null | undefined>(undefined, null, '203.0.113.9'),
  }),
  fc.record({ op: fc.constant('linkRemoved' as const), link: fc.integer({ min: 0, max: 2 }) }),
  fc.record({ op: fc.constant('online' as const), link: fc.integer({ min: 0, max: 2 }), online: fc.boolean() }),
  fc.record({
    op: fc.constant('policy' as const),
    text: fc.constantFrom(
      null,
      '[alice]\nuid=alice\n',
      '[alice]\nuid=alice\nPriority=true\nSourceIPRule=true\n',
      '[staff]\ngid=staff\nAllowedBearers=wifi\n',
    ),
  }),
  fc.record({ op: fc.constant('ownerGone' as const), owner: fc.integer({ min: 0, max: 1 }) }),
  fc.record({ op: fc.constant('offline' as const), offline: fc.boolean() }),
  fc.record({ op: fc.constant('kernel' as const) }),
  // The memo takes the changes without publishing a state (what the runtime asks per call).
  fc.record({ op: fc.constant('version' as const) }),
  fc.record({ op: fc.constant('version' as const) }),
);

type Op = typeof opArb extends fc.Arbitrary<infer T> ? T : never;

function run(e: Engine, op: Op, notifiers: { n: number }): void {
  const paths = e.sessions().map((s) => s.path);
  const pick = (at: number) => paths[at % Math.max(1, paths.length)];
  try {
    switch (op.op) {
      case 'create': {
        const identity: Identity = op.alice ? alice : ROOT;
        e.createSession({
          owner: OWNERS[op.owner]!,
          notifier: `/n${notifiers.n++}`,
          identity,
          settings: op.settings,
        });
        return;
      }
      case 'destroy':
      case 'connect':
      case 'disconnect': {
        const path = pick(op.at);
        if (!path) return;
        if (op.op === 'destroy') e.destroySession(path, ROOT_CALLER);
        else if (op.op === 'connect') e.connect(path, ROOT_CALLER);
        else e.disconnect(path, ROOT_CALLER);
        return;
      }
      case 'change': {
        const path = pick(op.at);
        for (const [k, v] of Object.entries(op.settings)) if (path) e.change(path, ROOT_CALLER, k, v);
        return;
      }
      case 'claim': {
        const path = pick(op.at);
        if (path) e.claimCgroup(path, ROOT_CALLER, op.cgroup, 0);
        return;
      }
      case 'link': {
        const [ifindex, name, bearer] = LINKS[op.link]!;
        e.linkChanged(uplink(ifindex, name, bearer, { carrier: op.carrier, v4: op.v4 }));
        return;
      }
      case 'linkRemoved':
        e.linkRemoved(LINKS[op.link]![0]);
        return;
      case 'online': {
        const s = e.services().find((x) => x.ifindex === LINKS[op.link]![0]);
        if (s) e.onlineStatus(s.id, 4, { online: op.online, portal: null });
        return;
      }
      case 'policy':
        if (op.text === null) e.removePolicy('p.policy');
        else e.loadPolicy('p.policy', op.text);
        return;
      case 'ownerGone':
        e.ownerGone(OWNERS[op.owner]!);
        return;
      case 'offline':
        e.setOfflineMode(op.offline);
        return;
      case 'kernel':
        e.kernelState();
        return;
      case 'version':
        e.kernelVersion();
        return;
    }
  } catch (err) {
    // Refused calls (an emergency session busy, limits) must leave nothing half-applied: the
    // comparison below still holds them to that.
    if (!(err instanceof Error && 'code' in err)) throw err;
  }
}

describe('Engine.kernelState per change', () => {
  it('property: after any sequence of calls it equals the whole computation over every session', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), fc.boolean(), (ops, everyStep) => {
        const e = new Engine();
        for (const [ifindex, name, bearer] of LINKS) e.linkChanged(uplink(ifindex, name, bearer));
        const notifiers = { n: 0 };
        for (const op of ops) {
          run(e, op, notifiers);
          // Checked after every call, or only at the end (changes then pile up between reads).
          if (everyStep) expect(e.kernelState()).toEqual(computeKernelState(e.kernelInput()));
        }
        expect(e.kernelState()).toEqual(computeKernelState(e.kernelInput()));
      }),
      { numRuns: 600 },
    );
  });

  it('a claim-less session leaves nothing in the firewall state; a cgroup claim brings its marking', () => {
    const e = new Engine();
    for (const [ifindex, name, bearer] of LINKS) e.linkChanged(uplink(ifindex, name, bearer));
    const { path } = e.createSession({ owner: OWNERS[0]!, notifier: '/x', identity: ROOT, settings: {} });
    expect(e.kernelState().firewall.sessions).toEqual([]);
    e.claimCgroup(path, ROOT_CALLER, '/x', 0);
    expect(e.kernelState().firewall.sessions.map((s) => s.sessionKey)).toEqual(['s1']);
    e.destroySession(path, ROOT_CALLER);
    expect(e.kernelState().firewall.sessions).toEqual([]);
  });
});

describe('Engine.kernelVersion', () => {
  it('grows only when the desired state changed, and kernelState() then publishes a new state', () => {
    const e = new Engine();
    for (const [ifindex, name, bearer] of LINKS) e.linkChanged(uplink(ifindex, name, bearer));
    const first = e.kernelState();
    const v0 = e.kernelVersion();
    expect(e.kernelVersion()).toBe(v0);
    // A session that claims nothing changes nothing in the kernel.
    e.createSession({ owner: OWNERS[0]!, notifier: '/n0', identity: ROOT, settings: {} });
    expect(e.kernelVersion()).toBe(v0);
    expect(e.kernelState()).toBe(first);
    const { path } = e.createSession({
      owner: OWNERS[0]!,
      notifier: '/n1',
      identity: ROOT,
      settings: { SourceIPRule: { signature: 'b', value: true } },
    });
    const v1 = e.kernelVersion();
    expect(v1).toBeGreaterThan(v0);
    const second = e.kernelState();
    expect(second).not.toBe(first);
    expect(second).toEqual(computeKernelState(e.kernelInput()));
    e.destroySession(path, ROOT_CALLER);
    expect(e.kernelVersion()).toBeGreaterThan(v1);
    expect(e.kernelState()).toEqual(computeKernelState(e.kernelInput()));
  });
});

describe('Effects.kernelDirty of session calls', () => {
  it('a session that claims nothing is created and destroyed without asking for a kernel check', () => {
    const e = new Engine();
    for (const [ifindex, name, bearer] of LINKS) e.linkChanged(uplink(ifindex, name, bearer));
    e.kernelState();
    const plain = e.createSession({ owner: OWNERS[0]!, notifier: '/p', identity: ROOT, settings: {} });
    expect(plain.effects.kernelDirty).toBe(false);
    // Once it claims, it is the kernel's (once noted, as the runtime does at once): its end is a
    // change too. A claim and an end with no note between cancel out.
    expect(e.claimCgroup(plain.path, ROOT_CALLER, '/p', 0).kernelDirty).toBe(true);
    e.kernelVersion();
    expect(e.destroySession(plain.path, ROOT_CALLER).kernelDirty).toBe(true);
    const brief = e.createSession({ owner: OWNERS[0]!, notifier: '/b', identity: ROOT, settings: {} });
    e.claimCgroup(brief.path, ROOT_CALLER, '/b', 0);
    const v = e.kernelVersion();
    expect(e.kernelState()).toEqual(computeKernelState(e.kernelInput()));
    e.destroySession(brief.path, ROOT_CALLER);
    expect(e.kernelVersion()).toBeGreaterThan(v);
    const sip = e.createSession({
      owner: OWNERS[0]!,
      notifier: '/s',
      identity: ROOT,
      settings: { SourceIPRule: { signature: 'b', value: true } },
    });
    expect(sip.effects.kernelDirty).toBe(true);
    e.kernelState();
    const other = e.createSession({ owner: OWNERS[0]!, notifier: '/q', identity: ROOT, settings: {} });
    expect(other.effects.kernelDirty).toBe(false);
    expect(e.destroySession(other.path, ROOT_CALLER).kernelDirty).toBe(false);
    expect(e.destroySession(sip.path, ROOT_CALLER).kernelDirty).toBe(true);
    expect(e.kernelState()).toEqual(computeKernelState(e.kernelInput()));
  });
});

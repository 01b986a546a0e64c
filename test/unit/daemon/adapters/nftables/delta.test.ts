import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planDelta } from '../../../../../daemon/adapters/nftables/delta.js';
import { indexState, snatKeys } from '../../../../../daemon/adapters/nftables/delta-index.js';
import { diffTable } from '../../../../../daemon/adapters/nftables/diff.js';
import { MSG } from '../../../../../daemon/adapters/nftables/netlink-encode.js';
import { buildRuleset } from '../../../../../daemon/adapters/nftables/ruleset.js';
import type {
  Classifier,
  FirewallState,
  ServiceMarking,
  SessionMarking,
} from '../../../../../daemon/core/kernel-state-types.js';

const MASK = 0x0fff0000;
const TAGS = 0xffff;
const SVC = {
  b: { mark: 0x20000, ifname: 'eth-b', snat: [{ family: 4 as const, address: '198.51.100.18' }] },
  c: {
    mark: 0x30000,
    ifname: 'eth-c',
    snat: [
      { family: 4 as const, address: '203.0.113.18' },
      { family: 6 as const, address: '2001:db8:3::2' },
    ],
  },
};
const opts = { cgroup: () => null };
/** A session with one classifier on a service that has its chain: two counters, its tx, rx and classifier elements. */
const NEW_SESSION = [MSG.NEWOBJ, MSG.NEWOBJ, MSG.NEWSETELEM, MSG.NEWSETELEM, MSG.NEWSETELEM];

function session(key: string, tag: number, svc: 'b' | 'c' | null): SessionMarking {
  return svc === null ? { sessionKey: key, mark: 0, tag, ifname: '', snat: [] } : { sessionKey: key, tag, ...SVC[svc] };
}

function fw(sessions: SessionMarking[], classifiers: Classifier[] = [], services?: ServiceMarking[]): FirewallState {
  return { mask: MASK, tagMask: TAGS, sessions, classifiers, ...(services ? { services } : {}) };
}

describe('nftables session delta', () => {
  it('moving one session rewrites only the data elements of its claims: no chain, rule or counter', () => {
    const a = fw([session('s1', 1, 'b'), session('s2', 2, 'b')], [{ kind: 'uid', key: '1001', sessionKey: 's2' }]);
    const known = buildRuleset(a, opts).table;
    const ix = indexState(a);
    const b = fw([session('s1', 1, 'b'), { ...session('s2', 2, 'b'), mark: 0x20000 }], a.classifiers);
    expect(planDelta(ix, b, 'netsession')?.commands).toEqual([]);
    const moved = fw([session('s1', 1, 'b'), session('s2', 2, 'c')], a.classifiers);
    // c had no session: its chain, rule and svc element come with s2, and its SNAT entries
    // (postrouting rewritten: flush, b's rule, c's two rules).
    const d0 = planDelta(ix, moved, 'netsession');
    expect(d0?.commands.map((c) => c.type)).toEqual([
      MSG.NEWCHAIN,
      MSG.NEWRULE,
      MSG.DELSETELEM,
      MSG.NEWSETELEM,
      MSG.NEWSETELEM,
      MSG.DELRULE,
      MSG.NEWRULE,
      MSG.NEWRULE,
      MSG.NEWRULE,
    ]);
    d0!.commit(known);
    expect(diffTable(known, buildRuleset(moved, opts).table)).toEqual([]);
    // Both services have sessions before and after: one delete and one add of the uid element.
    const two = fw([session('s1', 1, 'b'), session('s2', 2, 'b'), session('s3', 3, 'c')], a.classifiers);
    const full = buildRuleset(two, opts).table;
    const ix2 = indexState(two);
    const next = fw([session('s1', 1, 'b'), session('s2', 2, 'c'), session('s3', 3, 'c')], a.classifiers);
    const d = planDelta(ix2, next, 'netsession');
    expect(d?.commands.map((c) => c.type)).toEqual([MSG.DELSETELEM, MSG.NEWSETELEM]);
    expect(d?.ops).toBe(2);
    d!.commit(full);
    expect(diffTable(full, buildRuleset(next, opts).table)).toEqual([]);
    // A session that claims nothing moves without any kernel change but SNAT's.
    const ix3 = indexState(next);
    const d3 = planDelta(
      ix3,
      fw([session('s1', 1, 'c'), session('s2', 2, 'c'), session('s3', 3, 'c')], a.classifiers),
      'netsession',
    );
    expect(d3?.commands.map((c) => c.type)).not.toContain(MSG.NEWSETELEM);
    expect(d3?.commands.map((c) => c.type)).not.toContain(MSG.NEWCHAIN);
  });

  it('a new session is two counters and its elements; the last one of a service takes the chain with it', () => {
    const a = fw([session('s1', 1, 'b')], [{ kind: 'uid', key: '1001', sessionKey: 's1' }]);
    const ix = indexState(a);
    const known = buildRuleset(a, opts).table;
    const b = fw(
      [session('s1', 1, 'b'), session('s2', 2, 'b')],
      [...a.classifiers, { kind: 'gid', key: '7', sessionKey: 's2' }],
    );
    const d = planDelta(ix, b, 'netsession')!;
    expect(d.commands.map((c) => c.type)).toEqual(NEW_SESSION);
    d.commit(known);
    const c = fw([session('s2', 2, 'b')], [{ kind: 'gid', key: '7', sessionKey: 's2' }]);
    const d2 = planDelta(ix, c, 'netsession')!;
    d2.commit(known);
    expect(known).toEqual(buildRuleset(c, opts).table);
    const gone = planDelta(ix, fw([]), 'netsession')!;
    // gid element, tx and rx elements, svc element; then the chain and both counters.
    expect(gone.commands.map((x) => x.type)).toEqual([
      MSG.DELSETELEM,
      MSG.DELSETELEM,
      MSG.DELSETELEM,
      MSG.DELSETELEM,
      MSG.DELRULE,
      MSG.DELCHAIN,
      MSG.DELOBJ,
      MSG.DELOBJ,
    ]);
    gone.commit(known);
    expect(known).toEqual(buildRuleset(fw([]), opts).table);
  });

  it('with the services listed, sessions come and go without their service chain, svc element or SNAT', () => {
    const listed = [SVC.b, SVC.c];
    const a = fw([], [], listed);
    const known = buildRuleset(a, opts).table;
    expect([...known.chains.keys()]).toEqual(expect.arrayContaining(['svc_00020000', 'svc_00030000']));
    expect(known.chains.get('postrouting')?.rules).toHaveLength(3);
    const ix = indexState(a);
    const one = fw(
      [session('s1', 1, 'b')],
      [{ kind: 'source', key: '198.51.100.18', family: 4, sessionKey: 's1' }],
      listed,
    );
    const d = planDelta(ix, one, 'netsession')!;
    expect(d.commands.map((c) => c.type)).toEqual(NEW_SESSION);
    d.commit(known);
    expect(known).toEqual(buildRuleset(one, opts).table);
    const none = fw([], [], listed);
    const gone = planDelta(ix, none, 'netsession')!;
    expect(gone.commands.map((c) => c.type)).toEqual([
      MSG.DELSETELEM,
      MSG.DELSETELEM,
      MSG.DELSETELEM,
      MSG.DELOBJ,
      MSG.DELOBJ,
    ]);
    gone.commit(known);
    expect(known).toEqual(buildRuleset(none, opts).table);
    // c disconnects: its chain, svc element and SNAT rules go; b's SNAT rule is written again.
    const bOnly = fw([], [], [SVC.b]);
    const lost = planDelta(ix, bOnly, 'netsession')!;
    expect(lost.commands.map((c) => c.type)).toEqual([MSG.DELSETELEM, MSG.DELRULE, MSG.NEWRULE, MSG.DELCHAIN]);
    lost.commit(known);
    expect(known).toEqual(buildRuleset(bOnly, opts).table);
    // A service listed twice or with a mark outside the mask: the full path decides (and warns).
    expect(planDelta(ix, fw([], [], [SVC.b, SVC.b]), 't')).toBeNull();
    expect(planDelta(ix, fw([], [], [{ ...SVC.b, mark: 0x1 }]), 't')).toBeNull();
    expect(buildRuleset(fw([], [], [SVC.b, SVC.b]), opts).warnings).toEqual([expect.stringContaining('listed twice')]);
  });

  it('SNAT keys are derived once per SNAT array, and again when the mark or interface differs', () => {
    const snat = [
      { family: 4 as const, address: '198.51.100.10' },
      { family: 6 as const, address: '2001:db8:0:0::1' },
    ];
    const a = snatKeys({ mark: 0x10000, ifname: 'eth0', snat });
    expect(a).toEqual([
      ['65536 eth0 4', '198.51.100.10'],
      ['65536 eth0 6', '2001:db8::1'],
    ]);
    expect(snatKeys({ mark: 0x10000, ifname: 'eth0', snat })).toBe(a);
    expect(snatKeys({ mark: 0x20000, ifname: 'eth0', snat })[0]![0]).toBe('131072 eth0 4');
    expect(snatKeys({ mark: 0x10000, ifname: 'eth9', snat })[0]![0]).toBe('65536 eth9 4');
    expect(snatKeys({ mark: 0, ifname: 'eth0', snat })).toEqual([]);
  });

  it('gives up (full path) on other masks, cgroup claims changing, invalid or duplicate input, disagreeing SNAT addresses', () => {
    const a = fw([session('s1', 1, 'b')], [{ kind: 'uid', key: '1001', sessionKey: 's1' }]);
    const ix = () => indexState(a);
    expect(planDelta(ix(), { ...a, mask: 0x0ff00000 }, 't')).toBeNull();
    expect(
      planDelta(ix(), fw(a.sessions, [...a.classifiers, { kind: 'cgroup', key: '/x', sessionKey: 's1' }]), 't'),
    ).toBeNull();
    expect(planDelta(ix(), fw([...a.sessions, session('bad key', 2, 'b')], a.classifiers), 't')).toBeNull();
    expect(planDelta(ix(), fw([...a.sessions, session('s2', 1, 'b')], a.classifiers), 't')).toBeNull(); // tag taken
    expect(planDelta(ix(), fw([...a.sessions, session('s1', 2, 'b')], a.classifiers), 't')).toBeNull(); // key twice
    expect(planDelta(ix(), fw(a.sessions, [{ kind: 'uid', key: '1002', sessionKey: 'gone' }]), 't')).toBeNull();
    expect(planDelta(ix(), fw([], a.classifiers), 't')).toBeNull(); // a removed session still owns a claim
    const other = { ...session('s2', 2, 'b'), snat: [{ family: 4 as const, address: '198.51.100.99' }] };
    expect(planDelta(ix(), fw([...a.sessions, other], a.classifiers), 't')).toBeNull();
    // A refusal leaves the index usable: the same index still plans a valid change.
    const i = ix();
    expect(planDelta(i, fw([...a.sessions, session('s1', 2, 'b')], a.classifiers), 't')).toBeNull();
    expect(planDelta(i, fw([...a.sessions, session('s2', 2, 'b')], a.classifiers), 't')).not.toBeNull();
  });

  /** `next` with the objects of `prev` wherever they are equal, as the core's memo hands them over. */
  function share(prev: FirewallState, next: FirewallState): FirewallState {
    const same = <T>(a: T | undefined, b: T): T => (a !== undefined && JSON.stringify(a) === JSON.stringify(b) ? a : b);
    const sessions = new Map(prev.sessions.map((x) => [x.sessionKey, x]));
    const classifiers = new Map(prev.classifiers.map((c) => [`${c.kind} ${c.key}`, c]));
    const s = next.sessions.map((x) => same(sessions.get(x.sessionKey), x));
    const c = next.classifiers.map((x) => same(classifiers.get(`${x.kind} ${x.key}`), x));
    const equal = <T>(a: readonly T[], b: readonly T[]) => a.length === b.length && a.every((x, i) => x === b[i]);
    const services =
      next.services && prev.services && JSON.stringify(next.services) === JSON.stringify(prev.services)
        ? prev.services
        : next.services;
    return {
      ...next,
      sessions: equal(s, prev.sessions) ? prev.sessions : s,
      classifiers: equal(c, prev.classifiers) ? prev.classifiers : c,
      ...(services ? { services } : {}),
    };
  }

  it('a state that shares the previous objects is compared only where it differs, with the same result', () => {
    const many = Array.from({ length: 50 }, (_, i) => session(`k${i}`, i + 1, i % 2 ? 'b' : 'c'));
    const a = fw(many, [{ kind: 'uid', key: '1001', sessionKey: 'k7' }]);
    const known = buildRuleset(a, opts).table;
    const ix = indexState(a);
    // Move k20, add k50, remove k30: the rest are the same objects.
    const sessions = [
      ...many.slice(0, 20),
      session('k20', 21, 'b'),
      ...many.slice(21, 30),
      ...many.slice(31),
      session('k50', 51, 'b'),
    ];
    const b = fw(sessions, a.classifiers);
    const d = planDelta(ix, b, 'netsession');
    d!.commit(known);
    expect(known).toEqual(buildRuleset(b, opts).table);
    // A key outside the changed window repeated inside it is still refused.
    expect(planDelta(ix, fw([...sessions, session('k3', 99, 'b')], a.classifiers), 't')).toBeNull();
  });

  for (const shared of [false, true])
    it(`property: committing each delta leaves the model equal to the full build of the new state${shared ? ' (objects shared as the core shares them)' : ''}`, () => {
      const keys = ['s1', 's2', 's3', 's4', 's5'];
      const stateArb = fc
        .record({
          present: fc.subarray(keys),
          tagBase: fc.integer({ min: 1, max: 3 }),
          svc: fc.array(fc.constantFrom<'b' | 'c' | 'c2' | null>('b', 'c', 'c2', null), { minLength: 5, maxLength: 5 }),
          uids: fc.array(fc.tuple(fc.integer({ min: 1000, max: 1004 }), fc.integer({ min: 0, max: 4 })), {
            maxLength: 4,
          }),
          sources: fc.array(
            fc.tuple(fc.constantFrom('198.51.100.18', '2001:db8:3::2'), fc.integer({ min: 0, max: 4 })),
            { maxLength: 2 },
          ),
          listed: fc.option(fc.tuple(fc.boolean(), fc.boolean()), { nil: null }),
        })
        .map(({ present, tagBase, svc, uids, sources, listed }) => {
          // c2: service c after its address changed (every session on c moves to it in the same state).
          const moved = svc.includes('c2');
          const pick = (x: 'b' | 'c' | 'c2' | null): 'b' | 'c' | null => (x === 'c2' ? 'c' : x);
          const sessions = present.map((k) => {
            const s = session(k, tagBase * 10 + keys.indexOf(k), pick(svc[keys.indexOf(k)] ?? null));
            return moved && s.ifname === 'eth-c'
              ? { ...s, snat: [{ family: 4 as const, address: '203.0.113.99' }] }
              : s;
          });
          const live = sessions.map((s) => s.sessionKey);
          const claims = new Map<string, Classifier>();
          if (live.length) {
            for (const [uid, owner] of uids)
              claims.set(`uid${uid}`, {
                kind: 'uid',
                key: String(uid),
                sessionKey: live[owner % live.length] as string,
              });
            for (const [addr, owner] of sources)
              claims.set(`src${addr}`, {
                kind: 'source',
                key: addr,
                family: addr.includes(':') ? 6 : 4,
                sessionKey: live[owner % live.length] as string,
              });
          }
          // The services the core lists: a subset (connected ones), or none listed at all (older states).
          const cNow = moved ? { ...SVC.c, snat: [{ family: 4 as const, address: '203.0.113.99' }] } : SVC.c;
          const services = listed === null ? undefined : [SVC.b, cNow].filter((_, i) => listed[i]);
          return fw(sessions, [...claims.values()], services);
        });
      let total = 0;
      fc.assert(
        fc.property(fc.array(stateArb, { minLength: 2, maxLength: 8 }), (states) => {
          let known = buildRuleset(states[0]!, opts).table;
          let ix = indexState(states[0]!);
          let deltas = 0;
          let applied = states[0]!;
          for (const generated of states.slice(1)) {
            const next = shared ? share(applied, generated) : generated;
            applied = next;
            const want = buildRuleset(next, opts);
            const d = planDelta(ix, next, 'netsession');
            if (d === null) {
              known = want.table;
              ix = indexState(next);
              continue;
            }
            deltas++;
            d.commit(known);
            expect(diffTable(known, want.table)).toEqual([]);
            expect(known).toEqual(want.table);
          }
          total += deltas;
        }),
        { numRuns: 300 },
      );
      // The property must exercise the session path, not only the full one.
      expect(total).toBeGreaterThan(100);
    });
});

import { describe, expect, it } from 'vitest';
import type { CgroupRef } from '../../../../../daemon/adapters/firewall/cgroup.js';
import { fingerprint } from '../../../../../daemon/adapters/firewall/fingerprint.js';
import type { RuleSpec } from '../../../../../daemon/adapters/iptables/ruleset.js';
import {
  buildRuleset,
  cgroupRule,
  classifyJumpRule,
  countRule,
  gidRule,
  restoreRule,
  sessionMarkRule,
  sessionSaveRule,
  snatRule,
  sourceRule,
  uidRule,
  uncountedRule,
  withComment,
} from '../../../../../daemon/adapters/iptables/ruleset.js';
import type { FirewallState } from '../../../../../daemon/core/kernel-state-types.js';

const MASK = 0x0fff0000;
const TAG = 0x0000ffff;
const OURS = MASK | TAG;

const line = (s: RuleSpec) => (s.match ? `${s.match} ${s.target}` : s.target);

const cgroups: Record<string, CgroupRef> = {
  '/a': { id: '100', nftPath: 'a', level: 1 },
  '/a/b': { id: '101', nftPath: 'a/b', level: 2 },
};
const resolver = (p: string): CgroupRef | null => cgroups[p] ?? null;

function state(partial: Partial<FirewallState> = {}): FirewallState {
  return {
    mask: MASK,
    tagMask: TAG,
    sessions: [
      {
        sessionKey: 's1',
        mark: 0x20000,
        tag: 1,
        ifname: 'eth-b',
        snat: [
          { family: 4, address: '198.51.100.18' },
          { family: 6, address: '2001:DB8:2:0::2' },
        ],
      },
    ],
    classifiers: [{ kind: 'uid', key: '1001', sessionKey: 's1' }],
    ...partial,
  };
}

/** The rule texts of a chain, comments stripped. */
function texts(rules: Array<{ text?: string }> | undefined): string[] {
  return (rules ?? []).map((r) =>
    (r.text ?? '').replace(/ ?-m comment --comment "ns:[0-9a-f]{16}" ?/, (m) =>
      m.startsWith(' ') && m.endsWith(' ') ? ' ' : '',
    ),
  );
}

describe('iptables rule builders (exact iptables arguments)', () => {
  it('mark, restore, save and counting rules', () => {
    expect(line(restoreRule(OURS))).toBe(
      '-m connmark ! --mark 0x0/0xfffffff -j CONNMARK --restore-mark --mask 0xfffffff',
    );
    expect(line(classifyJumpRule(OURS))).toBe('-m conntrack --ctstate NEW -m mark --mark 0x0/0xfffffff -j NS-CLASSIFY');
    expect(line(uncountedRule(TAG))).toBe('-m connmark --mark 0x0/0xffff -j RETURN');
    expect(line(countRule(7, TAG, 'ns-tx-s7'))).toBe(
      '-m connmark --mark 0x7/0xffff -m nfacct --nfacct-name ns-tx-s7 -j RETURN',
    );
    expect(line(sessionMarkRule(OURS, 0x20000, 1))).toBe('-j MARK --set-xmark 0x20001/0xfffffff');
    expect(line(sessionSaveRule(OURS))).toBe('-j CONNMARK --save-mark --mask 0xfffffff');
  });

  it('classifier rules go to the session chain (first match wins); gid includes supplementary groups', () => {
    expect(line(sourceRule(4, '198.51.100.18', 's1'))).toBe('-s 198.51.100.18/32 -g NS-S-s1');
    expect(line(sourceRule(6, '2001:db8::1', 's1'))).toBe('-s 2001:db8::1/128 -g NS-S-s1');
    expect(line(cgroupRule('/a/b', 's1', '9'))).toBe('-m cgroup --path /a/b -g NS-S-s1');
    expect(line(uidRule(1001, 's1'))).toBe('-m owner --uid-owner 1001 -g NS-S-s1');
    expect(line(gidRule(1002, 's1'))).toBe('-m owner --gid-owner 1002 --suppl-groups -g NS-S-s1');
  });

  it('SNAT only for our mark, out of the service interface, from a local address', () => {
    expect(line(snatRule(MASK, 0x20000, 'eth-b', '198.51.100.18'))).toBe(
      '-o eth-b -m mark --mark 0x20000/0xfff0000 -m addrtype --src-type LOCAL -j SNAT --to-source 198.51.100.18',
    );
  });

  it('the comment goes between the matches and the target and carries the fingerprint (salt included)', () => {
    const r = withComment(uidRule(5, 's1'));
    expect(r.id).toBe(fingerprint('-m owner --uid-owner 5 -g NS-S-s1'));
    expect(r.text).toBe(`-m owner --uid-owner 5 -m comment --comment "ns:${r.id}" -g NS-S-s1`);
    expect(withComment(sessionSaveRule(OURS)).text).toMatch(/^-m comment --comment "ns:[0-9a-f]{16}" -j CONNMARK/);
    expect(withComment(cgroupRule('/a', 's1', '1')).id).not.toBe(withComment(cgroupRule('/a', 's1', '2')).id);
  });
});

describe('buildRuleset', () => {
  it('one session: the fixed chains, hooks, session chain, counting rules (filter), SNAT per family, two NFACCT objects', () => {
    const { model, warnings } = buildRuleset(state(), { cgroup: resolver });
    expect(warnings).toEqual([]);
    expect([...model.nfacct]).toEqual(['ns-tx-s1', 'ns-rx-s1']);
    const m4 = model.families[4].tables.mangle;
    expect([...m4.chains.keys()]).toEqual(['NS-PREROUTING', 'NS-OUTPUT', 'NS-CLASSIFY', 'NS-S-s1']);
    expect(m4.hooks.map((h) => `${h.chain}->${h.target}`)).toEqual(['PREROUTING->NS-PREROUTING', 'OUTPUT->NS-OUTPUT']);
    expect(texts(m4.chains.get('NS-OUTPUT')?.rules)).toEqual([
      '-m connmark ! --mark 0x0/0xfffffff -j CONNMARK --restore-mark --mask 0xfffffff',
      '-m conntrack --ctstate NEW -m mark --mark 0x0/0xfffffff -j NS-CLASSIFY',
    ]);
    expect(texts(m4.chains.get('NS-PREROUTING')?.rules)).toEqual([
      '-m connmark ! --mark 0x0/0xfffffff -j CONNMARK --restore-mark --mask 0xfffffff',
    ]);
    expect(texts(m4.chains.get('NS-S-s1')?.rules)).toEqual([
      '-j MARK --set-xmark 0x20001/0xfffffff',
      '-j CONNMARK --save-mark --mask 0xfffffff',
    ]);
    const f4 = model.families[4].tables.filter;
    expect([...f4.chains.keys()]).toEqual(['NS-TX', 'NS-RX']);
    expect(f4.hooks.map((h) => `${h.chain}->${h.target}`)).toEqual(['OUTPUT->NS-TX', 'INPUT->NS-RX']);
    expect(texts(f4.chains.get('NS-TX')?.rules)).toEqual([
      '-m connmark --mark 0x0/0xffff -j RETURN',
      '-m connmark --mark 0x1/0xffff -m nfacct --nfacct-name ns-tx-s1 -j RETURN',
    ]);
    expect(texts(f4.chains.get('NS-RX')?.rules)).toEqual([
      '-m connmark --mark 0x0/0xffff -j RETURN',
      '-m connmark --mark 0x1/0xffff -m nfacct --nfacct-name ns-rx-s1 -j RETURN',
    ]);
    expect(texts(m4.chains.get('NS-CLASSIFY')?.rules)).toEqual(['-m owner --uid-owner 1001 -g NS-S-s1']);
    expect(model.families[4].tables.nat.hooks.map((h) => `${h.chain}->${h.target}`)).toEqual([
      'POSTROUTING->NS-POSTROUTING',
    ]);
    expect(texts(model.families[4].tables.nat.chains.get('NS-POSTROUTING')?.rules)).toEqual([
      '-o eth-b -m mark --mark 0x20000/0xfff0000 -m addrtype --src-type LOCAL -j SNAT --to-source 198.51.100.18',
    ]);
    expect(texts(model.families[6].tables.nat.chains.get('NS-POSTROUTING')?.rules)).toEqual([
      '-o eth-b -m mark --mark 0x20000/0xfff0000 -m addrtype --src-type LOCAL -j SNAT --to-source 2001:db8:2::2',
    ]);
    // Every rule of ours carries a distinct comment per chain position.
    for (const fam of [4, 6] as const) {
      for (const t of ['mangle', 'filter', 'nat'] as const) {
        for (const c of model.families[fam].tables[t].chains.values())
          for (const r of c.rules) expect(r.text).toContain(`--comment "ns:${r.id}"`);
      }
    }
  });

  it('classification order: source, then cgroups deepest first, then uid, then gid; sources only in their family', () => {
    const s = state({
      sessions: [
        { sessionKey: 's1', mark: 0x20000, tag: 1, ifname: 'eth-b', snat: [] },
        { sessionKey: 's2', mark: 0x30000, tag: 2, ifname: 'eth-c', snat: [] },
      ],
      classifiers: [
        { kind: 'gid', key: '50', sessionKey: 's2' },
        { kind: 'uid', key: '1001', sessionKey: 's1' },
        { kind: 'cgroup', key: '/a', sessionKey: 's1' },
        { kind: 'cgroup', key: '/a/b', sessionKey: 's2' },
        { kind: 'source', key: '2001:db8::5', family: 6, sessionKey: 's2' },
        { kind: 'source', key: '198.51.100.5', family: 4, sessionKey: 's1' },
      ],
    });
    const { model, warnings } = buildRuleset(s, { cgroup: resolver });
    expect(warnings).toEqual([]);
    expect(texts(model.families[4].tables.mangle.chains.get('NS-CLASSIFY')?.rules)).toEqual([
      '-s 198.51.100.5/32 -g NS-S-s1',
      '-m cgroup --path /a/b -g NS-S-s2',
      '-m cgroup --path /a -g NS-S-s1',
      '-m owner --uid-owner 1001 -g NS-S-s1',
      '-m owner --gid-owner 50 --suppl-groups -g NS-S-s2',
    ]);
    expect(texts(model.families[6].tables.mangle.chains.get('NS-CLASSIFY')?.rules)[0]).toBe(
      '-s 2001:db8::5/128 -g NS-S-s2',
    );
    expect(model.families[6].tables.mangle.chains.get('NS-CLASSIFY')?.rules).toHaveLength(5);
  });

  it('an unbound session is counted and tagged but gets no SNAT; sessions of one service share one SNAT rule', () => {
    const s = state({
      sessions: [
        { sessionKey: 'a', mark: 0x20000, tag: 1, ifname: 'eth-b', snat: [{ family: 4, address: '198.51.100.18' }] },
        { sessionKey: 'b', mark: 0x20000, tag: 2, ifname: 'eth-b', snat: [{ family: 4, address: '198.51.100.18' }] },
        { sessionKey: 'c', mark: 0, tag: 3, ifname: '', snat: [{ family: 4, address: '198.51.100.99' }] },
      ],
      classifiers: [],
    });
    const { model } = buildRuleset(s, { cgroup: resolver });
    expect(model.families[4].tables.nat.chains.get('NS-POSTROUTING')?.rules).toHaveLength(1);
    expect(model.families[6].tables.nat.chains.get('NS-POSTROUTING')?.rules).toHaveLength(0);
    expect(texts(model.families[4].tables.mangle.chains.get('NS-S-c')?.rules)[0]).toBe(
      '-j MARK --set-xmark 0x3/0xfffffff',
    );
    expect(model.nfacct.size).toBe(6);
  });

  it('a listed service keeps its SNAT rules without sessions; a bad service entry is skipped with a warning', () => {
    const s = state({
      sessions: [],
      classifiers: [],
      services: [
        { mark: 0x20000, ifname: 'eth-b', snat: [{ family: 4, address: '198.51.100.18' }] },
        { mark: 0x30000, ifname: 'eth-c', snat: [{ family: 6, address: '2001:db8:3::2' }] },
        { mark: 0x1, ifname: 'eth-d', snat: [{ family: 4, address: '203.0.113.9' }] },
        { mark: 0x40000, ifname: 'eth+', snat: [{ family: 4, address: '203.0.113.10' }] },
      ],
    });
    const { model, warnings } = buildRuleset(s, { cgroup: resolver });
    expect(texts(model.families[4].tables.nat.chains.get('NS-POSTROUTING')?.rules)).toEqual([
      '-o eth-b -m mark --mark 0x20000/0xfff0000 -m addrtype --src-type LOCAL -j SNAT --to-source 198.51.100.18',
    ]);
    expect(texts(model.families[6].tables.nat.chains.get('NS-POSTROUTING')?.rules)).toEqual([
      '-o eth-c -m mark --mark 0x30000/0xfff0000 -m addrtype --src-type LOCAL -j SNAT --to-source 2001:db8:3::2',
    ]);
    expect(warnings).toEqual([
      expect.stringMatching(/service mark 1 is zero or outside mask/),
      expect.stringMatching(/eth\+.*cannot be matched exactly/),
    ]);
  });

  it('skips what iptables cannot express, with a warning each; keeps the first of two claims', () => {
    const s = state({
      sessions: [
        { sessionKey: 's1', mark: 0x20000, tag: 1, ifname: 'eth-b', snat: [] },
        { sessionKey: 'a-key-that-is-far-too-long-for-iptables', mark: 0, tag: 2, ifname: '', snat: [] },
        { sessionKey: 'dup', mark: 0, tag: 1, ifname: '', snat: [] },
        { sessionKey: 'wild', mark: 0x20000, tag: 4, ifname: 'eth+', snat: [] },
        { sessionKey: 'badtag', mark: 0, tag: 0x10000, ifname: '', snat: [] },
      ],
      classifiers: [
        { kind: 'uid', key: '1001', sessionKey: 's1' },
        { kind: 'uid', key: '01001', sessionKey: 's1' },
        { kind: 'uid', key: 'root', sessionKey: 's1' },
        { kind: 'cgroup', key: '/missing', sessionKey: 's1' },
        { kind: 'cgroup', key: '/a b', sessionKey: 's1' },
        { kind: 'source', key: '198.51.100.300', sessionKey: 's1' },
        { kind: 'gid', key: '7', sessionKey: 'nobody' },
      ],
    });
    const { model, warnings } = buildRuleset(s, { cgroup: resolver });
    expect(warnings).toHaveLength(10);
    expect(warnings.join('\n')).toMatch(/far-too-long.*not a valid iptables chain/);
    expect(warnings.join('\n')).toMatch(/eth\+.*cannot be matched exactly/);
    expect(warnings.join('\n')).toMatch(/uid 01001: claimed twice/);
    expect(warnings.join('\n')).toMatch(/\/missing.*does not exist/);
    expect(warnings.join('\n')).toMatch(/"\/a b" cannot be passed to iptables/);
    expect([...model.families[4].tables.mangle.chains.keys()].filter((n) => n.startsWith('NS-S-'))).toEqual([
      'NS-S-s1',
    ]);
    expect(model.families[4].tables.mangle.chains.get('NS-CLASSIFY')?.rules).toHaveLength(1);
  });

  it('rejects masks that overlap, are zero or exceed 32 bits', () => {
    expect(() => buildRuleset(state({ mask: 0xffff, tagMask: 0xff }), { cgroup: resolver })).toThrow(/disjoint/);
    expect(() => buildRuleset(state({ mask: 0 }), { cgroup: resolver })).toThrow(/non-zero/);
    expect(() => buildRuleset(state({ tagMask: 2 ** 32 }), { cgroup: resolver })).toThrow();
  });

  it('is deterministic: the same state builds the same fingerprints', () => {
    const a = buildRuleset(state(), { cgroup: resolver }).model;
    const b = buildRuleset(structuredClone(state()), { cgroup: resolver }).model;
    const ids = (m: typeof a) =>
      [...m.families[4].tables.mangle.chains.values()].flatMap((c) => c.rules.map((r) => r.id));
    expect(ids(a)).toEqual(ids(b));
  });
});

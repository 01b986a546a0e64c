/**
 * iptables-save text in → model → ops → restore script out. The fixtures are real
 * `iptables-legacy-save` / `ip6tables-legacy-save` 1.8.9 output after the backend applied
 * FIXTURE_STATE (cgroup id 4242), with somebody else's chain FOREIGN hooked from OUTPUT, a stale
 * chain NS-OLD hooked through a rule with a match, a second `-j NS-OUTPUT` added by hand, a rule
 * in filter INPUT and an `NS-RAW` chain in the raw table (not a table of ours), both in v4 only.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  diffFamily,
  diffNfacct,
  editChain,
  opLine,
  opsToRestore,
} from '../../../../../daemon/adapters/iptables/diff.js';
import { emptyFamilyModel } from '../../../../../daemon/adapters/iptables/model.js';
import { parseNfacctList, parseSave, ruleId } from '../../../../../daemon/adapters/iptables/readback.js';
import { buildRuleset } from '../../../../../daemon/adapters/iptables/ruleset.js';
import type { FirewallState } from '../../../../../daemon/core/kernel-state-types.js';

const FIX = join(import.meta.dirname, 'fixtures');
const V4 = readFileSync(join(FIX, 'iptables-legacy-save-1.8.9-v4.txt'), 'utf8');
const V6 = readFileSync(join(FIX, 'ip6tables-legacy-save-1.8.9-v6.txt'), 'utf8');
const NFACCT = readFileSync(join(FIX, 'nfacct-list-1.0.2.txt'), 'utf8');

const FIXTURE_STATE: FirewallState = {
  mask: 0x0fff0000,
  tagMask: 0xffff,
  sessions: [
    {
      sessionKey: 's1',
      mark: 0x20000,
      tag: 1,
      ifname: 'eth-b',
      snat: [
        { family: 4, address: '198.51.100.18' },
        { family: 6, address: '2001:db8:2::2' },
      ],
    },
    { sessionKey: 's2', mark: 0, tag: 2, ifname: '', snat: [] },
  ],
  classifiers: [
    { kind: 'source', key: '198.51.100.18', family: 4, sessionKey: 's1' },
    { kind: 'source', key: '2001:db8:2::2', family: 6, sessionKey: 's1' },
    { kind: 'cgroup', key: '/iptexp/app', sessionKey: 's2' },
    { kind: 'uid', key: '1001', sessionKey: 's1' },
    { kind: 'gid', key: '1002', sessionKey: 's2' },
  ],
};
const cgroup = (p: string) => (p === '/iptexp/app' ? { id: '4242', nftPath: 'iptexp/app', level: 2 } : null);
const desired = (s: FirewallState = FIXTURE_STATE) => buildRuleset(s, { cgroup }).model;

describe('parseSave', () => {
  it('finds our chains with their comment ids, and hooks from built-in chains; ignores foreign chains and other tables', () => {
    const m = parseSave(V4);
    const mangle = m.tables.mangle;
    expect([...mangle.chains.keys()].sort()).toEqual([
      'NS-CLASSIFY',
      'NS-OLD',
      'NS-OUTPUT',
      'NS-PREROUTING',
      'NS-S-s1',
      'NS-S-s2',
    ]);
    expect(mangle.chains.get('NS-OLD')?.rules).toEqual([{ id: null, spec: '-j RETURN' }]);
    expect(m.tables.filter.chains.get('NS-TX')?.rules[1]).toEqual({
      id: 'f7a2ddb58fd41ccd',
      spec: '-m connmark --mark 0x1/0xffff -m nfacct --nfacct-name  ns-tx-s1 -m comment --comment "ns:f7a2ddb58fd41ccd" -j RETURN',
    });
    expect(mangle.hooks).toEqual([
      { chain: 'PREROUTING', target: 'NS-PREROUTING', spec: '-j NS-PREROUTING', plain: true },
      { chain: 'OUTPUT', target: 'NS-OUTPUT', spec: '-j NS-OUTPUT', plain: true },
      { chain: 'OUTPUT', target: 'NS-OLD', spec: '-m mark --mark 0x5 -j NS-OLD', plain: false },
      { chain: 'OUTPUT', target: 'NS-OUTPUT', spec: '-j NS-OUTPUT', plain: true },
    ]);
    expect([...m.tables.filter.chains.keys()].sort()).toEqual(['NS-RX', 'NS-TX']);
    expect(m.tables.filter.hooks.map((h) => h.target)).toEqual(['NS-RX', 'NS-TX']);
    expect([...m.tables.nat.chains.keys()]).toEqual(['NS-POSTROUTING']);
    expect(m.tables.nat.hooks).toHaveLength(1);
  });

  it('reads comments quoted or not, and no other comment', () => {
    expect(ruleId('-m comment --comment "ns:00ff00ff00ff00ff" -j RETURN')).toBe('00ff00ff00ff00ff');
    expect(ruleId('-m comment --comment ns:abc -j RETURN')).toBe('abc');
    expect(ruleId('-m comment --comment "other" -j RETURN')).toBeNull();
    expect(ruleId('-j RETURN')).toBeNull();
  });
});

describe('diffFamily', () => {
  it('the kernel as the backend left it (v6 untouched) needs no change', () => {
    expect(diffFamily(parseSave(V6), desired().families[6])).toEqual([]);
  });

  it('removes the duplicate hook, the foreign-form hook and the stale chain; leaves FOREIGN alone', () => {
    const ops = diffFamily(parseSave(V4), desired().families[4]);
    expect(ops).toEqual([
      { op: 'delete-rule', table: 'mangle', chain: 'OUTPUT', spec: '-m mark --mark 0x5 -j NS-OLD' },
      { op: 'delete-rule', table: 'mangle', chain: 'OUTPUT', spec: '-j NS-OUTPUT' },
      { op: 'flush-chain', table: 'mangle', chain: 'NS-OLD' },
      { op: 'delete-chain', table: 'mangle', chain: 'NS-OLD' },
    ]);
    expect(opsToRestore(ops)).toBe(
      '*mangle\n-D OUTPUT -m mark --mark 0x5 -j NS-OLD\n-D OUTPUT -j NS-OUTPUT\n-F NS-OLD\n-X NS-OLD\nCOMMIT\n',
    );
  });

  it('moving a session replaces its mark rule in place (and the SNAT rule when the service has no other session)', () => {
    const moved = structuredClone(FIXTURE_STATE);
    (moved.sessions[1] as { mark: number }).mark = 0x30000;
    const ops = diffFamily(parseSave(V6), desired(moved).families[6]);
    expect(ops.map((o) => `${o.op} ${o.chain}`)).toEqual(['delete-rule NS-S-s2', 'insert-rule NS-S-s2']);
    expect(opsToRestore(ops)).toMatch(
      /^\*mangle\n-D NS-S-s2 -m comment --comment "ns:b7722a86f14e8f1a" -j MARK --set-xmark 0x2\/0xfffffff\n-I NS-S-s2 1 -m comment --comment "ns:[0-9a-f]{16}" -j MARK --set-xmark 0x30002\/0xfffffff\nCOMMIT\n$/,
    );
  });

  it('a new session: its chain, then one rule inserted or appended in each chain that names it', () => {
    const more = structuredClone(FIXTURE_STATE);
    more.sessions.push({ sessionKey: 's3', mark: 0x20000, tag: 3, ifname: 'eth-b', snat: [] });
    more.classifiers.push({ kind: 'uid', key: '1003', sessionKey: 's3' });
    const lines = opsToRestore(diffFamily(parseSave(V6), desired(more).families[6])).split('\n');
    expect(lines.map((l) => l.replace(/ -m comment --comment "ns:[0-9a-f]{16}"/, ''))).toEqual([
      '*mangle',
      '-N NS-S-s3',
      '-I NS-CLASSIFY 4 -m owner --uid-owner 1003 -g NS-S-s3', // after the uid claims, before the gid one
      '-A NS-S-s3 -j MARK --set-xmark 0x20003/0xfffffff',
      '-A NS-S-s3 -j CONNMARK --save-mark --mask 0xfffffff',
      'COMMIT',
      '*filter',
      '-A NS-TX -m connmark --mark 0x3/0xffff -m nfacct --nfacct-name ns-tx-s3 -j RETURN',
      '-A NS-RX -m connmark --mark 0x3/0xffff -m nfacct --nfacct-name ns-rx-s3 -j RETURN',
      'COMMIT',
      '',
    ]);
  });

  it('a removed session: its rules deleted by their text as read back, then its chain', () => {
    const fewer = structuredClone(FIXTURE_STATE);
    fewer.sessions.pop();
    fewer.classifiers = fewer.classifiers.filter((c) => c.sessionKey !== 's2');
    const lines = opsToRestore(diffFamily(parseSave(V6), desired(fewer).families[6])).split('\n');
    expect(lines).toEqual([
      '*mangle',
      '-D NS-CLASSIFY -m cgroup --path "/iptexp/app" -m comment --comment "ns:55994f45893ee015" -g NS-S-s2',
      '-D NS-CLASSIFY -m owner --gid-owner 1002 --suppl-groups -m comment --comment "ns:ee2b383b6863b428" -g NS-S-s2',
      '-F NS-S-s2',
      '-X NS-S-s2',
      'COMMIT',
      '*filter',
      '-D NS-TX -m connmark --mark 0x2/0xffff -m nfacct --nfacct-name  ns-tx-s2 -m comment --comment "ns:122505094ac24f37" -j RETURN',
      '-D NS-RX -m connmark --mark 0x2/0xffff -m nfacct --nfacct-name  ns-rx-s2 -m comment --comment "ns:46f84143a1d99255" -j RETURN',
      'COMMIT',
      '',
    ]);
  });

  it('from nothing: chains, their rules, then hooks at the top; nat in its own section', () => {
    const ops = diffFamily(null, desired().families[4]);
    const script = opsToRestore(ops);
    const mangle = script.slice(0, script.indexOf('*filter')).split('\n');
    const last = (p: string) => mangle.map((l) => l.startsWith(p)).lastIndexOf(true);
    const first = (p: string) => mangle.findIndex((l) => l.startsWith(p));
    expect(last('-N ')).toBeLessThan(first('-A '));
    expect(last('-A ')).toBeLessThan(first('-I '));
    expect(mangle.filter((l) => l.startsWith('-I '))).toEqual([
      '-I PREROUTING 1 -j NS-PREROUTING',
      '-I OUTPUT 1 -j NS-OUTPUT',
    ]);
    expect(script).toMatch(
      /^\*mangle\n[\s\S]*COMMIT\n\*filter\n-N NS-TX\n-N NS-RX\n[\s\S]*-I OUTPUT 1 -j NS-TX\n-I INPUT 1 -j NS-RX\nCOMMIT\n\*nat\n-N NS-POSTROUTING\n-A NS-POSTROUTING [^\n]+\n-I POSTROUTING 1 -j NS-POSTROUTING\nCOMMIT\n$/,
    );
  });

  it('to nothing (clear): hooks deleted before the chains are flushed and deleted; foreign things untouched', () => {
    const ops = diffFamily(parseSave(V4), emptyFamilyModel());
    const script = opsToRestore(ops);
    expect(script).not.toMatch(/FOREIGN/);
    const lines = script.split('\n');
    for (const section of script.split('COMMIT\n').filter(Boolean)) {
      const sl = section.split('\n');
      expect(sl.map((l) => l.startsWith('-D ')).lastIndexOf(true)).toBeLessThan(
        sl.findIndex((l) => l.startsWith('-F ')),
      );
      expect(sl.map((l) => l.startsWith('-F ')).lastIndexOf(true)).toBeLessThan(
        sl.findIndex((l) => l.startsWith('-X ')),
      );
    }
    expect(lines.filter((l) => l.startsWith('-D '))).toHaveLength(7);
    expect(lines.filter((l) => l.startsWith('-X '))).toHaveLength(9);
    expect(script).not.toMatch(/NS-RAW|-D INPUT -j ACCEPT/);
    expect(lines.filter((l) => l.startsWith('-A ') || l.startsWith('-N ') || l.startsWith('-I '))).toEqual([]);
  });

  it('a rule deleted or altered from outside is put back at its place', () => {
    const edited = V6.replace(/^-A NS-CLASSIFY -m owner --uid-owner 1001 .*\n/m, '').replace(
      '--set-xmark 0x2/0xfffffff',
      '--set-xmark 0x7/0xfffffff',
    );
    expect(edited).not.toBe(V6);
    const ops = diffFamily(parseSave(edited), desired().families[6]);
    expect(ops).toEqual([
      {
        op: 'insert-rule',
        table: 'mangle',
        chain: 'NS-CLASSIFY',
        position: 3,
        text: expect.stringContaining('--uid-owner 1001'),
      },
    ]);
    // The altered rule kept its comment: comments identify rules, so that change goes unseen (as in nftables).
  });
});

describe('editChain', () => {
  const chain = (ids: string[], from: 'want' | 'have') => ({
    name: 'NS-X',
    rules: ids.map((id) => (from === 'want' ? { id, text: `t-${id}` } : { id, spec: `s-${id}` })),
  });
  const edit = (have: string[], want: string[]) =>
    editChain('mangle', chain(have, 'have'), chain(want, 'want'))?.map(opLine) ?? null;

  it('deletes the stale by spec, inserts the new at their place, appends at the end', () => {
    expect(edit(['a', 'b', 'c', 'd', 'e'], ['a', 'x', 'c', 'd', 'e', 'y'])).toEqual([
      '-D NS-X s-b',
      '-I NS-X 2 t-x',
      '-A NS-X t-y',
    ]);
    expect(edit(['a', 'b', 'c', 'd'], ['z', 'a', 'b', 'c', 'd'])).toEqual(['-I NS-X 1 t-z']);
  });

  it('rewrites instead when the kept rules are out of order, when ids repeat, or when most rules change', () => {
    expect(edit(['a', 'b', 'c'], ['b', 'a', 'c'])).toBeNull();
    expect(edit(['a', 'b', 'c'], ['a', 'a', 'c'])).toBeNull();
    expect(edit(['a', 'b', 'c'], ['x', 'y', 'c'])).toBeNull();
    // A duplicate in the kernel's chain is deleted like any stale rule.
    expect(edit(['a', 'a', 'b', 'c', 'd'], ['a', 'b', 'c', 'd'])).toEqual(['-D NS-X s-a']);
  });
});

describe('NFACCT', () => {
  it('parses `nfacct list` exactly, including values beyond 2^53', () => {
    const m = parseNfacctList(`${NFACCT}\n{ pkts = 18446744073709551615, bytes = 09007199254740993 } = big;\nnoise\n`);
    expect([...m.keys()]).toEqual(['ns-rx-s1', 'ns-rx-s2', 'ns-tx-s1', 'ns-tx-s2', 'big']);
    expect(m.get('big')).toEqual({ pkts: 18446744073709551615n, bytes: 9007199254740993n });
    expect(m.get('ns-tx-s1')).toEqual({ pkts: 0n, bytes: 0n });
  });

  it('creates the missing and deletes the stale, sorted', () => {
    expect(
      diffNfacct(new Set(['ns-tx-a', 'ns-rx-a', 'ns-tx-old']), new Set(['ns-tx-b', 'ns-rx-b', 'ns-tx-a', 'ns-rx-a'])),
    ).toEqual({
      add: ['ns-rx-b', 'ns-tx-b'],
      del: ['ns-tx-old'],
    });
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { CgroupRef } from '../../../../../daemon/adapters/firewall/cgroup.js';
import { diffTable } from '../../../../../daemon/adapters/nftables/diff.js';
import type { Op, TableModel } from '../../../../../daemon/adapters/nftables/model.js';
import { countChanges } from '../../../../../daemon/adapters/nftables/model.js';
import { parseTableListing } from '../../../../../daemon/adapters/nftables/readback.js';
import { buildRuleset } from '../../../../../daemon/adapters/nftables/ruleset.js';
import { opsToScript } from '../../../../../daemon/adapters/nftables/script.js';
import type { FirewallState } from '../../../../../daemon/core/kernel-state-types.js';

const cgroups = (ids: Record<string, string>) => ({
  cgroup: (path: string): CgroupRef | null => {
    const id = ids[path];
    const parts = path.split('/').filter(Boolean);
    return id === undefined ? null : { id, nftPath: parts.join('/'), level: parts.length };
  },
});
const CG = cgroups({ '/app/x': '77' });

function state(): FirewallState {
  const B = { mark: 0x00020000, ifname: 'eth-b', snat: [{ family: 4 as const, address: '198.51.100.18' }] };
  const C = { mark: 0x00030000, ifname: 'eth-c', snat: [{ family: 4 as const, address: '198.51.100.26' }] };
  return {
    mask: 0x0fff0000,
    tagMask: 0x0000ffff,
    sessions: [
      { sessionKey: 's1', tag: 1, ...B },
      { sessionKey: 's2', tag: 2, ...C },
      { sessionKey: 's3', tag: 3, ...B },
    ],
    classifiers: [
      { kind: 'cgroup', key: '/app/x', sessionKey: 's2' },
      { kind: 'uid', key: '1001', sessionKey: 's1' },
      { kind: 'uid', key: '1002', sessionKey: 's2' },
      { kind: 'gid', key: '2000', sessionKey: 's3' },
    ],
  };
}

const build = (s: FirewallState, opts = CG): TableModel => buildRuleset(s, opts).table;

/** A deep copy, as if the kernel held exactly this table. */
function clone(t: TableModel): TableModel {
  return {
    chains: new Map([...t.chains].map(([k, c]) => [k, { ...c, rules: c.rules.map((r) => ({ ...r })) }])),
    maps: new Map(
      [...t.maps].map(([k, m]) => [k, { ...m, elements: new Map([...m.elements].map(([ek, e]) => [ek, { ...e }])) }]),
    ),
    counters: new Set(t.counters),
    others: [...t.others],
  };
}

const kinds = (ops: Op[]) => ops.map((o) => o.op);

describe('nftables diff', () => {
  it('same state → no ops; from nothing → everything, starting with the table', () => {
    const t = build(state());
    expect(diffTable(clone(t), build(state()))).toEqual([]);
    const all = diffTable(null, t);
    expect(all[0]).toEqual({ op: 'add-table' });
    expect(countChanges(all)).toBeGreaterThan(20);
  });

  it('a real nft 1.0.6 listing of the table it built diffs to nothing (fingerprints and keys round-trip)', () => {
    const listing = readFileSync(new URL('./fixtures/listing-nft-1.0.6.json', import.meta.url), 'utf8');
    const actual = parseTableListing(listing, 'netsession');
    // The state the fixture was made from (by the adapter, in a scratch namespace).
    const s: FirewallState = {
      mask: 0x0fff0000,
      tagMask: 0xffff,
      sessions: [
        {
          sessionKey: 's1',
          mark: 0x30000,
          tag: 1,
          ifname: 'eth-c',
          snat: [
            { family: 4, address: '198.51.100.18' },
            { family: 6, address: '2001:db8:2::2' },
          ],
        },
        { sessionKey: 's2', mark: 0, tag: 2, ifname: '', snat: [] },
      ],
      classifiers: [
        { kind: 'source', key: '198.51.100.26', family: 4, sessionKey: 's2' },
        { kind: 'cgroup', key: '/nsnftx/app', sessionKey: 's2' },
        { kind: 'uid', key: '1001', sessionKey: 's1' },
        { kind: 'gid', key: '1002', sessionKey: 's2' },
      ],
    };
    expect(diffTable(actual, build(s, cgroups({ '/nsnftx/app': '44' })))).toEqual([]);
    // The same cgroup path with another id (removed and created again) replaces the cgroup map.
    const ops = diffTable(actual, build(s, cgroups({ '/nsnftx/app': '45' })));
    expect(opsToScript(ops, 'netsession')).toBe(
      'flush map inet netsession cg2\nadd element inet netsession cg2 { "nsnftx/app" comment "id 45 /nsnftx/app" : 0x00000002 }\n',
    );
  });

  it('moving one session to another service rewrites only its data elements (no chain, rule or counter)', () => {
    const before = build(state());
    const s = state();
    Object.assign(s.sessions[0]!, {
      mark: 0x00030000,
      ifname: 'eth-c',
      snat: [{ family: 4, address: '198.51.100.26' }],
    });
    const ops = diffTable(clone(before), build(s));
    expect(opsToScript(ops, 'netsession')).toBe(
      'delete element inet netsession uid { 1001 }\nadd element inet netsession uid { 1001 : 0x00030001 }\n',
    );
  });

  it('a new session adds its two counters and its map elements, no chain or rule', () => {
    const s = state();
    s.sessions.push({ sessionKey: 's4', tag: 4, mark: 0, ifname: '', snat: [] });
    s.classifiers.push({ kind: 'uid', key: '1004', sessionKey: 's4' });
    const ops = diffTable(clone(build(state())), build(s));
    expect(opsToScript(ops, 'netsession').replace(/ comment "[0-9a-f]+"/g, '')).toBe(
      [
        'add counter inet netsession tx_s4',
        'add counter inet netsession rx_s4',
        'add element inet netsession uid { 1004 : 0x00000004 }',
        'add element inet netsession tx { 0x00000004 : "tx_s4" }',
        'add element inet netsession rx { 0x00000004 : "rx_s4" }',
        '',
      ].join('\n'),
    );
  });

  it('a deleted session loses its elements first, then its counters', () => {
    const s = state();
    s.sessions.pop();
    s.classifiers = s.classifiers.filter((c) => c.sessionKey !== 's3');
    const ops = diffTable(clone(build(state())), build(s));
    expect(opsToScript(ops, 'netsession')).toBe(
      [
        'delete element inet netsession gid { 2000 }',
        'delete element inet netsession tx { 0x00000003 }',
        'delete element inet netsession rx { 0x00000003 }',
        'delete counter inet netsession tx_s3',
        'delete counter inet netsession rx_s3',
        '',
      ].join('\n'),
    );
  });

  it('the last session of a service takes its SNAT rule, its service chain and `svc` element with it', () => {
    const s = state();
    s.sessions = s.sessions.filter((x) => x.sessionKey !== 's2');
    s.classifiers = s.classifiers.filter((c) => c.sessionKey !== 's2');
    const ops = diffTable(clone(build(state())), build(s));
    const script = opsToScript(ops, 'netsession');
    expect(script).toMatch(/^flush chain inet netsession postrouting$/m);
    expect(script).not.toMatch(/eth-c/);
    expect(script).toMatch(/delete map inet netsession cg2/);
    expect(script).toMatch(/flush chain inet netsession classify/);
    expect(script).toMatch(/delete element inet netsession svc \{ 0x00030000 \}/);
    expect(script.indexOf('delete element inet netsession svc')).toBeLessThan(
      script.indexOf('delete chain inet netsession svc_00030000'),
    );
  });

  it('an element deleted from outside is added back, and only it', () => {
    const actual = clone(build(state()));
    actual.maps.get('uid')!.elements.delete('1001');
    expect(opsToScript(diffTable(actual, build(state())), 'netsession')).toBe(
      'add element inet netsession uid { 1001 : 0x00020001 }\n',
    );
  });

  it('an element with another value is replaced (delete, then add)', () => {
    const actual = clone(build(state()));
    actual.maps.get('uid')!.elements.set('1001', { key: '1001', value: '0x00030002' });
    expect(kinds(diffTable(actual, build(state())))).toEqual(['delete-elements', 'add-elements']);
  });

  it('a rule changed or removed from outside: that chain is rewritten whole', () => {
    const actual = clone(build(state()));
    actual.chains.get('output')!.rules.splice(1, 1);
    actual.chains.get('svc_00030000')!.rules = [{ id: null }];
    const ops = diffTable(actual, build(state()));
    expect(ops.filter((o) => o.op === 'flush-chain').map((o) => (o as { name: string }).name)).toEqual([
      'svc_00030000',
      'output',
    ]);
    expect(ops.filter((o) => o.op === 'add-rule')).toHaveLength(5);
  });

  it('a chain deleted from outside is created again with its rules', () => {
    const actual = clone(build(state()));
    actual.chains.delete('svc_00030000');
    expect(kinds(diffTable(actual, build(state())))).toEqual(['add-chain', 'add-rule']);
  });

  it('removes foreign objects inside our table; counters stay unless unwanted', () => {
    const actual = clone(build(state()));
    actual.chains.set('foo', { name: 'foo', base: null, rules: [{ id: null }] });
    actual.maps.set('bar', {
      name: 'bar',
      kind: 'set',
      type: 'ipv4_addr',
      data: null,
      flushOnChange: false,
      elements: new Map(),
    });
    actual.others.push({ kind: 'quota', name: 'q' });
    actual.counters.add('stray');
    expect(opsToScript(diffTable(actual, build(state())), 'netsession')).toBe(
      [
        'flush chain inet netsession foo',
        'delete set inet netsession bar',
        'delete chain inet netsession foo',
        'delete counter inet netsession stray',
        'delete quota inet netsession q',
        '',
      ].join('\n'),
    );
  });

  it('an incompatible map or hook is rebuilt in the same batch, keeping every counter', () => {
    const actual = clone(build(state()));
    actual.maps.get('uid')!.type = 'ipv4_addr';
    const ops = diffTable(actual, build(state()));
    const script = opsToScript(ops, 'netsession');
    expect(script.indexOf('delete map inet netsession uid')).toBeLessThan(
      script.indexOf('add map inet netsession uid'),
    );
    expect(script).not.toMatch(/counter inet netsession (tx|rx)_/);
    expect(script).toMatch(/add element inet netsession uid \{ 1001 : 0x00020001, 1002 : 0x00030002 \}/);

    const hooked = clone(build(state()));
    hooked.chains.get('output')!.base = { type: 'filter', hook: 'output', prio: 0, policy: 'accept' };
    expect(kinds(diffTable(hooked, build(state())))).toContain('delete-chain');
  });

  it('a table of the previous shape (verdict classifier maps, a chain per session) is rebuilt in one batch, keeping the counters', () => {
    const old = clone(build(state()));
    for (const name of ['src4', 'src6', 'uid', 'gid', 'cg2']) {
      const m = old.maps.get(name)!;
      m.data = 'verdict';
      for (const e of m.elements.values()) e.value = 'goto s_s1';
    }
    old.maps.delete('svc');
    for (const k of ['s1', 's2', 's3'])
      old.chains.set(`s_${k}`, { name: `s_${k}`, base: null, rules: [{ id: 'old' }] });
    const ops = diffTable(old, build(state()));
    const script = opsToScript(ops, 'netsession');
    expect(script).toMatch(/^delete chain inet netsession s_s1$/m);
    expect(script).not.toMatch(/counter inet netsession (tx|rx)_/);
    expect(script.indexOf('delete map inet netsession uid')).toBeLessThan(
      script.indexOf('delete chain inet netsession s_s1'),
    );
    expect(script).toMatch(/add element inet netsession uid \{ 1001 : 0x00020001, 1002 : 0x00030002 \}/);
    const after = clone(build(state()));
    expect(diffTable(after, build(state()))).toEqual([]);
  });

  it('parses only our table out of a listing and normalises keys like the builder', () => {
    const listing = JSON.stringify({
      nftables: [
        { metainfo: { json_schema_version: 1 } },
        { table: { family: 'inet', name: 'netsession', handle: 1 } },
        { counter: { family: 'inet', table: 'other', name: 'x', packets: 0, bytes: 0 } },
        { chain: { family: 'ip', table: 'netsession', name: 'y' } },
        {
          map: {
            family: 'inet',
            table: 'netsession',
            name: 'src6',
            type: 'ipv6_addr',
            map: 'verdict',
            elem: [
              ['2001:DB8:0:0:1:0:0:1', { goto: { target: 's_a' } }],
              ['::ffff:1.2.3.4', { jump: { target: 's_b' } }],
            ],
          },
        },
        {
          map: {
            family: 'inet',
            table: 'netsession',
            name: 'cg1',
            type: 'cgroupsv2',
            map: 'verdict',
            elem: [
              [{ elem: { val: 'a', comment: 'id 12 /a' } }, { goto: { target: 's_a' } }],
              ['b', { accept: null }],
            ],
          },
        },
        {
          map: {
            family: 'inet',
            table: 'netsession',
            name: 'uid',
            type: 'uid',
            map: 'mark',
            elem: [[1001, 196609]],
          },
        },
        {
          set: {
            family: 'inet',
            table: 'netsession',
            name: 'ports',
            type: ['ipv4_addr', 'inet_service'],
            elem: [{ concat: ['1.2.3.4', 80] }],
          },
        },
        { 'ct helper': { family: 'inet', table: 'netsession', name: 'h' } },
      ],
    });
    const m = parseTableListing(listing, 'netsession');
    expect(m.counters.size).toBe(0);
    expect(m.chains.size).toBe(0);
    expect([...m.maps.get('src6')!.elements]).toEqual([
      ['2001:db8::1:0:0:1', { key: '2001:db8::1:0:0:1', value: 'goto s_a' }],
      ['::ffff:102:304', { key: '::ffff:102:304', value: 'jump s_b' }],
    ]);
    const cg = m.maps.get('cg1')!;
    expect(cg.flushOnChange).toBe(true);
    expect(cg.elements.get('id:12')).toEqual({ key: null, value: 'goto s_a', comment: 'id 12 /a' });
    expect(cg.elements.get('?"b"')).toEqual({ key: null, value: 'accept' });
    expect([...m.maps.get('uid')!.elements]).toEqual([['1001', { key: '1001', value: '0x00030001' }]]);
    expect(m.maps.get('uid')).toMatchObject({ type: 'uid', data: 'mark' });
    expect(m.maps.get('ports')).toMatchObject({ kind: 'set', type: 'ipv4_addr . inet_service', data: null });
    expect(m.others).toEqual([{ kind: 'ct helper', name: 'h' }]);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PolicyParseError } from '../../../../daemon/core/errors.js';
import { type Identity, mergeSettings, PolicySet } from '../../../../daemon/core/policy.js';
import { isPolicyFileName, type PolicyGroup, parsePolicyFile } from '../../../../daemon/core/policy-parse.js';
import { defaultRequest, type RequestedSettings } from '../../../../daemon/core/settings.js';
import { BEARERS, type Bearer, DEFAULT_BEARERS } from '../../../../lib/protocol.js';

function group(over: Partial<PolicyGroup>): PolicyGroup {
  return {
    file: 'x.policy',
    name: 'g',
    index: 0,
    uid: null,
    gid: null,
    cgroup: null,
    selinux: null,
    allowedBearers: null,
    connectionType: null,
    allowedInterface: null,
    sourceIPRule: null,
    priority: false,
    emergencyCall: false,
    roamingPolicy: 'default',
    ...over,
  };
}

function parseError(text: string, file = 'bad.policy'): PolicyParseError {
  try {
    parsePolicyFile(file, text);
  } catch (e) {
    if (e instanceof PolicyParseError) return e;
    throw e;
  }
  throw new Error('expected a PolicyParseError');
}

const alice: Identity = {
  uid: 1000,
  user: 'alice',
  groups: [
    { gid: 100, name: 'users' },
    { gid: 27, name: 'sudo' },
  ],
  cgroup: '/user.slice/app.service',
  selinuxType: 'app_t',
};

const req = (over: Partial<RequestedSettings> = {}): RequestedSettings => ({ ...defaultRequest(), ...over });

describe('isPolicyFileName', () => {
  it('accepts plain *.policy names only', () => {
    expect(isPolicyFileName('foo.policy')).toBe(true);
    expect(isPolicyFileName('a-b_1.policy')).toBe(true);
    expect(isPolicyFileName('.foo.policy')).toBe(false);
    expect(isPolicyFileName('foo.policy~')).toBe(false);
    expect(isPolicyFileName('foo.conf')).toBe(false);
    expect(isPolicyFileName('.policy')).toBe(false);
    expect(isPolicyFileName('sub/foo.policy')).toBe(false);
  });
});

describe('parsePolicyFile', () => {
  it('parses a multi-group file with every key, comments, blanks and CRLF', () => {
    const text = [
      '# comment',
      '; another comment',
      '',
      '[policy_all]',
      '  uid = alice  ',
      'gid=1000',
      'selinux=app_t',
      'cgroup=/system.slice/app.service',
      'AllowedBearers = wifi, cellular;vpn  ethernet',
      'ConnectionType=internet',
      'Priority=TRUE',
      'EmergencyCall=1',
      'RoamingPolicy=national',
      'AllowedInterface=wlan0',
      'SourceIPRule=false',
      '',
      '[second]',
      'uid=0',
      'AllowedBearers=',
      'AllowedInterface=*',
    ].join('\r\n');
    const groups = parsePolicyFile('all.policy', text);
    expect(groups).toEqual([
      {
        file: 'all.policy',
        name: 'policy_all',
        index: 0,
        uid: 'alice',
        gid: '1000',
        selinux: 'app_t',
        cgroup: '/system.slice/app.service',
        allowedBearers: ['wifi', 'cellular', 'vpn', 'ethernet'],
        connectionType: 'internet',
        allowedInterface: 'wlan0',
        sourceIPRule: false,
        priority: true,
        emergencyCall: true,
        roamingPolicy: 'national',
      },
      group({ file: 'all.policy', name: 'second', index: 1, uid: '0', allowedBearers: [] }),
    ]);
  });

  it('expands * in AllowedBearers to the five defaults and applies defaults for absent keys', () => {
    const [g] = parsePolicyFile('a.policy', '[g]\ngid=users\nAllowedBearers=vpn *\nPriority=0\nEmergencyCall=False\n');
    expect(g?.allowedBearers).toEqual(['vpn', ...DEFAULT_BEARERS]);
    expect(g?.priority).toBe(false);
    expect(g?.emergencyCall).toBe(false);
    expect(g?.roamingPolicy).toBe('default');
    expect(g?.connectionType).toBeNull();
    expect(g?.sourceIPRule).toBeNull();
  });

  it('gives an empty list for an empty file', () => {
    expect(parsePolicyFile('e.policy', '# nothing\n\n')).toEqual([]);
  });

  const cases: Array<[string, string, number, RegExp]> = [
    ['key outside a group', '# hi\nuid=alice\n[g]\nuid=bob', 2, /before any \[group\]/],
    ['line without =', '[g]\nuid=alice\njunk', 3, /malformed line/],
    ['malformed header', '[g]\nuid=a\n[broken', 3, /malformed group header/],
    ['text after header', '[g] x\nuid=a', 1, /malformed group header/],
    ['empty group name', '[ ]\nuid=a', 1, /non-empty/],
    ['duplicate group', '[g]\nuid=a\n[g]\nuid=b', 3, /twice/],
    ['duplicate key', '[g]\nuid=a\nuid=b', 3, /duplicate key 'uid'/],
    ['unknown key (typo)', '[g]\nuid=a\nAllowedBearer=wifi', 3, /unknown key 'AllowedBearer'/],
    ['keys are case-sensitive', '[g]\nUID=a', 2, /unknown key 'UID'/],
    ['group without identity', '[ok]\nuid=a\n\n[g]\nPriority=true', 4, /no identity key/],
    ['bad bearer token', '[g]\nuid=a\nAllowedBearers=wifi lte', 3, /AllowedBearers: unknown bearer 'lte'/],
    ['bad ConnectionType', '[g]\nuid=a\nConnectionType=online', 3, /ConnectionType: 'online'/],
    ['empty ConnectionType', '[g]\nuid=a\nConnectionType=', 3, /ConnectionType/],
    ['bad boolean', '[g]\nuid=a\nPriority=yes', 3, /Priority: 'yes' is not a boolean/],
    ['bad SourceIPRule', '[g]\nuid=a\nSourceIPRule=on', 3, /SourceIPRule/],
    ['bad RoamingPolicy', '[g]\nuid=a\nRoamingPolicy=never', 3, /RoamingPolicy: 'never'/],
    ['relative cgroup', '[g]\ncgroup=system.slice/a.service', 2, /absolute/],
    ['cgroup with ..', '[g]\ncgroup=/a/../b', 2, /normalised/],
    ['cgroup with //', '[g]\ncgroup=/a//b', 2, /normalised/],
    ['cgroup with trailing /', '[g]\ncgroup=/a/b/', 2, /normalised/],
    ['interface name too long', '[g]\nuid=a\nAllowedInterface=abcdefghijklmnop', 3, /AllowedInterface/],
    ['interface name with /', '[g]\nuid=a\nAllowedInterface=a/b', 3, /AllowedInterface/],
    ['empty interface', '[g]\nuid=a\nAllowedInterface=', 3, /AllowedInterface/],
    ['empty uid', '[g]\nuid=', 2, /uid: empty/],
    ['uid with spaces', '[g]\nuid=alice bob', 2, /uid:/],
    ['non-canonical numeric gid', '[g]\ngid=0100', 2, /gid: '0100' is not a valid decimal id/],
    ['gid out of range', '[g]\ngid=4294967295', 2, /gid:/],
    ['selinux full context', '[g]\nselinux=user_u:role_r:app_t:s0', 2, /only the type/],
    ['empty selinux', '[g]\nselinux=', 2, /selinux: empty/],
  ];
  for (const [title, text, line, detail] of cases) {
    it(`rejects ${title} at line ${line}`, () => {
      const e = parseError(text);
      expect(e.file).toBe('bad.policy');
      expect(e.line).toBe(line);
      expect(e.detail).toMatch(detail);
      expect(e.message).toContain(`bad.policy:${line}:`);
    });
  }

  it('rejects the whole file when a later group is bad, and the set keeps the previous version', () => {
    const good = parsePolicyFile('f.policy', '[g]\nuid=alice\nConnectionType=local');
    const set = PolicySet.empty().withFile('f.policy', good);
    const text = '[g]\nuid=alice\nConnectionType=internet\n[h]\nuid=bob\nAllowedBearers=wifi 5g';
    expect(() => parsePolicyFile('f.policy', text)).toThrow(PolicyParseError);
    expect(parseError(text).line).toBe(6);
    expect(set.match(alice)?.group.connectionType).toBe('local');
  });
});

describe('PolicySet', () => {
  it('is immutable: withFile and withoutFile return new sets', () => {
    const empty = PolicySet.empty();
    const one = empty.withFile('b.policy', [group({ file: 'b.policy', uid: 'alice' })]);
    const two = one.withFile('a.policy', [group({ file: 'a.policy', name: 'a1', uid: 'bob' })]);
    expect(empty.files()).toEqual([]);
    expect(one.files()).toEqual(['b.policy']);
    expect(two.files()).toEqual(['a.policy', 'b.policy']);
    const removed = two.withoutFile('b.policy');
    expect(removed.files()).toEqual(['a.policy']);
    expect(two.files()).toEqual(['a.policy', 'b.policy']);
    expect(removed.match(alice)).toBeNull();
    expect(two.match(alice)?.group.file).toBe('b.policy');
    expect(two.withoutFile('nope.policy').files()).toEqual(['a.policy', 'b.policy']);
  });

  it('withFile replaces the file and keeps empty files', () => {
    const s1 = PolicySet.empty().withFile('a.policy', [group({ uid: 'alice', connectionType: 'local' })]);
    const s2 = s1.withFile('a.policy', [group({ uid: 'alice', connectionType: 'internet' })]);
    expect(s2.groups()).toHaveLength(1);
    expect(s2.match(alice)?.group.connectionType).toBe('internet');
    const s3 = s2.withFile('a.policy', []);
    expect(s3.files()).toEqual(['a.policy']);
    expect(s3.match(alice)).toBeNull();
  });

  it('is not affected by later mutation of the groups it was given', () => {
    const g = group({ uid: 'alice', allowedBearers: ['wifi'] });
    const set = PolicySet.empty().withFile('a.policy', [g]);
    g.uid = 'mallory';
    g.allowedBearers?.push('vpn');
    expect(set.match(alice)?.group.allowedBearers).toEqual(['wifi']);
    const returned = set.groups();
    returned.pop();
    expect(set.groups()).toHaveLength(1);
  });

  it('orders groups by file name, then group index', () => {
    const set = PolicySet.empty()
      .withFile('b.policy', [
        group({ file: 'b.policy', name: 'b1', index: 1, uid: 'x' }),
        group({ file: 'b.policy', name: 'b0', uid: 'x' }),
      ])
      .withFile('a.policy', [group({ file: 'a.policy', name: 'a0', uid: 'x' })]);
    expect(set.groups().map((g) => g.name)).toEqual(['a0', 'b0', 'b1']);
  });
});

describe('PolicySet.match', () => {
  const all = PolicySet.empty().withFile('p.policy', [
    group({ name: 'byGid', index: 0, gid: 'users' }),
    group({ name: 'byUid', index: 1, uid: 'alice' }),
    group({ name: 'bySelinux', index: 2, selinux: 'app_t' }),
    group({ name: 'byCgroup', index: 3, cgroup: '/user.slice' }),
  ]);

  it('tries cgroup, then selinux, then uid, then gid', () => {
    expect(all.match(alice)).toEqual({
      group: expect.objectContaining({ name: 'byCgroup' }),
      kind: 'cgroup',
      claim: { kind: 'cgroup', key: '/user.slice' },
    });
    const noCgroup = { ...alice, cgroup: undefined };
    expect(all.match(noCgroup)).toMatchObject({ kind: 'selinux', claim: null, group: { name: 'bySelinux' } });
    const noLabel = { ...noCgroup, selinuxType: undefined };
    expect(all.match(noLabel)).toMatchObject({
      kind: 'uid',
      claim: { kind: 'uid', key: '1000' },
      group: { name: 'byUid' },
    });
    expect(all.match({ ...noLabel, user: 'carol', uid: 1001 })).toMatchObject({
      kind: 'gid',
      claim: { kind: 'gid', key: '100' },
      group: { name: 'byGid' },
    });
    expect(all.match({ uid: 5, groups: [{ gid: 5 }] })).toBeNull();
  });

  it('lets a later group win for the same key, within a file and across files', () => {
    const set = PolicySet.empty()
      .withFile('b.policy', [
        group({ file: 'b.policy', name: 'b0', uid: 'alice' }),
        group({ file: 'b.policy', name: 'b1', index: 1, uid: 'alice' }),
      ])
      .withFile('a.policy', [group({ file: 'a.policy', name: 'a0', uid: 'alice' })]);
    expect(set.match(alice)?.group.name).toBe('b1');
    expect(set.withoutFile('b.policy').match(alice)?.group.name).toBe('a0');
  });

  it('picks the later group when a uid name and a uid number both match', () => {
    const set = PolicySet.empty()
      .withFile('a.policy', [group({ file: 'a.policy', uid: '1000' })])
      .withFile('b.policy', [group({ file: 'b.policy', uid: 'alice' })]);
    expect(set.match(alice)?.group.file).toBe('b.policy');
    expect(set.withoutFile('b.policy').match(alice)?.group.file).toBe('a.policy');
  });

  it('matches numeric uid and gid, with the numeric claim even for name matches', () => {
    const byUid = PolicySet.empty().withFile('u.policy', [group({ uid: '1000' })]);
    expect(byUid.match({ uid: 1000, groups: [] })).toMatchObject({ kind: 'uid', claim: { kind: 'uid', key: '1000' } });
    expect(byUid.match({ uid: 10000, groups: [] })).toBeNull();
    const byGid = PolicySet.empty().withFile('g.policy', [group({ gid: '27' })]);
    expect(byGid.match({ uid: 1, groups: [{ gid: 1 }, { gid: 27 }] })).toMatchObject({
      kind: 'gid',
      claim: { kind: 'gid', key: '27' },
    });
    const byName = PolicySet.empty().withFile('g.policy', [group({ gid: 'sudo' })]);
    expect(byName.match({ ...alice, cgroup: undefined, selinuxType: undefined, user: 'x', uid: 2 })?.claim).toEqual({
      kind: 'gid',
      key: '27',
    });
  });

  it("checks the identity's groups in order, primary first", () => {
    const set = PolicySet.empty().withFile('g.policy', [
      group({ name: 'sudo', gid: 'sudo', index: 1 }),
      group({ name: 'users', gid: '100' }),
    ]);
    const id: Identity = {
      uid: 2,
      groups: [
        { gid: 100, name: 'users' },
        { gid: 27, name: 'sudo' },
      ],
    };
    expect(set.match(id)?.group.name).toBe('users');
    expect(set.match({ ...id, groups: [...id.groups].reverse() })?.group.name).toBe('sudo');
  });

  it('indexes a group with several identity keys under each', () => {
    const set = PolicySet.empty().withFile('m.policy', [group({ uid: 'bob', gid: 'sudo' })]);
    expect(set.match({ uid: 3, user: 'bob', groups: [] })?.kind).toBe('uid');
    expect(set.match({ uid: 4, user: 'eve', groups: [{ gid: 27, name: 'sudo' }] })?.kind).toBe('gid');
  });

  it('prefers the longest matching cgroup path and claims the policy path', () => {
    const set = PolicySet.empty().withFile('c.policy', [
      group({ name: 'root', cgroup: '/' }),
      group({ name: 'slice', index: 1, cgroup: '/system.slice' }),
      group({ name: 'svc', index: 2, cgroup: '/system.slice/app.service' }),
    ]);
    const at = (cgroup: string) => set.match({ uid: 0, groups: [], cgroup });
    expect(at('/system.slice/app.service/sub')).toMatchObject({
      group: { name: 'svc' },
      claim: { kind: 'cgroup', key: '/system.slice/app.service' },
    });
    expect(at('/system.slice/app.service')?.group.name).toBe('svc');
    expect(at('/system.slice/other.service')).toMatchObject({
      group: { name: 'slice' },
      claim: { key: '/system.slice' },
    });
    expect(at('/user.slice')).toMatchObject({ group: { name: 'root' }, claim: { key: '/' } });
  });

  it('matches cgroups by whole path segments: /a/b does not match /a/bc', () => {
    const set = PolicySet.empty().withFile('c.policy', [group({ cgroup: '/a/b' })]);
    expect(set.match({ uid: 0, groups: [], cgroup: '/a/bc' })).toBeNull();
    expect(set.match({ uid: 0, groups: [], cgroup: '/a' })).toBeNull();
    expect(set.match({ uid: 0, groups: [], cgroup: '/a/b/c' })?.claim).toEqual({ kind: 'cgroup', key: '/a/b' });
    expect(set.match({ uid: 0, groups: [] })).toBeNull();
  });
});

describe('mergeSettings', () => {
  it('without a group: the request, default bearers, and default policy-only values', () => {
    expect(mergeSettings(req({ contextIdentifier: 'ctx' }), null)).toEqual({
      allowedBearers: [...DEFAULT_BEARERS],
      connectionType: 'any',
      allowedInterface: null,
      sourceIPRule: false,
      contextIdentifier: 'ctx',
      avoidMetered: false,
      priority: false,
      emergencyCall: false,
      roamingPolicy: 'default',
    });
  });

  it("keeps the user's order: ['wifi', '*'] means wifi first", () => {
    const wifiFirst: Bearer[] = ['wifi', 'ethernet', 'bluetooth', 'cellular', 'gadget'];
    expect(mergeSettings(req({ allowedBearers: wifiFirst }), null).allowedBearers).toEqual(wifiFirst);
    const policy = group({ uid: 'a', allowedBearers: ['ethernet', 'cellular', 'wifi'] });
    expect(mergeSettings(req({ allowedBearers: wifiFirst }), policy).allowedBearers).toEqual([
      'wifi',
      'ethernet',
      'cellular',
    ]);
  });

  it("uses the policy's list in its order when the user gave none", () => {
    const policy = group({ uid: 'a', allowedBearers: ['cellular', 'vpn', 'wifi'] });
    expect(mergeSettings(req(), policy).allowedBearers).toEqual(['cellular', 'vpn', 'wifi']);
  });

  it('keeps a requested vpn unless a policy list excludes it', () => {
    const r = req({ allowedBearers: ['vpn', 'ethernet'] });
    expect(mergeSettings(r, null).allowedBearers).toEqual(['vpn', 'ethernet']);
    expect(mergeSettings(r, group({ uid: 'a', priority: true })).allowedBearers).toEqual(['vpn', 'ethernet']);
    expect(mergeSettings(r, group({ uid: 'a', allowedBearers: [...DEFAULT_BEARERS] })).allowedBearers).toEqual([
      'ethernet',
    ]);
    expect(mergeSettings(req(), group({ uid: 'a' })).allowedBearers).toEqual([...DEFAULT_BEARERS]);
  });

  it('gives an empty list for an empty policy list or an empty request', () => {
    expect(mergeSettings(req(), group({ uid: 'a', allowedBearers: [] })).allowedBearers).toEqual([]);
    expect(
      mergeSettings(req({ allowedBearers: ['wifi'] }), group({ uid: 'a', allowedBearers: [] })).allowedBearers,
    ).toEqual([]);
    expect(
      mergeSettings(req({ allowedBearers: [] }), group({ uid: 'a', allowedBearers: ['wifi'] })).allowedBearers,
    ).toEqual([]);
  });

  it('does not alias the policy list', () => {
    const policy = group({ uid: 'a', allowedBearers: ['wifi'] });
    mergeSettings(req(), policy).allowedBearers.push('vpn');
    expect(policy.allowedBearers).toEqual(['wifi']);
  });

  it("applies ConnMan's ConnectionType table, and removing the policy restores the user's type", () => {
    const r = req({ connectionType: 'local' });
    expect(mergeSettings(r, group({ uid: 'a' })).connectionType).toBe('local');
    expect(mergeSettings(r, group({ uid: 'a', connectionType: 'any' })).connectionType).toBe('local');
    expect(mergeSettings(r, group({ uid: 'a', connectionType: 'internet' })).connectionType).toBe('internet');
    expect(
      mergeSettings(req({ connectionType: 'internet' }), group({ uid: 'a', connectionType: 'local' })).connectionType,
    ).toBe('local');
    expect(mergeSettings(r, null).connectionType).toBe('local');
  });

  it("lets the policy force AllowedInterface and SourceIPRule, else keeps the user's", () => {
    const r = req({ allowedInterface: 'eth0', sourceIPRule: true, contextIdentifier: 'c' });
    expect(mergeSettings(r, group({ uid: 'a' }))).toMatchObject({
      allowedInterface: 'eth0',
      sourceIPRule: true,
      contextIdentifier: 'c',
    });
    const forced = group({ uid: 'a', allowedInterface: 'wwan0', sourceIPRule: false });
    expect(mergeSettings(r, forced)).toMatchObject({
      allowedInterface: 'wwan0',
      sourceIPRule: false,
      contextIdentifier: 'c',
    });
  });

  it('takes Priority, EmergencyCall and RoamingPolicy from the policy', () => {
    const g = group({ uid: 'a', priority: true, emergencyCall: true, roamingPolicy: 'forbidden' });
    expect(mergeSettings(req(), g)).toMatchObject({ priority: true, emergencyCall: true, roamingPolicy: 'forbidden' });
  });

  it('property: the result is a subsequence of the user list and a subset of the policy list', () => {
    const bearerList = fc.uniqueArray(fc.constantFrom(...BEARERS), { maxLength: BEARERS.length });
    fc.assert(
      fc.property(fc.option(bearerList, { nil: null }), fc.option(bearerList, { nil: null }), (user, policy) => {
        const out = mergeSettings(
          req({ allowedBearers: user }),
          group({ uid: 'a', allowedBearers: policy }),
        ).allowedBearers;
        if (policy !== null) expect(out.every((b) => policy.includes(b))).toBe(true);
        if (user === null) {
          expect(out).toEqual(policy ?? [...DEFAULT_BEARERS]);
          return;
        }
        // Subsequence: walking the user list in order finds every output element in order.
        let i = 0;
        for (const b of user) if (b === out[i]) i++;
        expect(i).toBe(out.length);
        expect(out.length).toBe(user.filter((b) => policy === null || policy.includes(b)).length);
      }),
    );
  });
});

describe('policy caps', () => {
  it('a set of 200,000 groups builds (no argument spread of the whole file)', () => {
    const groups = Array.from({ length: 200_000 }, (_, i) => ({
      ...parsePolicyFile('big.policy', `[g]\nuid=${i}\n`)[0]!,
      name: `g${i}`,
      index: i,
    }));
    const set = PolicySet.empty().withFile('big.policy', groups);
    expect(set.groups()).toHaveLength(200_000);
    expect(set.groupsExcept('big.policy')).toBe(0);
  });

  it('the group cap rejects the file at the first group over it, naming the line and the cap', () => {
    const text = Array.from({ length: 5 }, (_, i) => `[g${i}]\nuid=${i}\n`).join('');
    expect(parsePolicyFile('a.policy', text, 5)).toHaveLength(5);
    expect(() => parsePolicyFile('a.policy', text, 3, 10)).toThrow(
      'a.policy:7: group 4 of this file is over MaxPolicyGroups 10 (--max-policy-groups; 7 in force in other files)',
    );
  });
});

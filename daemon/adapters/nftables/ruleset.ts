/**
 * Desired FirewallState → the daemon's nftables table (a {@link TableModel}). Pure.
 *
 * For `mask` 0x0fff0000, `tagMask` 0x0000ffff and one session `s1` (tag 1) bound to the service
 * with mark 0x00020000 on eth-b, claiming uid 1001, the table is (nft text; `OURS` = mask|tagMask):
 *
 * ```
 * table inet netsession {
 *   counter tx_s1 { }
 *   counter rx_s1 { }
 *   map src4 { type ipv4_addr : mark; }
 *   map src6 { type ipv6_addr : mark; }
 *   map uid  { type uid : mark; elements = { 1001 : 0x00020001 } }
 *   map gid  { type gid : mark; }
 *   map svc  { type mark : verdict; elements = { 0x00020000 : jump svc_00020000 } }
 *   map tx   { type mark : counter; elements = { 0x00000001 : "tx_s1" } }
 *   map rx   { type mark : counter; elements = { 0x00000001 : "rx_s1" } }
 *   chain svc_00020000 {
 *     meta mark set meta mark and 0xf0000000 or 0x00020000
 *   }
 *   chain service {
 *     ct mark and 0x0fff0000 vmap @svc
 *   }
 *   chain classify {
 *     ct mark set ip saddr map @src4 goto service
 *     ct mark set ip6 saddr map @src6 goto service
 *     ct mark set meta skuid map @uid goto service
 *     ct mark set meta skgid map @gid goto service
 *   }
 *   chain output {
 *     type route hook output priority -150; policy accept;
 *     ct mark and 0x0fffffff != 0 ct mark and 0x0fff0000 vmap @svc
 *     ct mark and 0x0fff0000 != 0 meta mark and 0x0fff0000 == 0 meta mark set ct mark
 *     ct state new meta mark and 0x0fffffff == 0 jump classify
 *     ct mark and 0x0000ffff != 0 counter name ct mark and 0x0000ffff map @tx
 *   }
 *   chain prerouting {
 *     type filter hook prerouting priority -150; policy accept;
 *     ct mark and 0x0fffffff != 0 ct mark and 0x0fff0000 vmap @svc
 *     ct mark and 0x0fff0000 != 0 meta mark and 0x0fff0000 == 0 meta mark set ct mark
 *   }
 *   chain input {
 *     type filter hook input priority -150; policy accept;
 *     ct mark and 0x0000ffff != 0 counter name ct mark and 0x0000ffff map @rx
 *   }
 *   chain postrouting {
 *     type nat hook postrouting priority 100; policy accept;
 *     meta mark and 0x0fff0000 == 0x00020000 oifname "eth-b" fib saddr type local snat ip to 198.51.100.18
 *     meta mark and 0x0fff0000 == 0x00020000 oifname "eth-b" fib saddr type local snat ip6 to 2001:db8:2::2
 *   }
 * }
 * ```
 * Every rule also carries `comment "<fingerprint>"` (see model.ts). A cgroup claim adds
 * `map cgN { type cgroupsv2 : mark; }` (N = depth of the path) and the classify rule
 * `ct mark set socket cgroupv2 level N map @cgN goto service`, deepest level first so the most
 * specific claim wins.
 *
 * Why this shape:
 * - A session owns no chain and no rule, only data: its two counters, their two counter-map
 *   elements, and one data-map element per identity it claims (value: its service mark | tag).
 *   The kernel validates every chain reachable from a verdict map whenever a verdict element or
 *   a rule is added (1.7 ms per change at 10,000 session chains, research nftables-netlink.md);
 *   data elements need no validation (0.13–0.2 ms). Moving a session rewrites its data elements.
 * - The verdict map `svc` is keyed by service bits and leads to one small chain per service
 *   that sets the packet mark's service bits; it changes only when a service appears or goes.
 * - Classification is O(1) per packet (one map lookup per kind) and only for packets of new
 *   connections that carry none of our bits: the first rule whose lookup hits stores the
 *   session's mark in conntrack (a failed lookup ends its rule, so the next kind is tried), and
 *   `goto service` sets the packet's service bits. Every later packet (both directions) gets
 *   its service bits back from conntrack, so an established connection keeps its path when its
 *   session moves.
 * - The restore goes through the same `svc` map, so every bit outside ours that other users
 *   put on the packet is kept. A pinned flow whose service has no session left (so no chain)
 *   falls back to copying the conntrack mark whole: it keeps its path, other users' bits are
 *   lost for it (nft 1.0.6 cannot combine two registers, `meta mark & ~OURS | ct mark & OURS`).
 * - Counting keys on the conntrack tag (`ct mark & tagMask`) through objref maps, so every packet
 *   of a session's connections is counted, and an unbound session (service bits 0, main table)
 *   is counted too.
 * - SNAT only for packets whose service bits we set, leaving through that service's interface,
 *   whose source is a local address (`fib saddr type local`): never forwarded traffic. One rule
 *   per service and family, not per session.
 */

import { canonicalAddress } from '../../core/addresses.js';
import type { Classifier, FirewallState } from '../../core/kernel-state-types.js';
import type { Family } from '../../core/services.js';
import type { CgroupRef } from '../firewall/cgroup.js';
import { fingerprint } from '../firewall/fingerprint.js';
import { type FirewallNaming, planFirewall } from '../firewall/plan.js';
import type { BaseChainSpec, ChainModel, ElementModel, MapModel, RuleModel, RuleSpec, TableModel } from './model.js';
import { hex32 } from './model.js';
import {
  CHAIN,
  cgroupLookupRule,
  cgroupMapName,
  classifyJumpRule,
  countRule,
  identityLookupRule,
  MAP,
  pinRule,
  RX_PREFIX,
  restoreRule,
  serviceChain,
  serviceElement,
  serviceLookupRule,
  sessionValue,
  snatRule,
  sourceLookupRule,
  TX_PREFIX,
} from './rules.js';

export * from './rules.js';

/** nft's `mangle` and `srcnat` priorities. */
const PRIO_MANGLE = -150;
const PRIO_SRCNAT = 100;

/** A session key must make valid, unquoted nft identifiers after the counter prefixes (rules.ts). */
const SESSION_KEY = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
/** Linux interface names; `"` and control characters would break nft's quoting. */
const IFNAME = /^[^\s"\\/:]{1,15}$/;

export const NFT_NAMING: FirewallNaming = {
  sessionKey: SESSION_KEY,
  sessionKeyProblem: 'nft name',
  ifname: IFNAME,
  ifnameProblem: 'cannot be quoted for nft',
  hex: hex32,
};
const DECIMAL = /^\d{1,10}$/;
/** Text that can sit between nft's double quotes (which have no escapes). */
const QUOTABLE = /^[^"\\\x00-\x1f\x7f]*$/;
const UINT32_MAX = 0xffffffff;

/** Options of {@link buildRuleset}. */
export interface RulesetOptions {
  /** Resolves a cgroup path (as in Classifier.key); null when it does not exist here. */
  cgroup: (path: string) => CgroupRef | null;
}

/** The table the state requires, and why anything was left out. */
export interface Ruleset {
  table: TableModel;
  /** One line per session or classifier that could not be expressed (and was skipped). */
  warnings: string[];
}

function rule([text, spec]: readonly [string, RuleSpec]): RuleModel {
  return { id: fingerprint(text), text, spec };
}

function baseChain(name: string, base: BaseChainSpec, rules: Array<readonly [string, RuleSpec]>): ChainModel {
  return { name, base, rules: rules.map(rule) };
}

function newMap(name: string, type: string, data: string, flushOnChange = false): MapModel {
  return { name, kind: 'map', type, data, flushOnChange, elements: new Map() };
}

/** Comment of a cgroup element; it carries the id, because nft prints such keys unreliably. */
export function cgroupElementComment(ref: CgroupRef, path: string): string {
  return `id ${ref.id} ${path}`.slice(0, 120);
}

/**
 * Builds the table a FirewallState requires. Throws only for invalid masks (nothing sensible
 * can be built then); a bad session or classifier is skipped and reported in `warnings`.
 */
export function buildRuleset(state: FirewallState, opts: RulesetOptions): Ruleset {
  const { mask, tagMask } = state;
  const { ours, sessions, marks, snat, warnings } = planFirewall(state, NFT_NAMING);

  const maps = new Map<string, MapModel>();
  const addMap = (m: MapModel): MapModel => {
    maps.set(m.name, m);
    return m;
  };
  const src4 = addMap(newMap(MAP.src4, 'ipv4_addr', 'mark'));
  const src6 = addMap(newMap(MAP.src6, 'ipv6_addr', 'mark'));
  const uid = addMap(newMap(MAP.uid, 'uid', 'mark'));
  const gid = addMap(newMap(MAP.gid, 'gid', 'mark'));
  const svc = addMap(newMap(MAP.svc, 'mark', 'verdict'));
  const tx = addMap(newMap(MAP.tx, 'mark', 'counter'));
  const rx = addMap(newMap(MAP.rx, 'mark', 'counter'));
  const cgroupMaps = new Map<number, MapModel>();

  const chains = new Map<string, ChainModel>();
  const counters = new Set<string>();
  const values = new Map<string, number>();
  for (const s of sessions) {
    values.set(s.sessionKey, sessionValue(s.mark, s.tag));
    counters.add(`${TX_PREFIX}${s.sessionKey}`);
    counters.add(`${RX_PREFIX}${s.sessionKey}`);
    const tagKey = String(s.tag);
    tx.elements.set(tagKey, { key: hex32(s.tag), value: `"${TX_PREFIX}${s.sessionKey}"` });
    rx.elements.set(tagKey, { key: hex32(s.tag), value: `"${RX_PREFIX}${s.sessionKey}"` });
  }
  for (const mark of marks) {
    const c = serviceChain(ours, mark);
    chains.set(c.name, c);
    const [norm, element] = serviceElement(mark);
    svc.elements.set(norm, element);
  }

  for (const c of state.classifiers) {
    const value = values.get(c.sessionKey);
    if (value === undefined) {
      warnings.push(`${c.kind} ${c.key}: owner ${c.sessionKey} is not a usable session; skipped`);
      continue;
    }
    const problem = addClassifier(c, hex32(value), { src4, src6, uid, gid }, cgroupMaps, opts);
    if (problem) warnings.push(problem);
  }

  chains.set(CHAIN.service, {
    name: CHAIN.service,
    base: null,
    rules: [rule([serviceLookupRule(mask), { kind: 'service-lookup', mask, map: MAP.svc }])],
  });
  // classify: source first, then cgroups deepest first, then uid, then gid.
  const levels = [...cgroupMaps.keys()].sort((a, b) => b - a);
  for (const level of levels) addMap(cgroupMaps.get(level) as MapModel);
  const to = CHAIN.service;
  chains.set(CHAIN.classify, {
    name: CHAIN.classify,
    base: null,
    rules: [
      [sourceLookupRule(4), { kind: 'source-lookup', family: 4, map: MAP.src4, chain: to }] as const,
      [sourceLookupRule(6), { kind: 'source-lookup', family: 6, map: MAP.src6, chain: to }] as const,
      ...levels.map(
        (level) =>
          [cgroupLookupRule(level), { kind: 'cgroup-lookup', level, map: cgroupMapName(level), chain: to }] as const,
      ),
      [identityLookupRule('uid'), { kind: 'identity-lookup', key: 'uid', map: MAP.uid, chain: to }] as const,
      [identityLookupRule('gid'), { kind: 'identity-lookup', key: 'gid', map: MAP.gid, chain: to }] as const,
    ].map(rule),
  });

  const restore = [
    [restoreRule(ours, mask), { kind: 'restore', ours, mask, map: MAP.svc }] as const,
    [pinRule(mask), { kind: 'pin', mask }] as const,
  ];
  chains.set(
    CHAIN.output,
    baseChain(CHAIN.output, { type: 'route', hook: 'output', prio: PRIO_MANGLE, policy: 'accept' }, [
      ...restore,
      [classifyJumpRule(ours), { kind: 'classify-jump', ours, chain: CHAIN.classify }],
      [countRule(tagMask, MAP.tx), { kind: 'count', tagMask, map: MAP.tx }],
    ]),
  );
  chains.set(
    CHAIN.prerouting,
    baseChain(CHAIN.prerouting, { type: 'filter', hook: 'prerouting', prio: PRIO_MANGLE, policy: 'accept' }, restore),
  );
  chains.set(
    CHAIN.input,
    baseChain(CHAIN.input, { type: 'filter', hook: 'input', prio: PRIO_MANGLE, policy: 'accept' }, [
      [countRule(tagMask, MAP.rx), { kind: 'count', tagMask, map: MAP.rx }],
    ]),
  );
  const natRules = snat.map(
    (n) =>
      [
        snatRule(mask, n.mark, n.ifname, n.family, n.address),
        { kind: 'snat', mask, mark: n.mark, ifname: n.ifname, family: n.family, address: n.address },
      ] as const,
  );
  chains.set(
    CHAIN.postrouting,
    baseChain(CHAIN.postrouting, { type: 'nat', hook: 'postrouting', prio: PRIO_SRCNAT, policy: 'accept' }, natRules),
  );

  return { table: { chains, maps, counters, others: [] }, warnings };
}

function addClassifier(
  c: Classifier,
  value: string,
  fixed: { src4: MapModel; src6: MapModel; uid: MapModel; gid: MapModel },
  cgroupMaps: Map<number, MapModel>,
  opts: RulesetOptions,
): string | null {
  const put = (map: MapModel, norm: string, element: ElementModel): string | null => {
    if (map.elements.has(norm)) return `${c.kind} ${c.key}: claimed twice; the first claim is kept`;
    map.elements.set(norm, element);
    return null;
  };
  switch (c.kind) {
    case 'uid':
    case 'gid': {
      if (!DECIMAL.test(c.key) || Number(c.key) > UINT32_MAX)
        return `${c.kind} ${JSON.stringify(c.key)} is not a number`;
      const n = String(Number(c.key));
      return put(c.kind === 'uid' ? fixed.uid : fixed.gid, n, { key: n, value });
    }
    case 'source': {
      const family: Family = c.family ?? (c.key.includes(':') ? 6 : 4);
      const address = canonicalAddress(family, c.key);
      if (address === null) return `source ${JSON.stringify(c.key)} is not an IPv${family} address`;
      return put(family === 4 ? fixed.src4 : fixed.src6, address, { key: address, value });
    }
    case 'cgroup': {
      if (!QUOTABLE.test(c.key)) return `cgroup ${JSON.stringify(c.key)} cannot be quoted for nft; skipped`;
      const ref = opts.cgroup(c.key);
      if (ref !== null && !QUOTABLE.test(ref.nftPath))
        return `cgroup ${JSON.stringify(c.key)}: path ${JSON.stringify(ref.nftPath)} cannot be quoted for nft; skipped`;
      if (ref === null) return `cgroup ${JSON.stringify(c.key)} does not exist (or cgroup2 is not mounted); skipped`;
      let map = cgroupMaps.get(ref.level);
      if (!map) {
        map = newMap(cgroupMapName(ref.level), 'cgroupsv2', 'mark', true);
        cgroupMaps.set(ref.level, map);
      }
      return put(map, `id:${ref.id}`, { key: `"${ref.nftPath}"`, value, comment: cgroupElementComment(ref, c.key) });
    }
  }
}

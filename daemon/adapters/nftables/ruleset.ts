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
 *   map src4 { type ipv4_addr : verdict; }
 *   map src6 { type ipv6_addr : verdict; }
 *   map uid  { type uid : verdict; elements = { 1001 : goto s_s1 } }
 *   map gid  { type gid : verdict; }
 *   map tx   { type mark : counter; elements = { 0x00000001 : "tx_s1" } }
 *   map rx   { type mark : counter; elements = { 0x00000001 : "rx_s1" } }
 *   chain classify {
 *     ip saddr vmap @src4
 *     ip6 saddr vmap @src6
 *     meta skuid vmap @uid
 *     meta skgid vmap @gid
 *   }
 *   chain s_s1 {
 *     meta mark set meta mark and 0xf0000000 or 0x00020001 ct mark set meta mark
 *   }
 *   chain output {
 *     type route hook output priority -150; policy accept;
 *     ct mark and 0x0fffffff != 0 meta mark set ct mark
 *     ct state new meta mark and 0x0fffffff == 0 jump classify
 *     ct mark and 0x0000ffff != 0 counter name ct mark and 0x0000ffff map @tx
 *   }
 *   chain prerouting {
 *     type filter hook prerouting priority -150; policy accept;
 *     ct mark and 0x0fffffff != 0 meta mark set ct mark
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
 * `map cgN { type cgroupsv2 : verdict; }` (N = depth of the path) and the classify rule
 * `socket cgroupv2 level N vmap @cgN`, deepest level first so the most specific claim wins.
 *
 * Why this shape:
 * - Classification is O(1) per packet (one map lookup per kind) and only for packets of new
 *   connections that carry none of our bits; the session chain saves the mark in conntrack, and
 *   every later packet (both directions) gets it back from there. So an established connection
 *   keeps its path when its session moves, and moving a session rewrites its one-rule chain.
 * - The restore copies the whole 32-bit conntrack mark: nft 1.0.6 cannot combine two registers
 *   (`meta mark & ~OURS | ct mark & OURS`), so a pinned flow's packets carry exactly the mark its
 *   first packet had after classification, other users' bits included.
 * - Counting keys on the conntrack tag (`ct mark & tagMask`) through objref maps, so every packet
 *   of a session's connections is counted (not only the first one, which is all a counter in the
 *   session chain would see), and an unbound session (service bits 0, main table) is counted too.
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

/** Names of the fixed chains and maps. */
export const CHAIN = {
  output: 'output',
  classify: 'classify',
  prerouting: 'prerouting',
  input: 'input',
  postrouting: 'postrouting',
} as const;
export const MAP = { src4: 'src4', src6: 'src6', uid: 'uid', gid: 'gid', tx: 'tx', rx: 'rx' } as const;

/** Prefixes of per-session objects: chain `s_<key>`, counters `tx_<key>` / `rx_<key>`. */
export const SESSION_CHAIN_PREFIX = 's_';
export const TX_PREFIX = 'tx_';
export const RX_PREFIX = 'rx_';

/** nft's `mangle` and `srcnat` priorities. */
const PRIO_MANGLE = -150;
const PRIO_SRCNAT = 100;

/** A session key must make valid, unquoted nft identifiers after the prefixes above. */
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

/** Name of the verdict map for cgroups at `level`. */
export function cgroupMapName(level: number): string {
  return `cg${level}`;
}

/** Comment of a cgroup element; it carries the id, because nft prints such keys unreliably. */
export function cgroupElementComment(ref: CgroupRef, path: string): string {
  return `id ${ref.id} ${path}`.slice(0, 120);
}

// ---------------------------------------------------------------------------------------------
// Rule builders. Each returns the rule's nft text.
// ---------------------------------------------------------------------------------------------

/** Session chain: `meta mark set meta mark and ~OURS or (mark|tag) ct mark set meta mark`. */
export function sessionRule(ours: number, mark: number, tag: number): string {
  return `meta mark set meta mark and ${hex32(~ours)} or ${hex32(mark | tag)} ct mark set meta mark`;
}

/** output/prerouting: `ct mark and OURS != 0 meta mark set ct mark` (pinned connection). */
export function restoreRule(ours: number): string {
  return `ct mark and ${hex32(ours)} != 0 meta mark set ct mark`;
}

/** output: `ct state new meta mark and OURS == 0 jump classify` (only unmarked new flows). */
export function classifyJumpRule(ours: number): string {
  return `ct state new meta mark and ${hex32(ours)} == 0 jump ${CHAIN.classify}`;
}

/** output/input: `ct mark and TAG != 0 counter name ct mark and TAG map @tx|@rx`. */
export function countRule(tagMask: number, map: string): string {
  const t = hex32(tagMask);
  return `ct mark and ${t} != 0 counter name ct mark and ${t} map @${map}`;
}

/** classify: `ip saddr vmap @src4` / `ip6 saddr vmap @src6`. */
export function sourceLookupRule(family: Family): string {
  return family === 4 ? `ip saddr vmap @${MAP.src4}` : `ip6 saddr vmap @${MAP.src6}`;
}

/** classify: `socket cgroupv2 level N vmap @cgN`. */
export function cgroupLookupRule(level: number): string {
  return `socket cgroupv2 level ${level} vmap @${cgroupMapName(level)}`;
}

/** classify: `meta skuid vmap @uid` / `meta skgid vmap @gid`. */
export function identityLookupRule(kind: 'uid' | 'gid'): string {
  return kind === 'uid' ? `meta skuid vmap @${MAP.uid}` : `meta skgid vmap @${MAP.gid}`;
}

/**
 * postrouting: `meta mark and MASK == MARK oifname "IF" fib saddr type local snat ip to A`
 * (`snat ip6 to A` for v6).
 */
export function snatRule(mask: number, mark: number, ifname: string, family: Family, address: string): string {
  return `meta mark and ${hex32(mask)} == ${hex32(mark)} oifname "${ifname}" fib saddr type local snat ${family === 4 ? 'ip' : 'ip6'} to ${address}`;
}

// ---------------------------------------------------------------------------------------------

function goto(sessionKey: string): string {
  return `goto ${SESSION_CHAIN_PREFIX}${sessionKey}`;
}

/**
 * Builds the table a FirewallState requires. Throws only for invalid masks (nothing sensible
 * can be built then); a bad session or classifier is skipped and reported in `warnings`.
 */
export function buildRuleset(state: FirewallState, opts: RulesetOptions): Ruleset {
  const { mask, tagMask } = state;
  const { ours, sessions, live, snat, warnings } = planFirewall(state, NFT_NAMING);

  const maps = new Map<string, MapModel>();
  const addMap = (m: MapModel): MapModel => {
    maps.set(m.name, m);
    return m;
  };
  const src4 = addMap(newMap(MAP.src4, 'ipv4_addr', 'verdict'));
  const src6 = addMap(newMap(MAP.src6, 'ipv6_addr', 'verdict'));
  const uid = addMap(newMap(MAP.uid, 'uid', 'verdict'));
  const gid = addMap(newMap(MAP.gid, 'gid', 'verdict'));
  const tx = addMap(newMap(MAP.tx, 'mark', 'counter'));
  const rx = addMap(newMap(MAP.rx, 'mark', 'counter'));
  const cgroupMaps = new Map<number, MapModel>();

  const chains = new Map<string, ChainModel>();
  const counters = new Set<string>();
  for (const s of sessions) {
    const chain = `${SESSION_CHAIN_PREFIX}${s.sessionKey}`;
    chains.set(chain, {
      name: chain,
      base: null,
      rules: [rule([sessionRule(ours, s.mark, s.tag), { kind: 'session', ours, value: (s.mark | s.tag) >>> 0 }])],
    });
    counters.add(`${TX_PREFIX}${s.sessionKey}`);
    counters.add(`${RX_PREFIX}${s.sessionKey}`);
    const tagKey = String(s.tag);
    tx.elements.set(tagKey, { key: hex32(s.tag), value: `"${TX_PREFIX}${s.sessionKey}"` });
    rx.elements.set(tagKey, { key: hex32(s.tag), value: `"${RX_PREFIX}${s.sessionKey}"` });
  }

  for (const c of state.classifiers) {
    if (!live.has(c.sessionKey)) {
      warnings.push(`${c.kind} ${c.key}: owner ${c.sessionKey} is not a usable session; skipped`);
      continue;
    }
    const problem = addClassifier(c, { src4, src6, uid, gid }, cgroupMaps, opts);
    if (problem) warnings.push(problem);
  }

  // classify: source first, then cgroups deepest first, then uid, then gid.
  const levels = [...cgroupMaps.keys()].sort((a, b) => b - a);
  for (const level of levels) addMap(cgroupMaps.get(level) as MapModel);
  chains.set(CHAIN.classify, {
    name: CHAIN.classify,
    base: null,
    rules: [
      [sourceLookupRule(4), { kind: 'source-lookup', family: 4, map: MAP.src4 }] as const,
      [sourceLookupRule(6), { kind: 'source-lookup', family: 6, map: MAP.src6 }] as const,
      ...levels.map(
        (level) => [cgroupLookupRule(level), { kind: 'cgroup-lookup', level, map: cgroupMapName(level) }] as const,
      ),
      [identityLookupRule('uid'), { kind: 'identity-lookup', key: 'uid', map: MAP.uid }] as const,
      [identityLookupRule('gid'), { kind: 'identity-lookup', key: 'gid', map: MAP.gid }] as const,
    ].map(rule),
  });

  chains.set(
    CHAIN.output,
    baseChain(CHAIN.output, { type: 'route', hook: 'output', prio: PRIO_MANGLE, policy: 'accept' }, [
      [restoreRule(ours), { kind: 'restore', ours }],
      [classifyJumpRule(ours), { kind: 'classify-jump', ours, chain: CHAIN.classify }],
      [countRule(tagMask, MAP.tx), { kind: 'count', tagMask, map: MAP.tx }],
    ]),
  );
  chains.set(
    CHAIN.prerouting,
    baseChain(CHAIN.prerouting, { type: 'filter', hook: 'prerouting', prio: PRIO_MANGLE, policy: 'accept' }, [
      [restoreRule(ours), { kind: 'restore', ours }],
    ]),
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
  fixed: { src4: MapModel; src6: MapModel; uid: MapModel; gid: MapModel },
  cgroupMaps: Map<number, MapModel>,
  opts: RulesetOptions,
): string | null {
  const value = goto(c.sessionKey);
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
        map = newMap(cgroupMapName(ref.level), 'cgroupsv2', 'verdict', true);
        cgroupMaps.set(ref.level, map);
      }
      return put(map, `id:${ref.id}`, { key: `"${ref.nftPath}"`, value, comment: cgroupElementComment(ref, c.key) });
    }
  }
}

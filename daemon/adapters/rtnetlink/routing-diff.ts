/**
 * Pure half of the routing adapter: decoding rtnetlink rule and route dumps into records,
 * normalising the desired {@link RoutingState} into the same records, and diffing the two into
 * an ordered list of kernel operations.
 *
 * Ownership is decided by the configured ranges only: a rule is ours when its priority is inside
 * `priorityRange` AND its table inside `tableRange`; a route is ours when its table is inside
 * `tableRange`. Everything else is never deleted, whatever it looks like. The rtm_protocol tag
 * ({@link RTPROT_NETSESSION}) is written on everything we add so leftovers are recognisable by
 * humans (`ip rule` shows `proto 110`), but it is not part of any comparison: an identical entry
 * with another tag (a hand-made one, or one from an older version) is adopted, not churned.
 *
 * Entries are compared by a canonical key built from every selector the kernel matches on, so
 * an entry in our ranges that carries anything we never install (an `iif`, a second next hop,
 * another metric) differs from the desired one and gets replaced.
 */
export { RTNH_F_ONLINK, RTN_UNICAST, RTPROT_NETSESSION, RT_SCOPE_LINK, RT_SCOPE_NOWHERE, RT_SCOPE_UNIVERSE } from './constants.js';
import { RTN_BY_NAME, AF_INET, AF_INET6, RTNH_F_ONLINK, RTN_UNICAST, RTPROT_NETSESSION, RT_SCOPE_LINK, RT_SCOPE_NOWHERE, RT_SCOPE_UNIVERSE } from './constants.js';
import type { rt } from 'netlink';
import type { IntRange } from '../../core/alloc.js';
import { canonicalAddress, networkOf } from '../../core/kernel-state.js';
import type { Family } from '../../core/services.js';
import type { PolicyRule, RoutingState } from '../../core/kernel-state-types.js';
import { formatAddress } from './facts.js';

// ---------------------------------------------------------------------------------------------
// Constants (linux/rtnetlink.h, linux/fib_rules.h)
// ---------------------------------------------------------------------------------------------

/**
 * rtm_protocol / FRA_PROTOCOL of everything the daemon adds: 0x6e ('n'), unassigned in
 * linux/rtnetlink.h and /etc/iproute2/rt_protos, so `ip rule` / `ip route` show `proto 110`.
 */
/** FR_ACT_TO_TBL: `lookup T`. */
export const FR_ACT_TO_TBL = 1;
/** Metric the kernel gives a route added without one: 0 for v4, IP6_RT_PRIO_USER for v6. */
export const DEFAULT_METRIC: Readonly<Record<Family, number>> = { 4: 0, 6: 1024 };

const U32_UNSET = 0xffffffff;

const SCOPE_BY_NAME: Readonly<Record<string, number>> = { UNIVERSE: 0, SITE: 200, LINK: 253, HOST: 254, NOWHERE: 255 };
const RTPROT_BY_NAME: Readonly<Record<string, number>> = {
  UNSPEC: 0, REDIRECT: 1, KERNEL: 2, BOOT: 3, STATIC: 4, GATED: 8, RA: 9, MRT: 10, ZEBRA: 11, BIRD: 12,
  DNROUTED: 13, XORP: 14, NTK: 15, DHCP: 16, MROUTED: 17, BABEL: 42, BGP: 186, ISIS: 187, OSPF: 188, RIP: 189, EIGRP: 192,
};
const FR_ACT_BY_NAME: Readonly<Record<string, number>> = {
  unspec: 0, toTbl: 1, goto: 2, nop: 3, res3: 4, res4: 5, blackhole: 6, unreachable: 7, prohibit: 8,
};

/** The package reports known enum values by name and unknown ones as numbers. */
function enumValue(v: unknown, byName: Readonly<Record<string, number>>): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return byName[v] ?? -1;
  return 0;
}

function familyOf(n: number | undefined): Family | null {
  return n === AF_INET ? 4 : n === AF_INET6 ? 6 : null;
}

/** AF_INET / AF_INET6 of a family. */
export function afOf(family: Family): number {
  return family === 4 ? AF_INET : AF_INET6;
}

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

/** The fields of a route that the kernel and the diff look at. */
export interface RouteSpec {
  family: Family;
  table: number;
  /** Canonical network address; '' for a default route. */
  dst: string;
  dstLen: number;
  /** Source-specific routes (v6) are never ours: kept only so they compare unequal. */
  srcLen: number;
  tos: number;
  /** RTN_* */
  type: number;
  /** RT_SCOPE_* */
  scope: number;
  metric: number;
  /** Canonical next hop, '' for an on-link route. */
  gateway: string;
  /** Output interface, 0 when the route names none. */
  ifindex: number;
  onlink: boolean;
  /** Selectors we never install (multipath, nexthop objects, RTA_VIA, encap, prefsrc, src), '' when none. */
  exotic: string;
}

/** A route as dumped, with the message it came from (deletes echo it back for an exact match). */
export interface KernelRoute extends RouteSpec {
  protocol: number;
  raw?: rt.RouteMessage;
}

/** The fields of a rule that the kernel and the diff look at. */
export interface RuleSpec {
  family: Family;
  priority: number;
  table: number;
  /** FR_ACT_* */
  action: number;
  mark: number;
  mask: number;
  /** Canonical source prefix, '' when the rule has none. */
  src: string;
  srcLen: number;
  dst: string;
  dstLen: number;
  tos: number;
  /** Selectors we never install (iif, oif, uidrange, ports, not, ...), '' when none. */
  extra: string;
}

/** A rule as dumped. */
export interface KernelRule extends RuleSpec {
  protocol: number;
  raw?: rt.RuleMessage;
}

/** What the kernel holds (any table, any priority: the diff filters by ownership). */
export interface KernelSnapshot {
  routes: KernelRoute[];
  rules: KernelRule[];
}

/** The ranges that define what the daemon owns. */
export interface Ownership {
  tableRange: IntRange;
  priorityRange: IntRange;
}

// ---------------------------------------------------------------------------------------------
// Address helpers
// ---------------------------------------------------------------------------------------------

/** Canonical text of a dumped address buffer, '' when absent or malformed. */
function textOf(family: Family, b: Uint8Array | undefined): string {
  const s = formatAddress(family, b);
  return s === '' ? '' : (canonicalAddress(family, s) ?? '');
}

/** The 4 or 16 bytes of an address (zone ids like `%eth0` ignored), or null when it does not parse. */
export function addressBytes(family: Family, text: string): Buffer | null {
  const canon = canonicalAddress(family, text);
  if (canon === null) return null;
  if (family === 4) return Buffer.from(canon.split('.').map(Number));
  const [head = '', tail] = canon.split('::') as [string, string | undefined];
  const groups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

function isLinkLocalV6(addr: string): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(addr);
}

/** Is `addr` inside `net/len` (both canonical, same family)? */
function inPrefix(family: Family, addr: string, net: string, len: number): boolean {
  return networkOf(family, addr, len) === net;
}

// ---------------------------------------------------------------------------------------------
// Decoders (package message → record)
// ---------------------------------------------------------------------------------------------

function u32Of(b: Uint8Array | undefined): number | null {
  if (!b || b.length < 4) return null;
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).readUInt32LE(0);
}

/** Decodes one RTM_NEWRULE of a dump; null for families other than IPv4/IPv6. */
export function decodeRule(msg: rt.RuleMessage): KernelRule | null {
  const { data, attrs } = msg;
  const family = familyOf(data.family);
  if (!family) return null;
  const extra: string[] = [];
  if (data.flags?.invert) extra.push('not');
  if (attrs.iifname) extra.push(`iif ${attrs.iifname}`);
  if (attrs.oifname) extra.push(`oif ${attrs.oifname}`);
  if (attrs.uidRange) extra.push(`uidrange ${attrs.uidRange.start ?? 0}-${attrs.uidRange.end ?? 0}`);
  if (attrs.ipProto) extra.push(`ipproto ${attrs.ipProto}`);
  if (attrs.sportRange) extra.push(`sport ${attrs.sportRange.start ?? 0}-${attrs.sportRange.end ?? 0}`);
  if (attrs.dportRange) extra.push(`dport ${attrs.dportRange.start ?? 0}-${attrs.dportRange.end ?? 0}`);
  if (attrs.l3Mdev) extra.push('l3mdev');
  if (attrs.goto !== undefined) extra.push(`goto ${attrs.goto}`);
  if (attrs.flow) extra.push(`realms ${attrs.flow}`);
  if (attrs.tunId && attrs.tunId.some((x) => x !== 0)) extra.push(`tun_id ${Buffer.from(attrs.tunId).toString('hex')}`);
  const sp = u32Of(attrs.suppressPrefixlen);
  if (sp !== null && sp !== U32_UNSET) extra.push(`suppress_prefixlength ${sp}`);
  const sg = u32Of(attrs.suppressIfgroup);
  if (sg !== null && sg !== U32_UNSET) extra.push(`suppress_ifgroup ${sg}`);
  const mark = (attrs.fwmark ?? 0) >>> 0;
  const srcLen = data.srcLen ?? 0;
  const dstLen = data.dstLen ?? 0;
  return {
    family,
    priority: attrs.priority ?? 0,
    table: attrs.table ?? data.table ?? 0,
    action: enumValue(data.action, FR_ACT_BY_NAME),
    mark,
    // The kernel reports FRA_FWMASK with every non-zero mark; a mark alone means "all bits".
    mask: (attrs.fwmask ?? (mark !== 0 ? U32_UNSET : 0)) >>> 0,
    src: srcLen > 0 ? textOf(family, attrs.src) : '',
    srcLen,
    dst: dstLen > 0 ? textOf(family, attrs.dst) : '',
    dstLen,
    tos: data.tos ?? 0,
    extra: extra.join(' '),
    protocol: attrs.protocol ?? 0,
    raw: msg,
  };
}

/** Decodes one RTM_NEWROUTE of a dump; null for other families and for cache clones. */
export function decodeTableRoute(msg: rt.RouteMessage): KernelRoute | null {
  const { data, attrs } = msg;
  const family = familyOf(data.family);
  if (!family || data.flags?.cloned) return null;
  const exotic: string[] = [];
  if (attrs.multipath) exotic.push('multipath');
  if (attrs.nhId) exotic.push('nhid');
  if (attrs.via) exotic.push('via');
  if (attrs.encap || attrs.encapType) exotic.push('encap');
  if (attrs.prefsrc) exotic.push(`src ${textOf(family, attrs.prefsrc)}`);
  if (attrs.iif) exotic.push(`iif ${attrs.iif}`);
  const srcLen = data.srcLen ?? 0;
  if (srcLen > 0) exotic.push(`from ${textOf(family, attrs.src)}/${srcLen}`);
  const dstLen = data.dstLen ?? 0;
  const rtmFlags = data.flags?.__unknown ?? 0;
  return {
    family,
    table: attrs.table ?? data.table ?? 0,
    dst: dstLen > 0 ? textOf(family, attrs.dst) : '',
    dstLen,
    srcLen,
    tos: data.tos ?? 0,
    type: enumValue(data.type, RTN_BY_NAME),
    scope: enumValue(data.scope, SCOPE_BY_NAME),
    metric: attrs.priority ?? 0,
    gateway: textOf(family, attrs.gateway),
    ifindex: attrs.oif ?? 0,
    onlink: (rtmFlags & RTNH_F_ONLINK) !== 0,
    exotic: exotic.join(' '),
    protocol: enumValue(data.protocol, RTPROT_BY_NAME),
    raw: msg,
  };
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/** Everything that makes two routes the same route for us. */
export function routeKey(r: RouteSpec): string {
  const dst = r.dstLen === 0 ? 'default' : `${r.dst}/${r.dstLen}`;
  return `${r.family} t${r.table} ${dst} from/${r.srcLen} tos ${r.tos} metric ${r.metric} type ${r.type} via ${r.gateway || '-'} dev ${r.ifindex} ${r.exotic}`.trimEnd();
}

/**
 * What the kernel treats as "the same slot" in a table (NLM_F_EXCL fails, NLM_F_REPLACE
 * replaces): destination, source prefix, tos and metric.
 */
export function routeIdentity(r: RouteSpec): string {
  return `${r.family} t${r.table} ${r.dst}/${r.dstLen} from/${r.srcLen} tos ${r.tos} metric ${r.metric}`;
}

/** Everything that makes two rules the same rule for us (the protocol tag excluded). */
export function ruleKey(r: RuleSpec): string {
  return (
    `${r.family} pref ${r.priority} action ${r.action} table ${r.table} fwmark ${r.mark}/${r.mask} ` +
    `from ${r.src || '-'}/${r.srcLen} to ${r.dst || '-'}/${r.dstLen} tos ${r.tos} ${r.extra}`
  ).trimEnd();
}

// ---------------------------------------------------------------------------------------------
// Ownership
// ---------------------------------------------------------------------------------------------

const inRange = (n: number, r: IntRange): boolean => n >= r.start && n <= r.end;

/** A route is ours when it lives in one of our tables. */
export function isOurRoute(r: { table: number }, own: Ownership): boolean {
  return inRange(r.table, own.tableRange);
}

/** A rule is ours only when BOTH its priority and its table are inside our ranges. */
export function isOurRule(r: { priority: number; table: number }, own: Ownership): boolean {
  return inRange(r.priority, own.priorityRange) && inRange(r.table, own.tableRange);
}

// ---------------------------------------------------------------------------------------------
// Desired state → records
// ---------------------------------------------------------------------------------------------

/** The desired state as records, plus what had to be left out (never applied, only logged). */
export interface NormalisedDesired {
  routes: RouteSpec[];
  rules: RuleSpec[];
  problems: string[];
}

/**
 * Turns the core's desired state into records comparable with the kernel's: canonical addresses,
 * network addresses for prefixes, the metric and scope the kernel will report, and the onlink
 * flag for gateways that no on-link route of the same table covers (the kernel rejects those
 * with ENETUNREACH/EHOSTUNREACH otherwise). Entries outside our ranges are refused (a bug in the
 * caller must never make us write outside what we own), duplicates are dropped, and of two
 * routes for the same kernel slot only the first is kept.
 */
export function normaliseDesired(desired: RoutingState, own: Ownership): NormalisedDesired {
  const problems: string[] = [];
  const routes: RouteSpec[] = [];
  const byIdentity = new Map<string, string>();

  const raw: Array<{ family: Family; table: number; dst: string; dstLen: number; gateway: string; ifindex: number; what: string }> = [];
  for (const svc of desired.services) {
    for (const r of svc.routes) {
      const what = `route ${r.dst || 'default'}/${r.dstLen} via ${r.gateway ?? '-'} dev ${r.ifindex} table ${r.table} (service ${svc.serviceId})`;
      if (r.family !== 4 && r.family !== 6) {
        problems.push(`${what}: bad family ${String(r.family)}`);
        continue;
      }
      if (!isOurRoute(r, own)) {
        problems.push(`${what}: table outside ${own.tableRange.start}-${own.tableRange.end}, not applied`);
        continue;
      }
      const bits = r.family === 4 ? 32 : 128;
      const dst = r.dstLen === 0 ? '' : networkOf(r.family, r.dst, r.dstLen);
      if (!Number.isInteger(r.dstLen) || r.dstLen < 0 || r.dstLen > bits || dst === null) {
        problems.push(`${what}: bad destination`);
        continue;
      }
      const gateway = r.gateway === undefined || r.gateway === '' ? '' : canonicalAddress(r.family, r.gateway);
      if (gateway === null) {
        problems.push(`${what}: bad gateway`);
        continue;
      }
      if (!Number.isInteger(r.ifindex) || r.ifindex <= 0) {
        problems.push(`${what}: bad ifindex`);
        continue;
      }
      raw.push({ family: r.family, table: r.table, dst, dstLen: r.dstLen, gateway, ifindex: r.ifindex, what });
    }
  }

  for (const r of raw) {
    let onlink = false;
    if (r.gateway !== '' && !(r.family === 6 && isLinkLocalV6(r.gateway))) {
      const covered = raw.some(
        (p) => p.gateway === '' && p.family === r.family && p.table === r.table && p.ifindex === r.ifindex && p.dstLen > 0 && inPrefix(r.family, r.gateway, p.dst, p.dstLen),
      );
      onlink = !covered;
    }
    const spec: RouteSpec = {
      family: r.family,
      table: r.table,
      dst: r.dst,
      dstLen: r.dstLen,
      srcLen: 0,
      tos: 0,
      type: RTN_UNICAST,
      scope: r.family === 4 && r.gateway === '' ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE,
      metric: DEFAULT_METRIC[r.family],
      gateway: r.gateway,
      ifindex: r.ifindex,
      onlink,
      exotic: '',
    };
    const id = routeIdentity(spec);
    const key = routeKey(spec);
    const prev = byIdentity.get(id);
    if (prev !== undefined) {
      if (prev !== key) problems.push(`${r.what}: same destination and metric as another route of the table, not applied`);
      continue;
    }
    byIdentity.set(id, key);
    routes.push(spec);
  }

  const rules: RuleSpec[] = [];
  const seenRules = new Set<string>();
  for (const r of desired.rules) {
    const spec = ruleSpecOf(r, problems);
    if (!spec) continue;
    if (!isOurRule(spec, own)) {
      problems.push(`${describeRule(spec)}: priority or table outside our ranges, not applied`);
      continue;
    }
    const key = ruleKey(spec);
    if (seenRules.has(key)) continue;
    seenRules.add(key);
    rules.push(spec);
  }
  return { routes, rules, problems };
}

function ruleSpecOf(r: PolicyRule, problems: string[]): RuleSpec | null {
  if (r.family !== 4 && r.family !== 6) {
    problems.push(`rule priority ${r.priority}: bad family ${String(r.family)}`);
    return null;
  }
  if (!Number.isInteger(r.priority) || !Number.isInteger(r.table)) {
    problems.push(`rule priority ${r.priority}: bad priority or table`);
    return null;
  }
  const base = { family: r.family, priority: r.priority, table: r.table, action: FR_ACT_TO_TBL, dst: '', dstLen: 0, tos: 0, extra: '' };
  if (r.kind === 'fwmark') {
    const mark = r.mark >>> 0;
    const mask = r.mask >>> 0;
    if (!Number.isInteger(r.mark) || !Number.isInteger(r.mask) || mark === 0 || mask === 0) {
      problems.push(`rule priority ${r.priority}: bad fwmark ${String(r.mark)}/${String(r.mask)}`);
      return null;
    }
    return { ...base, mark, mask, src: '', srcLen: 0 };
  }
  const bits = r.family === 4 ? 32 : 128;
  const src = Number.isInteger(r.srcLen) && r.srcLen > 0 && r.srcLen <= bits ? networkOf(r.family, r.src, r.srcLen) : null;
  if (src === null) {
    problems.push(`rule priority ${r.priority}: bad source ${r.src}/${r.srcLen}`);
    return null;
  }
  return { ...base, mark: 0, mask: 0, src, srcLen: r.srcLen };
}

/** `ip rule`-style text of a rule, for logs and error messages. */
export function describeRule(r: RuleSpec): string {
  const sel = r.srcLen > 0 ? `from ${r.src}/${r.srcLen}` : 'from all';
  const mark = r.mark !== 0 || r.mask !== 0 ? ` fwmark 0x${r.mark.toString(16)}/0x${r.mask.toString(16)}` : '';
  const extra = r.extra ? ` ${r.extra}` : '';
  return `rule -${r.family} pref ${r.priority} ${sel}${mark}${extra} lookup ${r.table}`;
}

/** `ip route`-style text of a route, for logs and error messages. */
export function describeRoute(r: RouteSpec): string {
  const dst = r.dstLen === 0 ? 'default' : `${r.dst}/${r.dstLen}`;
  const via = r.gateway ? ` via ${r.gateway}` : '';
  const dev = r.ifindex ? ` dev #${r.ifindex}` : '';
  const onlink = r.onlink ? ' onlink' : '';
  const exotic = r.exotic ? ` ${r.exotic}` : '';
  return `route -${r.family} ${dst}${via}${dev} table ${r.table} metric ${r.metric}${onlink}${exotic}`;
}

// ---------------------------------------------------------------------------------------------
// The diff
// ---------------------------------------------------------------------------------------------

/**
 * One kernel operation. `phase` orders them: all ops of a phase are independent of each other
 * (they may be sent together); phases run one after another:
 * 1. on-link routes added/replaced (a gateway route's next hop may need them),
 * 2. gateway routes added/replaced — so every table is filled before a rule points at it,
 * 3. rules added,
 * 4. rules deleted — new rules are in before old ones go, so marked traffic never falls
 *    through to `main` in between,
 * 5. gateway routes deleted, 6. on-link routes deleted — after the rules that used them.
 */
export type RoutingOp =
  | { phase: 1 | 2; kind: 'route'; op: 'add' | 'replace'; route: RouteSpec }
  | { phase: 5 | 6; kind: 'route'; op: 'del'; route: KernelRoute }
  | { phase: 3; kind: 'rule'; op: 'add'; rule: RuleSpec }
  | { phase: 4; kind: 'rule'; op: 'del'; rule: KernelRule };

/** The outcome of {@link planRouting}. */
export interface RoutingPlan {
  /** Sorted by phase. Empty when the kernel already holds exactly the desired state. */
  ops: RoutingOp[];
  /** Desired entries that cannot be applied (outside our ranges, malformed, conflicting). */
  problems: string[];
  /** Our tables that hold routes now and hold none once the plan ran. */
  removedTables: number[];
  /**
   * A rule delete may hit another of our rules than the intended one (the kernel deletes the
   * first rule its request matches, and absent attributes match anything): read back and diff
   * again after running the plan.
   */
  ambiguous: boolean;
}

/**
 * Matches desired routes against ours in the kernel, by `keyOf` (identical entries are kept, one
 * of each). A missing route whose slot (routeIdentity: destination, metric, table) a stale one
 * holds replaces it (NLM_F_REPLACE: the slot never goes empty); every other stale route, extra
 * duplicates included, is to be deleted.
 */
export function diffRoutes<W extends RouteSpec>(
  ours: readonly KernelRoute[],
  want: readonly W[],
  keyOf: (r: KernelRoute | W) => string,
): { write: Array<{ route: W; replaces: boolean }>; del: KernelRoute[] } {
  const present = new Map<string, KernelRoute[]>();
  for (const r of ours) {
    const k = keyOf(r);
    const list = present.get(k);
    if (list) list.push(r);
    else present.set(k, [r]);
  }
  const missing: W[] = [];
  for (const r of want) {
    const list = present.get(keyOf(r));
    if (list && list.length > 0) list.shift();
    else missing.push(r);
  }
  // What remains in `present` is stale (not desired, or a duplicate of a kept one).
  const staleBySlot = new Map<string, KernelRoute[]>();
  for (const list of present.values()) {
    for (const r of list) {
      const id = routeIdentity(r);
      const slot = staleBySlot.get(id);
      if (slot) slot.push(r);
      else staleBySlot.set(id, [r]);
    }
  }
  const write = missing.map((route) => ({ route, replaces: staleBySlot.get(routeIdentity(route))?.shift() !== undefined }));
  return { write, del: [...staleBySlot.values()].flat() };
}

/**
 * Diffs the desired state against a kernel snapshot. Only entries inside our ranges are ever
 * deleted; identical entries are kept (one of each, extra duplicates deleted); a missing route
 * whose kernel slot (destination, metric) is taken by a stale one of ours is written with
 * NLM_F_REPLACE instead of delete-then-add, so the table never goes empty in between.
 */
export function planRouting(desired: RoutingState, actual: KernelSnapshot, own: Ownership): RoutingPlan {
  const want = normaliseDesired(desired, own);
  const ops: RoutingOp[] = [];

  // Routes.
  const ourRoutes = actual.routes.filter((r) => isOurRoute(r, own));
  const routes = diffRoutes(ourRoutes, want.routes, routeKey);
  for (const { route: r, replaces } of routes.write) ops.push({ phase: r.gateway === '' ? 1 : 2, kind: 'route', op: replaces ? 'replace' : 'add', route: r });
  for (const r of routes.del) ops.push({ phase: r.gateway === '' ? 6 : 5, kind: 'route', op: 'del', route: r });

  const desiredTables = new Set(want.routes.map((r) => r.table));
  const removedTables = [...new Set(ourRoutes.map((r) => r.table))].filter((t) => !desiredTables.has(t)).sort((a, b) => a - b);

  // Rules.
  const ourRules = actual.rules.filter((r) => isOurRule(r, own));
  const presentRules = new Map<string, KernelRule[]>();
  for (const r of ourRules) {
    const k = ruleKey(r);
    const list = presentRules.get(k);
    if (list) list.push(r);
    else presentRules.set(k, [r]);
  }
  const addedRules: RuleSpec[] = [];
  for (const r of want.rules) {
    const list = presentRules.get(ruleKey(r));
    if (list && list.length > 0) list.shift();
    else {
      addedRules.push(r);
      ops.push({ phase: 3, kind: 'rule', op: 'add', rule: r });
    }
  }
  const staleRules = [...presentRules.values()].flat();
  for (const r of staleRules) ops.push({ phase: 4, kind: 'rule', op: 'del', rule: r });

  ops.sort((a, b) => a.phase - b.phase);
  const ambiguous = staleRules.length > 0 && ruleDeletesAmbiguous(actual.rules, addedRules, staleRules);
  return { ops, problems: want.problems, removedTables, ambiguous };
}

/**
 * Would the kernel's rule lookup for a delete request built from `req` (see
 * {@link ruleDeleteRequest}) accept `r`? Mirrors `rule_find()` in net/core/fib_rules.c plus the
 * per-family compare: attributes absent from the request match anything.
 */
export function ruleDeleteMatches(req: KernelRule, r: KernelRule): boolean {
  if (r.family !== req.family || r.priority !== req.priority) return false;
  if (req.action && r.action !== req.action) return false;
  if (req.table && r.table !== req.table) return false;
  if (req.mark && r.mark !== req.mark) return false;
  if (req.mask && r.mask !== req.mask) return false;
  if (req.srcLen && (r.srcLen !== req.srcLen || r.src !== req.src)) return false;
  if (req.dstLen && (r.dstLen !== req.dstLen || r.dst !== req.dst)) return false;
  if (req.tos && r.tos !== req.tos) return false;
  if (req.protocol && r.protocol !== req.protocol) return false;
  // Selectors in `extra` are all sent with the request, so they must match too; a request
  // without any matches rules that have some (approximation: compared as one string).
  if (req.extra && r.extra !== req.extra) return false;
  return true;
}

/** Simulates the deletes in dump order; true when one of them would take another rule first. */
function ruleDeletesAmbiguous(all: KernelRule[], added: RuleSpec[], deletes: KernelRule[]): boolean {
  // New rules go in after the existing ones of the same priority, as the kernel inserts them.
  const list: KernelRule[] = [...all, ...added.map((r) => ({ ...r, protocol: RTPROT_NETSESSION }))];
  for (const d of deletes) {
    const i = list.findIndex((r) => ruleDeleteMatches(d, r));
    if (i < 0) continue;
    if (list[i] !== d) return true;
    list.splice(i, 1);
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Errors and sysctls
// ---------------------------------------------------------------------------------------------

/**
 * The errno name of a `netlink` package rejection (`Error("Request rejected: EEXIST")`; the
 * package attaches no code), `ETIMEDOUT` for its request timeout, or null.
 */
export function netlinkErrorCode(err: unknown): string | null {
  const msg = err instanceof Error ? err.message : String(err);
  const m = /Request rejected: (-?\w+)/.exec(msg);
  if (m) return m[1] as string;
  if (/Timeout has been reached/.test(msg)) return 'ETIMEDOUT';
  return null;
}

/** Route errors that mean "the next hop is not reachable yet": skipped, retried on the next apply. */
export const NOT_YET_REACHABLE: ReadonlySet<string> = new Set(['ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN']);

/**
 * The rp_filter value to write on a managed interface, or null to leave it. The kernel checks
 * with max(conf.all, conf.<if>): only an effective 1 (strict) drops the replies of rerouted
 * traffic, and writing 2 (loose) on the interface alone makes the effective value 2 whatever
 * conf.all says, so conf.all is never touched; 0 (off) and 2 are left as the admin set them.
 */
export function rpFilterToWrite(all: number, iface: number): number | null {
  return Math.max(all, iface) === 1 ? 2 : null;
}

/** Interface names usable as a /proc/sys/net/ipv4/conf/<name> path component (never all/default). */
export function isSysctlIfname(name: string): boolean {
  return /^[^/\s]{1,15}$/.test(name) && name !== '.' && name !== '..' && name !== 'all' && name !== 'default';
}

/** Distinct interface names of the desired services, in order. */
export function managedInterfaces(desired: RoutingState): string[] {
  return [...new Set(desired.services.map((s) => s.ifname))];
}

/**
 * The plan of the routing adapter: the desired {@link RoutingState} normalised into the records
 * a dump yields (routes.ts, rules.ts), and the diff of the two into ordered kernel operations.
 * Pure.
 *
 * Ownership is decided by the configured ranges only: a rule is ours when its priority is inside
 * `priorityRange` AND its table inside `tableRange`; a route is ours when its table is inside
 * `tableRange`. Everything else is never deleted, whatever it looks like. The rtm_protocol tag
 * ({@link RTPROT_NETSESSION}) is written on everything we add so leftovers are recognisable by
 * humans (`ip rule` shows `proto 110`), but it is not part of any comparison: an identical entry
 * with another tag (a hand-made one, or one from an older version) is adopted, not churned.
 */

import { canonicalAddress, networkOf } from '../../core/addresses.js';
import type { IntRange } from '../../core/alloc.js';
import type { PolicyRule, RoutingState } from '../../core/kernel-state-types.js';
import type { Family } from '../../core/services.js';
import {
  FR_ACT_TO_TBL,
  RT_SCOPE_LINK,
  RT_SCOPE_UNIVERSE,
  RTN_UNICAST,
  RTPROT_NETSESSION,
} from './messages/constants.js';
import { DEFAULT_METRIC, diffRoutes, type KernelRoute, type RouteSpec, routeIdentity, routeKey } from './routes.js';
import { describeRule, type KernelRule, type RuleSpec, ruleDeleteMatches, ruleKey } from './rules.js';

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

function isLinkLocalV6(addr: string): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(addr);
}

/** Is `addr` inside `net/len` (both canonical, same family)? */
function inPrefix(family: Family, addr: string, net: string, len: number): boolean {
  return networkOf(family, addr, len) === net;
}

const inRange = (n: number, r: IntRange): boolean => n >= r.start && n <= r.end;

/** A route is ours when it lives in one of our tables. */
export function isOurRoute(r: { table: number }, own: Ownership): boolean {
  return inRange(r.table, own.tableRange);
}

/** A rule is ours only when BOTH its priority and its table are inside our ranges. */
export function isOurRule(r: { priority: number; table: number }, own: Ownership): boolean {
  return inRange(r.priority, own.priorityRange) && inRange(r.table, own.tableRange);
}

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

  const raw: Array<{
    family: Family;
    table: number;
    dst: string;
    dstLen: number;
    gateway: string;
    ifindex: number;
    what: string;
  }> = [];
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
        (p) =>
          p.gateway === '' &&
          p.family === r.family &&
          p.table === r.table &&
          p.ifindex === r.ifindex &&
          p.dstLen > 0 &&
          inPrefix(r.family, r.gateway, p.dst, p.dstLen),
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
      if (prev !== key)
        problems.push(`${r.what}: same destination and metric as another route of the table, not applied`);
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
  const base = {
    family: r.family,
    priority: r.priority,
    table: r.table,
    action: FR_ACT_TO_TBL,
    dst: '',
    dstLen: 0,
    tos: 0,
    extra: '',
  };
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
  const src =
    Number.isInteger(r.srcLen) && r.srcLen > 0 && r.srcLen <= bits ? networkOf(r.family, r.src, r.srcLen) : null;
  if (src === null) {
    problems.push(`rule priority ${r.priority}: bad source ${r.src}/${r.srcLen}`);
    return null;
  }
  return { ...base, mark: 0, mask: 0, src, srcLen: r.srcLen };
}

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
  for (const { route: r, replaces } of routes.write)
    ops.push({ phase: r.gateway === '' ? 1 : 2, kind: 'route', op: replaces ? 'replace' : 'add', route: r });
  for (const r of routes.del) ops.push({ phase: r.gateway === '' ? 6 : 5, kind: 'route', op: 'del', route: r });

  const desiredTables = new Set(want.routes.map((r) => r.table));
  const removedTables = [...new Set(ourRoutes.map((r) => r.table))]
    .filter((t) => !desiredTables.has(t))
    .sort((a, b) => a - b);

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

/** Simulates the deletes in dump order; true when one of them would take another rule first. */
export function ruleDeletesAmbiguous(all: KernelRule[], added: RuleSpec[], deletes: KernelRule[]): boolean {
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

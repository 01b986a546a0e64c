/**
 * The plan of the link-configuration adapter (link-config.ts): admin state and static addresses
 * of the managed interfaces, the main table's default routes, and ConnMan's gateway lifecycle.
 *
 * Address ownership: every address the daemon adds carries IFA_PROTO = {@link RTPROT_NETSESSION}
 * (kernel ≥ 6.1 keeps and reports it; `ip addr` shows `proto 0x6e`). Only addresses with that tag
 * are ever deleted, and never a link-local IPv6 one. An identical address that is already there
 * without the tag (configured by hand, by the harness, by an older kernel that drops IFA_PROTO)
 * is adopted as it is and therefore never deleted by us: the failure mode is "left behind",
 * never "deleted someone else's address".
 *
 * Default-route ownership: on a managed interface (and only there) every main-table unicast
 * default route is ours, except those the kernel installs from router advertisements
 * (`proto ra`), which the kernel keeps up to date itself (see the seed RFC).
 */

import { canonicalAddress, networkOf } from '../../core/addresses.js';
import { lowPriorityMetric, UINT32_MAX } from '../../core/manage-routes.js';
import type { Family } from '../../core/services.js';
import {
  RT_SCOPE_LINK,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
  RTN_UNICAST,
  RTPROT_NETSESSION,
  RTPROT_RA,
} from './messages/constants.js';
import { DEFAULT_METRIC, diffRoutes, type KernelRoute, type RouteSpec, routeIdentity } from './routes.js';

// ---------------------------------------------------------------------------------------------
// Metric
// ---------------------------------------------------------------------------------------------

/**
 * Metric of an interface's default route, as ConnMan computes it
 * (`compute_low_priority_metric` in src/connection.c): 0 (high priority) for the default
 * service; otherwise {@link lowPriorityMetric}, max(2^20, UINT32_MAX − 1024·ifindex), so every
 * non-default interface gets its own low-priority slot and all of them lose against any ordinary
 * route. ConnMan does this in uint32 arithmetic; for an ifindex so large that the subtraction
 * would wrap, the floor 2^20 is what it means, and that is what the core function returns.
 */
export function metricFor(ifindex: number, isDefault: boolean): number {
  return isDefault ? 0 : lowPriorityMetric(ifindex);
}

/** The metric the kernel will report: IPv6 turns 0 into IP6_RT_PRIO_USER (1024). */
export function kernelMetric(family: Family, metric: number): number {
  return family === 6 && metric === 0 ? DEFAULT_METRIC[6] : metric;
}

// ---------------------------------------------------------------------------------------------
// Links and addresses
// ---------------------------------------------------------------------------------------------

/** One static address. */
export interface LinkAddress {
  family: Family;
  address: string;
  prefixLength: number;
}

/** Desired state of one managed link. */
export interface DesiredLink {
  ifindex: number;
  /** Administratively up (IFF_UP). */
  up: boolean;
  addresses: LinkAddress[];
}

/** A link as dumped. */
export interface KernelLink {
  ifindex: number;
  up: boolean;
}

/** An address as dumped. */
export interface KernelAddress extends LinkAddress {
  ifindex: number;
  /** IFA_PROTO, 0 when absent. */
  proto: number;
}

/** One kernel write of {@link planLinkConfig}, in execution order. */
export type LinkOp =
  | { op: 'up'; ifindex: number }
  | { op: 'down'; ifindex: number }
  | { op: 'add-addr'; ifindex: number; addr: LinkAddress }
  | { op: 'del-addr'; addr: KernelAddress };

/** Outcome of {@link planLinkConfig}. */
export interface LinkPlan {
  ops: LinkOp[];
  /** Desired entries that cannot be applied (unknown link, bad address), logged by the caller. */
  problems: string[];
}

function isLinkLocalV6(a: LinkAddress): boolean {
  return a.family === 6 && /^fe[89ab][0-9a-f]:/i.test(a.address);
}

const addrKey = (ifindex: number, a: LinkAddress): string => `${ifindex} ${a.family} ${a.address}/${a.prefixLength}`;

/**
 * Links where deleting one of our IPv4 addresses would take foreign ones with it: the kernel
 * deletes all secondaries of a primary address (same subnet, added after it) together with it
 * unless `promote_secondaries` is set. Returns the ifindexes that need that sysctl before the
 * plan's deletes run.
 */
export function needsPromoteSecondaries(ops: readonly LinkOp[], addrs: readonly KernelAddress[]): number[] {
  const out = new Set<number>();
  const deleted = new Set(ops.flatMap((o) => (o.op === 'del-addr' ? [addrKey(o.addr.ifindex, o.addr)] : [])));
  for (const o of ops) {
    if (o.op !== 'del-addr' || o.addr.family !== 4) continue;
    const d = o.addr;
    const net = networkOf(4, d.address, d.prefixLength);
    const sharesSubnet = addrs.some(
      (k) =>
        k.family === 4 &&
        k.ifindex === d.ifindex &&
        !deleted.has(addrKey(k.ifindex, k)) &&
        k.prefixLength === d.prefixLength &&
        networkOf(4, k.address, k.prefixLength) === net,
    );
    if (sharesSubnet) out.add(d.ifindex);
  }
  return [...out];
}

/** Is this dumped address ours to delete? */
export function isOurAddress(a: KernelAddress): boolean {
  return a.proto === RTPROT_NETSESSION && !isLinkLocalV6(a);
}

/**
 * Diffs desired links against a dump. Order: links up, stale addresses of ours deleted (before
 * the adds: the kernel keys an IPv6 address by address alone, so a prefix change is a delete and
 * an add), missing addresses added, links down last. Links not in `desired` are never touched.
 */
export function planLinkConfig(
  desired: readonly DesiredLink[],
  links: readonly KernelLink[],
  addrs: readonly KernelAddress[],
): LinkPlan {
  const problems: string[] = [];
  const ups: LinkOp[] = [];
  const downs: LinkOp[] = [];
  const adds: LinkOp[] = [];
  const dels: LinkOp[] = [];
  const seen = new Set<number>();
  for (const d of desired) {
    if (seen.has(d.ifindex)) {
      problems.push(`link #${d.ifindex}: listed twice, only the first entry applied`);
      continue;
    }
    seen.add(d.ifindex);
    const link = links.find((l) => l.ifindex === d.ifindex);
    if (!link) {
      problems.push(`link #${d.ifindex}: no such interface`);
      continue;
    }
    if (link.up !== d.up) {
      if (d.up) ups.push({ op: 'up', ifindex: d.ifindex });
      else downs.push({ op: 'down', ifindex: d.ifindex });
    }
    const want = new Map<string, LinkAddress>();
    for (const a of d.addresses) {
      const bits = a.family === 4 ? 32 : 128;
      const canon = a.family === 4 || a.family === 6 ? canonicalAddress(a.family, a.address) : null;
      if (canon === null || !Number.isInteger(a.prefixLength) || a.prefixLength < 0 || a.prefixLength > bits) {
        problems.push(`link #${d.ifindex}: bad address ${a.address}/${a.prefixLength}`);
        continue;
      }
      const n: LinkAddress = { family: a.family, address: canon, prefixLength: a.prefixLength };
      want.set(addrKey(d.ifindex, n), n);
    }
    const present = new Set<string>();
    for (const k of addrs) {
      if (k.ifindex !== d.ifindex) continue;
      const key = addrKey(d.ifindex, k);
      present.add(key);
      if (!want.has(key) && isOurAddress(k)) dels.push({ op: 'del-addr', addr: k });
    }
    for (const [key, a] of want) if (!present.has(key)) adds.push({ op: 'add-addr', ifindex: d.ifindex, addr: a });
  }
  return { ops: [...ups, ...dels, ...adds, ...downs], problems };
}

// ---------------------------------------------------------------------------------------------
// Main-table default routes
// ---------------------------------------------------------------------------------------------

/** A desired default route in the main table. */
export interface DesiredDefault {
  ifindex: number;
  family: Family;
  /** Next hop; null for an on-link default (point-to-point links). */
  gateway: string | null;
  /** As given (0 for the default service); see {@link kernelMetric} for what the kernel shows. */
  metric: number;
}

/** Identity of a default route for the lifecycle: what the kernel reports back. */
export function defaultKey(r: { family: Family; ifindex: number; gateway: string | null; metric: number }): string {
  return `${r.family} default via ${r.gateway || '-'} dev #${r.ifindex} metric ${kernelMetric(r.family, r.metric)}`;
}

/** The record of a desired default, comparable with a dumped one (canonical, kernel metric). */
export function defaultSpec(d: DesiredDefault, gateway: string): RouteSpec {
  return {
    family: d.family,
    table: RT_TABLE_MAIN,
    dst: '',
    dstLen: 0,
    srcLen: 0,
    tos: 0,
    type: RTN_UNICAST,
    scope: d.family === 4 && gateway === '' ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE,
    metric: kernelMetric(d.family, d.metric),
    gateway,
    ifindex: d.ifindex,
    onlink: false,
    exotic: '',
  };
}

/** Is this dumped route a main-table default of a managed interface that we own? */
export function isOurDefault(r: KernelRoute, managed: ReadonlySet<number>): boolean {
  return (
    r.table === RT_TABLE_MAIN &&
    r.dstLen === 0 &&
    r.srcLen === 0 &&
    r.type === RTN_UNICAST &&
    managed.has(r.ifindex) &&
    r.protocol !== RTPROT_RA
  );
}

/** One kernel write of {@link planMainDefaults}. */
export type DefaultOp =
  /** `replace`: a stale route of ours holds the same (family, metric) slot; swapped atomically. */
  { op: 'add' | 'replace'; route: RouteSpec; key: string } | { op: 'del'; route: KernelRoute; key: string };

/** Outcome of {@link planMainDefaults}. */
export interface DefaultsPlan {
  /** Adds and replaces first (a promoted route is in before the demoted one goes), deletes last. */
  ops: DefaultOp[];
  problems: string[];
  /** Keys of the desired routes that are valid. */
  desiredKeys: string[];
}

/** Lifecycle key of a dumped default. */
export function kernelDefaultKey(r: KernelRoute): string {
  return defaultKey({ family: r.family, ifindex: r.ifindex, gateway: r.gateway, metric: r.metric });
}

/**
 * Diffs desired main-table defaults against a route dump. `managed` are the interfaces whose
 * defaults we own (the desired ones' interfaces are added to it). Both IPv4 and IPv6 make a
 * (destination, metric) slot exclusive under NLM_F_EXCL, so a desired route whose slot is held
 * by a stale one of ours replaces it instead (promote/demote swap without a gap); two desired
 * routes of one family with the same metric are a problem (the second is dropped).
 */
export function planMainDefaults(
  desired: readonly DesiredDefault[],
  routes: readonly KernelRoute[],
  managed: Iterable<number>,
): DefaultsPlan {
  const own = new Set(managed);
  for (const d of desired) own.add(d.ifindex);
  const problems: string[] = [];
  const want: RouteSpec[] = [];
  const slots = new Set<string>();
  const keys = new Set<string>();
  for (const d of desired) {
    const what = `default -${d.family} via ${d.gateway ?? '-'} dev #${d.ifindex} metric ${d.metric}`;
    if (d.family !== 4 && d.family !== 6) {
      problems.push(`${what}: bad family`);
      continue;
    }
    const gw = d.gateway === null || d.gateway === '' ? '' : canonicalAddress(d.family, d.gateway);
    if (
      gw === null ||
      !Number.isInteger(d.ifindex) ||
      d.ifindex <= 0 ||
      !Number.isInteger(d.metric) ||
      d.metric < 0 ||
      d.metric > UINT32_MAX
    ) {
      problems.push(`${what}: bad gateway, interface or metric`);
      continue;
    }
    const spec = defaultSpec(d, gw);
    const slot = routeIdentity(spec);
    const key = defaultKey({ ...d, gateway: gw });
    if (keys.has(key)) continue;
    if (slots.has(slot)) {
      problems.push(`${what}: another desired default of this family has the same metric, not applied`);
      continue;
    }
    slots.add(slot);
    keys.add(key);
    want.push(spec);
  }
  const ours = routes.filter((r) => isOurDefault(r, own));
  // A route carrying selectors we never install differs from every desired one.
  const keyOf = (r: KernelRoute | RouteSpec): string => {
    const k = kernelDefaultKey(r as KernelRoute);
    const exotic = (r as KernelRoute).exotic;
    return exotic ? `${k} ${exotic}` : k;
  };
  const diff = diffRoutes(ours, want, keyOf);
  const ops: DefaultOp[] = [];
  // A replaced route disappears with the replace: its lifecycle entry is ended by the read-back.
  for (const { route: r, replaces } of diff.write)
    ops.push({ op: replaces ? 'replace' : 'add', route: r, key: kernelDefaultKey(r as KernelRoute) });
  for (const r of diff.del) ops.push({ op: 'del', route: r, key: kernelDefaultKey(r) });
  return { ops, problems, desiredKeys: [...keys] };
}

// ---------------------------------------------------------------------------------------------
// Gateway lifecycle (ConnMan src/connection.c)
// ---------------------------------------------------------------------------------------------

/** The four states of ConnMan's gateway lifecycle. */
export type GatewayState = 'inactive' | 'added' | 'active' | 'removed';

/**
 * What can happen to a default route:
 * - `add-requested` / `del-requested`: we are about to send RTM_NEWROUTE / RTM_DELROUTE (the
 *   state changes before the send, because the notification may arrive before the reply);
 * - `add-failed` / `del-failed`: the kernel rejected the request;
 * - `kernel-new` / `kernel-del`: RTM_NEWROUTE / RTM_DELROUTE notification for this route;
 * - `kernel-absent`: a dump did not contain it (a notification was lost, or a replace swapped it out);
 * - `kernel-present`: a dump contained it;
 * - `kernel-present-after-loss`: a dump taken because notifications were lost (an overrun)
 *   contained it: the `kernel-new` that would have confirmed an add may be among the lost.
 */
export type LifecycleEvent =
  | 'add-requested'
  | 'add-failed'
  | 'kernel-new'
  | 'del-requested'
  | 'del-failed'
  | 'kernel-del'
  | 'kernel-absent'
  | 'kernel-present'
  | 'kernel-present-after-loss';

/**
 * One transition of the lifecycle. Only a kernel notification activates a route we added
 * (`added` → `active` on `kernel-new`; a dump does not, the seed's "confirmed, never assumed").
 * A dump does adopt a route that was `inactive` (already in the kernel, e.g. after a daemon
 * restart, when no notification will ever come), and after lost notifications a route we added
 * too (its `kernel-new` may have been lost; it would stay `added` for good). A route being removed ends in `inactive` on the
 * kernel's delete notification or a dump without it; a late `kernel-new` of an earlier add does
 * not bring it back.
 */
export function nextGatewayState(s: GatewayState, e: LifecycleEvent): GatewayState {
  switch (e) {
    case 'add-requested':
      return s === 'active' ? 'active' : 'added';
    case 'add-failed':
      return s === 'added' ? 'inactive' : s;
    case 'kernel-new':
      return s === 'removed' ? 'removed' : 'active';
    case 'del-requested':
      return s === 'inactive' ? 'inactive' : 'removed';
    case 'del-failed':
      // Still there (ESRCH/ENOENT are treated as kernel-absent by the adapter).
      return s === 'removed' ? 'active' : s;
    case 'kernel-del':
    case 'kernel-absent':
      return 'inactive';
    case 'kernel-present':
      return s === 'inactive' ? 'active' : s;
    case 'kernel-present-after-loss':
      return s === 'inactive' || s === 'added' ? 'active' : s;
  }
}

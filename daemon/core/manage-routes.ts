/**
 * Desired default routes in the main table for managed services (manage mode).
 *
 * ConnMan (src/gateway.c / connection.c) keeps two kinds of default route: the default service
 * gets a high-priority one (metric 0); every other connected service keeps a low-priority one so
 * traffic bound to that interface (SO_BINDTODEVICE, the online check, per-session tables) still
 * finds a gateway, while unbound traffic follows metric 0. Recomputing the whole set from the
 * ranking after every change gives promotion and demotion for free: the caller diffs the result
 * against what is installed (delete-then-add, or replace, per `{ifindex, family}`).
 *
 * Differences from ConnMan, on purpose:
 * - IPv6 gets the same treatment as IPv4. ConnMan leaves IPv6 non-default routes to the kernel's
 *   RA handling (`proto ra metric 1024`); a managed link here may have a static IPv6 gateway
 *   with no RA, and two RA routes of equal metric make the kernel's choice arbitrary.
 * - The metric-0 route is chosen per family: the first connected service that HAS a gateway of
 *   that family. ConnMan only gives metric 0 to the default service's own gateways, so a v4-only
 *   default service leaves IPv6 traffic on a low-priority route — which still works, but then
 *   "the" IPv6 uplink depends on ifindex, not on the ranking.
 */
import type { Bearer, ServiceState } from '../../lib/protocol.js';
import type { Family } from './services.js';
import { bearerRank, isConnected } from './services.js';

/** Largest value of the kernel's u32 route priority. */
export const UINT32_MAX = 0xffff_ffff;
/** Lowest low-priority metric ConnMan hands out (`metric_ceiling`, 2^20). */
export const LOW_METRIC_FLOOR = 2 ** 20;
/** Distance between two interfaces' low-priority metrics (`metric_index_step`, 2^10). */
export const LOW_METRIC_STEP = 2 ** 10;

/**
 * ConnMan's low-priority metric (`__connman_service_get_route_metric`):
 * `max(2^20, UINT32_MAX − 1024·ifindex)`.
 *
 * Why this shape: derived from the ifindex, it is unique per interface without any allocation
 * state and stable while the link exists; counting down from UINT32_MAX keeps it far below
 * (numerically above) metric 0 and any metric a user or DHCP client is likely to set, and the
 * 1024 step leaves room between interfaces for per-interface routes such as the online check's
 * host routes. The 2^20 floor keeps it clear of ordinary metrics even for huge ifindexes; the
 * price is that ifindexes ≥ 4 193 280 all share the floor (Linux allocates ifindexes upwards from
 * 1, so only a host with millions of link creations reaches it).
 */
export function lowPriorityMetric(ifindex: number): number {
  return Math.max(LOW_METRIC_FLOOR, UINT32_MAX - LOW_METRIC_STEP * ifindex);
}

/** What route computation needs of a managed service. */
export interface RouteService {
  readonly id: string;
  readonly ifindex: number;
  readonly state: ServiceState;
  /** At most one gateway per family counts: the first one listed. */
  readonly gateways: readonly { readonly family: Family; readonly gateway: string }[];
}

/** One default route to install in the main table. */
export interface DesiredRoute {
  serviceId: string;
  ifindex: number;
  family: Family;
  gateway: string;
  /** 0 for the default service of the family, {@link lowPriorityMetric} otherwise. */
  metric: number;
}

/**
 * Default routes for `ranked` (managed services only, best first). Per family: the first
 * connected service with a gateway of that family gets metric 0, every other connected service
 * with one gets its low-priority metric, unconnected services get none. Sorted by family, then
 * metric, then ifindex, so equal inputs give equal outputs.
 */
export function desiredDefaultRoutes(ranked: readonly RouteService[]): DesiredRoute[] {
  const out: DesiredRoute[] = [];
  for (const family of [4, 6] as const) {
    let haveDefault = false;
    const seen = new Set<number>();
    for (const s of ranked) {
      if (!isConnected(s.state)) continue;
      // Two services on one ifindex cannot both own the link's default route; the better wins.
      if (seen.has(s.ifindex)) continue;
      const gw = s.gateways.find((g) => g.family === family);
      if (!gw) continue;
      seen.add(s.ifindex);
      out.push({
        serviceId: s.id,
        ifindex: s.ifindex,
        family,
        gateway: gw.gateway,
        metric: haveDefault ? lowPriorityMetric(s.ifindex) : 0,
      });
      haveDefault = true;
    }
  }
  return out.sort((a, b) => a.family - b.family || a.metric - b.metric || a.ifindex - b.ifindex);
}

/** What {@link compareForDefault} needs of a service. */
export interface RankedService {
  readonly id: string;
  readonly ifindex: number;
  readonly bearer: Bearer;
  readonly state: ServiceState;
}

/**
 * The manage-mode ranking: connected services first; among them PreferredTechnologies,
 * then online before ready, then the user's order (`userOrder`: service ids, earlier is better,
 * unlisted after listed), then ifindex so the order is total. Unconnected services follow by
 * ifindex. ConnMan's `service_compare` puts the user's order (MoveBefore/MoveAfter) before
 * PreferredTechnologies; here the configured preference comes first, so a client's reorder cannot
 * override the operator's choice of technology (wired before cellular, say): it only breaks ties
 * within a technology and state.
 */
export function compareForDefault(
  a: RankedService,
  b: RankedService,
  preferred: readonly Bearer[],
  userOrder: readonly string[] = [],
): number {
  const ac = isConnected(a.state);
  const bc = isConnected(b.state);
  if (ac !== bc) return ac ? -1 : 1;
  if (ac) {
    const pr = bearerRank(a.bearer, preferred) - bearerRank(b.bearer, preferred);
    if (pr !== 0) return pr;
    if (a.state !== b.state) return a.state === 'online' ? -1 : 1;
    const ur = orderRank(a.id, userOrder) - orderRank(b.id, userOrder);
    if (ur !== 0) return ur;
  }
  return a.ifindex - b.ifindex;
}

function orderRank(id: string, order: readonly string[]): number {
  const i = order.indexOf(id);
  return i >= 0 ? i : order.length;
}

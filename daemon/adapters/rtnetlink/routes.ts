/**
 * Route records shared by the routing adapter (per-service tables) and link configuration (the
 * main table's defaults): a dumped route as a comparable record, its keys, the route diff both
 * run, and the RTM_NEWROUTE / RTM_DELROUTE messages that carry out its result. Pure.
 *
 * Entries are compared by a canonical key built from every selector the kernel matches on, so a
 * route that carries anything we never install (an `iif`, a second next hop, another metric)
 * differs from the desired one and gets replaced. The rtm_protocol tag is no part of a key.
 */
import { canonicalAddress } from '../../core/addresses.js';
import type { Family } from '../../core/services.js';
import { addressBytes, afOf, familyOf, formatAddress } from './messages/addresses.js';
import { type Attrs, type RouteMessage, u32, u32Of } from './messages/codec.js';
import {
  RT_SCOPE_NOWHERE,
  RTA,
  RTM_F_CLONED,
  RTN_UNICAST,
  RTNH_F_ONLINK,
  RTPROT_NETSESSION,
} from './messages/constants.js';

/** Metric the kernel gives a route added without one: 0 for v4, IP6_RT_PRIO_USER for v6. */
export const DEFAULT_METRIC: Readonly<Record<Family, number>> = { 4: 0, 6: 1024 };

/** Route errors that mean "the next hop is not reachable yet": skipped, retried on the next apply. */
export const NOT_YET_REACHABLE: ReadonlySet<string> = new Set(['ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN']);

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
  raw?: RouteMessage;
}

/** Canonical text of a dumped address, '' when absent or malformed. */
export function textOf(family: Family, b: Uint8Array | undefined): string {
  const s = formatAddress(family, b);
  return s === '' ? '' : (canonicalAddress(family, s) ?? '');
}

/** Decodes one RTM_NEWROUTE of a dump; null for other families and for cache clones. */
export function decodeTableRoute(msg: RouteMessage): KernelRoute | null {
  const family = familyOf(msg.family);
  if (!family || (msg.flags & RTM_F_CLONED) !== 0) return null;
  const a = msg.attrs;
  const exotic: string[] = [];
  if (a.has(RTA.MULTIPATH)) exotic.push('multipath');
  if (a.has(RTA.NH_ID)) exotic.push('nhid');
  if (a.has(RTA.VIA)) exotic.push('via');
  if (a.has(RTA.ENCAP) || a.has(RTA.ENCAP_TYPE)) exotic.push('encap');
  if (a.has(RTA.PREFSRC)) exotic.push(`src ${textOf(family, a.get(RTA.PREFSRC))}`);
  const iif = u32Of(a, RTA.IIF);
  if (iif !== undefined) exotic.push(`iif ${iif}`);
  if (msg.srcLen > 0) exotic.push(`from ${textOf(family, a.get(RTA.SRC))}/${msg.srcLen}`);
  return {
    family,
    table: u32Of(a, RTA.TABLE) ?? msg.table,
    dst: msg.dstLen > 0 ? textOf(family, a.get(RTA.DST)) : '',
    dstLen: msg.dstLen,
    srcLen: msg.srcLen,
    tos: msg.tos,
    type: msg.type,
    scope: msg.scope,
    metric: u32Of(a, RTA.PRIORITY) ?? 0,
    gateway: textOf(family, a.get(RTA.GATEWAY)),
    ifindex: u32Of(a, RTA.OIF) ?? 0,
    onlink: (msg.flags & RTNH_F_ONLINK) !== 0,
    exotic: exotic.join(' '),
    protocol: msg.protocol,
    raw: msg,
  };
}

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

/** `ip route`-style text of a route, for logs and error messages. */
export function describeRoute(r: RouteSpec): string {
  const dst = r.dstLen === 0 ? 'default' : `${r.dst}/${r.dstLen}`;
  const via = r.gateway ? ` via ${r.gateway}` : '';
  const dev = r.ifindex ? ` dev #${r.ifindex}` : '';
  const onlink = r.onlink ? ' onlink' : '';
  const exotic = r.exotic ? ` ${r.exotic}` : '';
  return `route -${r.family} ${dst}${via}${dev} table ${r.table} metric ${r.metric}${onlink}${exotic}`;
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
  const write = missing.map((route) => ({
    route,
    replaces: staleBySlot.get(routeIdentity(route))?.shift() !== undefined,
  }));
  return { write, del: [...staleBySlot.values()].flat() };
}

function routeMessage(
  family: Family,
  fields: Partial<Omit<RouteMessage, 'kind' | 'family' | 'attrs'>>,
  attrs: Attrs,
): RouteMessage {
  // rtm_table is a u8: the real id always goes in RTA_TABLE.
  return {
    kind: 'route',
    family: afOf(family),
    dstLen: 0,
    srcLen: 0,
    tos: 0,
    table: 0,
    protocol: 0,
    scope: 0,
    type: 0,
    flags: 0,
    ...fields,
    attrs,
  };
}

/**
 * The RTM_NEWROUTE of a route. `metric: 'always'` sends RTA_PRIORITY even when it is the
 * family's default (an IPv6 0 becomes 1024 in the kernel either way).
 */
export function addRouteMessage(r: RouteSpec, metric: 'non-default' | 'always' = 'non-default'): RouteMessage {
  const attrs: Attrs = new Map([[RTA.TABLE, u32(r.table)]]);
  if (r.dstLen > 0) setAddress(attrs, RTA.DST, r.family, r.dst);
  if (r.gateway) setAddress(attrs, RTA.GATEWAY, r.family, r.gateway);
  attrs.set(RTA.OIF, u32(r.ifindex));
  if (metric === 'always' || r.metric !== DEFAULT_METRIC[r.family]) attrs.set(RTA.PRIORITY, u32(r.metric));
  return routeMessage(
    r.family,
    {
      dstLen: r.dstLen,
      protocol: RTPROT_NETSESSION,
      scope: r.scope,
      type: RTN_UNICAST,
      flags: r.onlink ? RTNH_F_ONLINK : 0,
    },
    attrs,
  );
}

/** Attributes a route delete echoes from the dump: everything that names the route. */
const ROUTE_SELECTORS = [RTA.DST, RTA.SRC, RTA.OIF, RTA.GATEWAY, RTA.PRIORITY, RTA.MULTIPATH, RTA.NH_ID] as const;

/** A delete that names the route exactly: everything it was dumped with, any scope. */
export function delRouteMessage(r: KernelRoute): RouteMessage {
  const attrs: Attrs = new Map([[RTA.TABLE, u32(r.table)]]);
  const dumped = r.raw?.attrs;
  if (dumped) {
    for (const t of ROUTE_SELECTORS) {
      const v = dumped.get(t);
      if (v) attrs.set(t, v);
    }
  } else {
    if (r.dstLen > 0) setAddress(attrs, RTA.DST, r.family, r.dst);
    if (r.gateway) setAddress(attrs, RTA.GATEWAY, r.family, r.gateway);
    if (r.ifindex) attrs.set(RTA.OIF, u32(r.ifindex));
    if (r.metric) attrs.set(RTA.PRIORITY, u32(r.metric));
  }
  return routeMessage(
    r.family,
    {
      dstLen: r.dstLen,
      srcLen: r.srcLen,
      tos: r.tos,
      protocol: r.protocol,
      scope: RT_SCOPE_NOWHERE,
      type: r.raw?.type ?? r.type,
    },
    attrs,
  );
}

/** Sets an address attribute when `text` parses (the caller validated it). */
export function setAddress(attrs: Attrs, type: number, family: Family, text: string): void {
  const b = addressBytes(family, text);
  if (b) attrs.set(type, b);
}

/**
 * Link source records: the link, address and route messages reduced to what the fold
 * (link-table.ts) uses. Pure.
 *
 * Every NEW message carries the whole object and every DEL names it, so folding is idempotent
 * per object: replaying a message the dump already reflected converges to the kernel's state.
 */
import type { IpMethod } from '../../../lib/protocol.js';
import type { AddressFact, Family } from '../../core/services.js';
import { familyOf, formatAddress, formatMac } from './messages/addresses.js';
import {
  type AddressMessage,
  decodeMessage,
  type LinkMessage,
  type RouteMessage,
  strOf,
  u8Of,
  u32Of,
  walkAttrs,
} from './messages/codec.js';
import {
  AF_UNSPEC,
  IF_OPER_UP,
  IFA,
  IFA_F,
  IFF,
  IFLA,
  IFLA_INFO_KIND,
  NLM_F_REPLACE,
  RT_SCOPE_LINK,
  RT_SCOPE_SITE,
  RT_TABLE_MAIN,
  RTA,
  RTM,
  RTM_F_CLONED,
  RTN_UNICAST,
} from './messages/constants.js';

/** A link as one RTM_NEWLINK describes it. */
export interface LinkRecord {
  ifindex: number;
  name: string;
  kind: string;
  /** ARPHRD_* (ifi_type). */
  arphrd: number;
  mac: string;
  mtu: number;
  adminUp: boolean;
  carrier: boolean;
  loopback: boolean;
  enslaved: boolean;
}

/** Address flags that matter to the fold. */
export interface AddressFlagsRecord {
  permanent: boolean;
  tentative: boolean;
  dadfailed: boolean;
  /** v4: secondary address; v6: temporary (privacy) address — the same kernel bit. */
  secondary: boolean;
}

/** An address as one RTM_NEWADDR/RTM_DELADDR describes it. */
export interface AddressRecord {
  ifindex: number;
  family: Family;
  address: string;
  prefixLength: number;
  /** ifa_scope (RT_SCOPE_*). */
  scope: number;
  flags: AddressFlagsRecord;
}

/** One next hop of a route. `gateway` is '' for an on-link next hop. */
export interface NextHopRecord {
  ifindex: number;
  gateway: string;
}

/** A route as one RTM_NEWROUTE/RTM_DELROUTE describes it (only what gateways need). */
export interface RouteRecord {
  family: Family;
  table: number;
  dstLen: number;
  srcLen: number;
  tos: number;
  /** RTN_* (1 = unicast). */
  type: number;
  metric: number;
  /** RTM_F_CLONED: a cache entry, not a configured route. */
  cloned: boolean;
  /** Empty when the message named no next hop (or only ones we cannot decode). */
  nexthops: NextHopRecord[];
}

/** One decoded rtnetlink change. Dump entries are `new-*` changes. */
export type RtChange =
  | { op: 'new-link'; link: LinkRecord }
  | { op: 'del-link'; ifindex: number }
  | { op: 'new-address'; address: AddressRecord }
  | { op: 'del-address'; address: AddressRecord }
  | { op: 'new-route'; route: RouteRecord; replace: boolean }
  | { op: 'del-route'; route: RouteRecord };

/** IFLA_INFO_KIND inside an IFLA_LINKINFO nest, '' when absent. */
export function linkInfoKind(linkinfo: Buffer | undefined): string {
  if (!linkinfo) return '';
  for (const a of walkAttrs(linkinfo)) {
    if (a.type === IFLA_INFO_KIND) {
      const end = a.data.indexOf(0);
      return a.data.toString('utf8', 0, end >= 0 ? end : a.data.length);
    }
  }
  return '';
}

/** Next hops of an RTA_MULTIPATH payload (array of struct rtnexthop, each with its own attributes). */
export function parseMultipath(family: Family, b: Buffer): NextHopRecord[] {
  const out: NextHopRecord[] = [];
  for (let off = 0; off + 8 <= b.length; ) {
    const len = b.readUInt16LE(off);
    if (len < 8 || off + len > b.length) break;
    const ifindex = b.readInt32LE(off + 4);
    let gateway = '';
    for (const a of walkAttrs(b.subarray(off + 8, off + len))) {
      if (a.type === RTA.GATEWAY) gateway = formatAddress(family, a.data);
    }
    out.push({ ifindex, gateway });
    off += (len + 3) & ~3;
  }
  return out;
}

/**
 * Decodes an RTM_NEWLINK/RTM_DELLINK. Returns null for messages that do not describe a link of
 * this namespace's device list: AF_BRIDGE port notifications (a DELLINK there means "left the
 * bridge", not "removed"), and wireless-extension events (they carry only IFLA_WIRELESS).
 */
export function decodeLink(msg: LinkMessage): LinkRecord | null {
  const { attrs, flags } = msg;
  if (msg.family !== AF_UNSPEC || attrs.has(IFLA.WIRELESS) || msg.index <= 0) return null;
  const adminUp = (flags & IFF.UP) !== 0;
  return {
    ifindex: msg.index,
    name: strOf(attrs, IFLA.IFNAME) ?? '',
    kind: linkInfoKind(attrs.get(IFLA.LINKINFO)),
    arphrd: msg.type,
    mac: formatMac(attrs.get(IFLA.ADDRESS)),
    mtu: u32Of(attrs, IFLA.MTU) ?? 0,
    adminUp,
    // IFF_LOWER_UP is the driver's carrier; operstate UP covers drivers that only report that.
    carrier: adminUp && ((flags & IFF.LOWER_UP) !== 0 || u8Of(attrs, IFLA.OPERSTATE) === IF_OPER_UP),
    loopback: (flags & IFF.LOOPBACK) !== 0,
    enslaved: (flags & IFF.SLAVE) !== 0 || (u32Of(attrs, IFLA.MASTER) ?? 0) > 0,
  };
}

/** Decodes an RTM_NEWADDR/RTM_DELADDR; null for families other than IPv4/IPv6. */
export function decodeAddress(msg: AddressMessage): AddressRecord | null {
  const family = familyOf(msg.family);
  if (!family) return null;
  // v4: IFA_LOCAL is our address (IFA_ADDRESS is the peer on point-to-point links);
  // v6: IFA_ADDRESS is ours unless a peer was configured.
  const address = formatAddress(family, msg.attrs.get(IFA.LOCAL) ?? msg.attrs.get(IFA.ADDRESS));
  if (address === '') return null;
  // IFA_FLAGS (u32) supersedes ifa_flags (u8) when present.
  const f = u32Of(msg.attrs, IFA.FLAGS) ?? msg.flags;
  return {
    ifindex: msg.index,
    family,
    address,
    prefixLength: msg.prefixLen,
    scope: msg.scope,
    flags: {
      permanent: (f & IFA_F.PERMANENT) !== 0,
      tentative: (f & IFA_F.TENTATIVE) !== 0,
      dadfailed: (f & IFA_F.DADFAILED) !== 0,
      secondary: (f & IFA_F.SECONDARY) !== 0,
    },
  };
}

/** Decodes an RTM_NEWROUTE/RTM_DELROUTE; null for families other than IPv4/IPv6. */
export function decodeRoute(msg: RouteMessage): RouteRecord | null {
  const family = familyOf(msg.family);
  if (!family) return null;
  const { attrs } = msg;
  let nexthops: NextHopRecord[] = [];
  const multipath = attrs.get(RTA.MULTIPATH);
  const oif = u32Of(attrs, RTA.OIF);
  if (multipath) {
    nexthops = parseMultipath(family, multipath);
  } else if (oif !== undefined && !attrs.has(RTA.VIA) && !attrs.has(RTA.NH_ID)) {
    // A next hop of another family (RTA_VIA) is not a gateway of this family, and routes through
    // nexthop objects (RTA_NH_ID) carry no oif: neither can be attributed, so they are left out.
    nexthops = [{ ifindex: oif, gateway: formatAddress(family, attrs.get(RTA.GATEWAY)) }];
  }
  return {
    family,
    table: u32Of(attrs, RTA.TABLE) ?? msg.table,
    dstLen: msg.dstLen,
    srcLen: msg.srcLen,
    tos: msg.tos,
    type: msg.type,
    metric: u32Of(attrs, RTA.PRIORITY) ?? 0,
    cloned: (msg.flags & RTM_F_CLONED) !== 0,
    nexthops,
  };
}

/**
 * Decodes one rtnetlink message, given its netlink header type and flags and its payload.
 * Returns null for messages the fold ignores.
 */
export function decodeRtMessage(nlType: number, nlFlags: number, payload: Buffer): RtChange | null {
  const msg = decodeMessage(nlType, payload);
  if (!msg) return null;
  switch (msg.kind) {
    case 'link': {
      const link = decodeLink(msg);
      if (!link || (nlType !== RTM.NEWLINK && nlType !== RTM.DELLINK)) return null;
      return nlType === RTM.NEWLINK ? { op: 'new-link', link } : { op: 'del-link', ifindex: link.ifindex };
    }
    case 'address': {
      const address = decodeAddress(msg);
      if (!address || (nlType !== RTM.NEWADDR && nlType !== RTM.DELADDR)) return null;
      return nlType === RTM.NEWADDR ? { op: 'new-address', address } : { op: 'del-address', address };
    }
    case 'route': {
      const route = decodeRoute(msg);
      if (!route || (nlType !== RTM.NEWROUTE && nlType !== RTM.DELROUTE)) return null;
      return nlType === RTM.NEWROUTE
        ? { op: 'new-route', route, replace: (nlFlags & NLM_F_REPLACE) !== 0 }
        : { op: 'del-route', route };
    }
    default:
      return null;
  }
}

/**
 * How an address came to be. The kernel marks an address IFA_F_PERMANENT exactly when its valid
 * lifetime is infinite; a finite lifetime means a lease: DHCP for v4, SLAAC (or DHCPv6, which
 * rtnetlink cannot tell apart) for v6.
 */
export function addressMethod(family: Family, flags: AddressFlagsRecord): IpMethod {
  if (flags.permanent) return 'manual';
  return family === 4 ? 'dhcp' : 'auto';
}

/** ifa_scope → fact scope. Site scope (deprecated site-local) counts as global. */
export function addressScope(scope: number): AddressFact['scope'] {
  if (scope <= RT_SCOPE_SITE) return 'global';
  if (scope === RT_SCOPE_LINK) return 'link';
  return 'host';
}

/** Tentative (DAD running) and DAD-failed addresses cannot be used as a source yet or at all. */
export function isUsableAddress(flags: AddressFlagsRecord): boolean {
  return !flags.tentative && !flags.dadfailed;
}

/** Only unicast default routes of the main table, not source-specific and not cache clones. */
export function isDefaultGatewayRoute(r: RouteRecord): boolean {
  return r.table === RT_TABLE_MAIN && r.dstLen === 0 && r.srcLen === 0 && r.type === RTN_UNICAST && !r.cloned;
}

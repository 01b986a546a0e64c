/**
 * Pure folding of rtnetlink link/address/route messages into per-link {@link LinkFacts}.
 *
 * Two layers, both free of I/O:
 * - decoders turn the `netlink` package's parsed messages into small records of our own
 *   (so the fold never depends on the package's spelling, and a raw codec could replace it);
 * - {@link LinkTable} folds those records and reports, per link, only facts that really changed.
 *
 * Every NEW message carries the whole object and every DEL names it, so folding is idempotent
 * per object: replaying a message the dump already reflected converges to the kernel's state.
 */
export { NLM_F_REPLACE, RTM } from './constants.js';
import { RTN_BY_NAME, AF_INET, AF_INET6, AF_UNSPEC, NLM_F_REPLACE, RTM, RTN_UNICAST, RT_SCOPE_LINK, RT_SCOPE_SITE, RT_TABLE_MAIN } from './constants.js';
import type { rt } from 'netlink';
import type { Bearer, IpMethod } from '../../../lib/protocol.js';
import type { LinkEvent } from '../../ports.js';
import type { AddressFact, Family, GatewayFact, LinkFacts } from '../../core/services.js';
import type { BearerLinkInput } from './bearer.js';

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

/** A link as one RTM_NEWLINK describes it. */
export interface LinkRecord {
  ifindex: number;
  name: string;
  kind: string;
  /** ARPHRD_* (ifi_type); -1 when the package gave a name we do not know. */
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

// ---------------------------------------------------------------------------------------------
// Constants (linux/rtnetlink.h, linux/if.h)
// ---------------------------------------------------------------------------------------------



const IF_OPER_UP = 6;

/** ARPHRD names as the package spells them → numbers (only those the bearer logic tells apart). */
const ARPHRD_BY_NAME: Readonly<Record<string, number>> = {
  ETHER: 1,
  PPP: 512,
  RAWIP: 519,
  TUNNEL: 768,
  TUNNEL6: 769,
  LOOPBACK: 772,
  SIT: 776,
  IPGRE: 778,
  IEEE80211: 801,
  IEEE80211_RADIOTAP: 803,
  PHONET_PIPE: 821,
  IP6GRE: 823,
  NONE: 65534,
};


// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------

/** Dotted quad of a 4-byte buffer. */
export function formatIPv4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** RFC 5952 text of a 16-byte buffer (lower case, longest run of ≥2 zero groups as `::`). */
export function formatIPv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(':');
  if (bestLen < 2) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/** Address text for a family, or '' when the buffer has the wrong length. */
export function formatAddress(family: Family, b: Uint8Array | undefined): string {
  if (!b) return '';
  if (family === 4) return b.length === 4 ? formatIPv4(b) : '';
  return b.length === 16 ? formatIPv6(b) : '';
}

/** `aa:bb:cc:dd:ee:ff` for a 6-byte hardware address; '' for none, all-zero or other lengths. */
export function formatMac(b: Uint8Array | undefined): string {
  if (!b || b.length !== 6 || b.every((x) => x === 0)) return '';
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

// ---------------------------------------------------------------------------------------------
// Attribute helpers for the nests the package leaves as raw buffers
// ---------------------------------------------------------------------------------------------

const IFLA_INFO_KIND = 1;
const RTA_GATEWAY = 5;

/** Walks the netlink attributes (struct nlattr) packed in `b`. */
function* attributes(b: Uint8Array): Generator<{ type: number; data: Uint8Array }> {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let off = 0; off + 4 <= b.length; ) {
    const len = view.getUint16(off, true);
    const type = view.getUint16(off + 2, true) & 0x3fff;
    if (len < 4 || off + len > b.length) return;
    yield { type, data: b.subarray(off + 4, off + len) };
    off += (len + 3) & ~3;
  }
}

/** IFLA_INFO_KIND inside an IFLA_LINKINFO nest, '' when absent. */
export function linkInfoKind(linkinfo: Uint8Array | undefined): string {
  if (!linkinfo) return '';
  for (const a of attributes(linkinfo)) {
    if (a.type === IFLA_INFO_KIND) {
      const end = a.data.indexOf(0);
      return Buffer.from(end >= 0 ? a.data.subarray(0, end) : a.data).toString('utf8');
    }
  }
  return '';
}

/** Next hops of an RTA_MULTIPATH payload (array of struct rtnexthop, each with its own attributes). */
export function parseMultipath(family: Family, b: Uint8Array): NextHopRecord[] {
  const out: NextHopRecord[] = [];
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let off = 0; off + 8 <= b.length; ) {
    const len = view.getUint16(off, true);
    if (len < 8 || off + len > b.length) break;
    const ifindex = view.getInt32(off + 4, true);
    let gateway = '';
    for (const a of attributes(b.subarray(off + 8, off + len))) {
      if (a.type === RTA_GATEWAY) gateway = formatAddress(family, a.data);
    }
    out.push({ ifindex, gateway });
    off += (len + 3) & ~3;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decoders (package message → record)
// ---------------------------------------------------------------------------------------------

function familyOf(n: number | undefined): Family | null {
  return n === AF_INET ? 4 : n === AF_INET6 ? 6 : null;
}

function arphrdOf(t: unknown): number {
  if (typeof t === 'number') return t;
  if (typeof t === 'string') return ARPHRD_BY_NAME[t] ?? -1;
  return -1;
}

/**
 * Decodes an RTM_NEWLINK/RTM_DELLINK. Returns null for messages that do not describe a link of
 * this namespace's device list: AF_BRIDGE port notifications (a DELLINK there means "left the
 * bridge", not "removed"), and wireless-extension events (they carry only IFLA_WIRELESS).
 */
export function decodeLink(msg: rt.LinkMessage): LinkRecord | null {
  const { data, attrs } = msg;
  if ((data.family ?? AF_UNSPEC) !== AF_UNSPEC) return null;
  if (attrs.wireless !== undefined) return null;
  const ifindex = data.index;
  if (ifindex === undefined || ifindex <= 0) return null;
  const flags = data.flags ?? {};
  const adminUp = flags.up === true;
  return {
    ifindex,
    name: attrs.ifname ?? '',
    kind: linkInfoKind(attrs.linkinfo),
    arphrd: arphrdOf(data.type),
    mac: formatMac(attrs.address),
    mtu: attrs.mtu ?? 0,
    adminUp,
    // IFF_LOWER_UP is the driver's carrier; operstate UP covers drivers that only report that.
    carrier: adminUp && (flags.lowerUp === true || attrs.operstate === IF_OPER_UP),
    loopback: flags.loopback === true,
    enslaved: flags.slave === true || (attrs.master !== undefined && attrs.master > 0),
  };
}

/** Decodes an RTM_NEWADDR/RTM_DELADDR; null for families other than IPv4/IPv6. */
export function decodeAddress(msg: rt.AddressMessage): AddressRecord | null {
  const { data, attrs } = msg;
  const family = familyOf(data.family);
  if (!family || data.index === undefined) return null;
  // v4: IFA_LOCAL is our address (IFA_ADDRESS is the peer on point-to-point links);
  // v6: IFA_ADDRESS is ours unless a peer was configured.
  const address = formatAddress(family, attrs.local ?? attrs.address);
  if (address === '') return null;
  // IFA_FLAGS (u32) supersedes ifa_flags (u8) when present.
  const f = attrs.flags ?? data.flags ?? {};
  return {
    ifindex: data.index,
    family,
    address,
    prefixLength: data.prefixlen ?? 0,
    scope: data.scope ?? 0,
    flags: {
      permanent: f.permanent === true,
      tentative: f.tentative === true,
      dadfailed: f.dadfailed === true,
      secondary: f.secondary === true,
    },
  };
}

/** Decodes an RTM_NEWROUTE/RTM_DELROUTE; null for families other than IPv4/IPv6. */
export function decodeRoute(msg: rt.RouteMessage): RouteRecord | null {
  const { data, attrs } = msg;
  const family = familyOf(data.family);
  if (!family) return null;
  const t = data.type;
  const type = typeof t === 'number' ? t : typeof t === 'string' ? (RTN_BY_NAME[t] ?? -1) : 0;
  let nexthops: NextHopRecord[] = [];
  if (attrs.multipath) {
    nexthops = parseMultipath(family, attrs.multipath);
  } else if (attrs.oif !== undefined && attrs.via === undefined && attrs.nhId === undefined) {
    // RTA_VIA (a next hop of another family) is mis-parsed by netlink 0.3.0 and routes through
    // nexthop objects (RTA_NH_ID) carry no oif: neither can be attributed, so they are left out.
    nexthops = [{ ifindex: attrs.oif, gateway: formatAddress(family, attrs.gateway) }];
  }
  return {
    family,
    table: attrs.table ?? data.table ?? 0,
    dstLen: data.dstLen ?? 0,
    srcLen: data.srcLen ?? 0,
    tos: data.tos ?? 0,
    type,
    metric: attrs.priority ?? 0,
    cloned: data.flags?.cloned === true,
    nexthops,
  };
}

/**
 * Decodes one rtnetlink message, given its netlink header type and flags. Returns null for
 * messages the fold ignores.
 */
export function decodeRtMessage(nlType: number, nlFlags: number, msg: rt.Message): RtChange | null {
  switch (nlType) {
    case RTM.NEWLINK:
    case RTM.DELLINK: {
      if (msg.kind !== 'link') return null;
      const link = decodeLink(msg);
      if (!link) return null;
      return nlType === RTM.NEWLINK ? { op: 'new-link', link } : { op: 'del-link', ifindex: link.ifindex };
    }
    case RTM.NEWADDR:
    case RTM.DELADDR: {
      if (msg.kind !== 'address') return null;
      const address = decodeAddress(msg);
      if (!address) return null;
      return nlType === RTM.NEWADDR ? { op: 'new-address', address } : { op: 'del-address', address };
    }
    case RTM.NEWROUTE:
    case RTM.DELROUTE: {
      if (msg.kind !== 'route') return null;
      const route = decodeRoute(msg);
      if (!route) return null;
      return nlType === RTM.NEWROUTE
        ? { op: 'new-route', route, replace: (nlFlags & NLM_F_REPLACE) !== 0 }
        : { op: 'del-route', route };
    }
    default:
      return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Decisions
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------------------------

function sameAddresses(a: readonly AddressFact[], b: readonly AddressFact[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x, i) => {
    const y = b[i] as AddressFact;
    return (
      x.family === y.family &&
      x.address === y.address &&
      x.prefixLength === y.prefixLength &&
      x.method === y.method &&
      x.scope === y.scope
    );
  });
}

function sameGateways(a: readonly GatewayFact[], b: readonly GatewayFact[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x, i) => {
    const y = b[i] as GatewayFact;
    return x.family === y.family && x.gateway === y.gateway && x.metric === y.metric;
  });
}

/** Field-by-field equality of two {@link LinkFacts}. */
export function sameFacts(a: LinkFacts, b: LinkFacts): boolean {
  return (
    a.ifindex === b.ifindex &&
    a.name === b.name &&
    a.kind === b.kind &&
    a.mac === b.mac &&
    a.bearer === b.bearer &&
    a.adminUp === b.adminUp &&
    a.carrier === b.carrier &&
    a.mtu === b.mtu &&
    sameAddresses(a.addresses, b.addresses) &&
    sameGateways(a.gateways, b.gateways) &&
    a.nameservers.length === b.nameservers.length &&
    a.nameservers.every((n, i) => n === b.nameservers[i])
  );
}

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

interface LinkEntry {
  rec: LinkRecord;
  bearer: Bearer | null;
  /** The bearer inputs `bearer` was decided for; decided again when they change (rename). */
  bearerKey: string;
}

interface AddressEntry {
  fact: AddressFact;
  secondary: boolean;
  /** Arrival order, so the kernel's order (primary first) survives and updates keep their place. */
  seq: number;
}

interface GatewayEntry {
  family: Family;
  ifindex: number;
  gateway: string;
  metric: number;
  /** family|tos|metric: the kernel's route key inside the main table's default prefix. */
  group: string;
}

function bearerInput(rec: LinkRecord): BearerLinkInput {
  return { name: rec.name, kind: rec.kind, arphrd: rec.arphrd, loopback: rec.loopback, enslaved: rec.enslaved };
}

/**
 * Folds rtnetlink changes into per-link facts and tells which links changed since last reported.
 *
 * Kernel behaviour it reproduces because the kernel does not announce it: IPv4 routes through a
 * link are flushed without RTM_DELROUTE when the link goes administratively down and when its
 * last IPv4 address is removed (IPv6 does announce its deletions).
 */
export class LinkTable {
  private readonly links = new Map<number, LinkEntry>();
  private readonly addrs = new Map<number, Map<string, AddressEntry>>();
  private readonly gateways = new Map<string, GatewayEntry>();
  private readonly reported = new Map<number, LinkFacts>();
  private readonly dirty = new Set<number>();
  private seq = 0;

  /** @param decideBearer called when a link appears and when its name, kind or type changes. */
  constructor(private readonly decideBearer: (link: BearerLinkInput) => Bearer | null) {}

  /** Folds one change. Nothing is reported until {@link flush} or {@link commit}. */
  apply(change: RtChange): void {
    switch (change.op) {
      case 'new-link':
        return this.newLink(change.link);
      case 'del-link':
        return this.delLink(change.ifindex);
      case 'new-address':
        return isUsableAddress(change.address.flags) ? this.newAddress(change.address) : this.delAddress(change.address);
      case 'del-address':
        return this.delAddress(change.address);
      case 'new-route':
        return this.newRoute(change.route, change.replace);
      case 'del-route':
        return this.delRoute(change.route);
    }
  }

  /**
   * Forgets the kernel state (before a full re-dump after lost notifications) but keeps what was
   * reported, so the next {@link flush} reports exactly the differences, removals included.
   */
  reset(): void {
    this.links.clear();
    this.addrs.clear();
    this.gateways.clear();
    for (const ifindex of this.reported.keys()) this.dirty.add(ifindex);
  }

  /** Events for every link whose facts differ from what was last reported; marks them reported. */
  flush(): LinkEvent[] {
    const events: LinkEvent[] = [];
    for (const ifindex of this.dirty) {
      const now = this.links.has(ifindex) ? this.factsOf(ifindex) : undefined;
      const before = this.reported.get(ifindex);
      if (!now) {
        if (before) {
          this.reported.delete(ifindex);
          events.push({ type: 'link-removed', ifindex });
        }
      } else if (!before || !sameFacts(before, now)) {
        this.reported.set(ifindex, now);
        events.push({ type: 'link', facts: now });
      }
    }
    this.dirty.clear();
    return events;
  }

  /** The facts of every link (ordered by ifindex), all marked reported: the initial dump. */
  commit(): LinkFacts[] {
    this.reported.clear();
    this.dirty.clear();
    const all = [...this.links.keys()].sort((a, b) => a - b).map((i) => this.factsOf(i));
    for (const f of all) this.reported.set(f.ifindex, f);
    return all;
  }

  /** Current facts of one link (not necessarily reported yet). */
  get(ifindex: number): LinkFacts | undefined {
    return this.links.has(ifindex) ? this.factsOf(ifindex) : undefined;
  }

  private newLink(rec: LinkRecord): void {
    const prev = this.links.get(rec.ifindex);
    const key = JSON.stringify(bearerInput(rec));
    const bearer = prev && prev.bearerKey === key ? prev.bearer : this.decideBearer(bearerInput(rec));
    this.links.set(rec.ifindex, { rec, bearer, bearerKey: key });
    if (prev?.rec.adminUp && !rec.adminUp) this.dropGateways(rec.ifindex, 4);
    this.dirty.add(rec.ifindex);
  }

  private delLink(ifindex: number): void {
    this.links.delete(ifindex);
    this.addrs.delete(ifindex);
    this.dropGateways(ifindex, null);
    this.dirty.add(ifindex);
  }

  private newAddress(a: AddressRecord): void {
    let m = this.addrs.get(a.ifindex);
    if (!m) this.addrs.set(a.ifindex, (m = new Map()));
    const key = `${a.family}|${a.address}|${a.prefixLength}`;
    const fact: AddressFact = {
      family: a.family,
      address: a.address,
      prefixLength: a.prefixLength,
      method: addressMethod(a.family, a.flags),
      scope: addressScope(a.scope),
    };
    m.set(key, { fact, secondary: a.flags.secondary, seq: m.get(key)?.seq ?? ++this.seq });
    this.dirty.add(a.ifindex);
  }

  private delAddress(a: AddressRecord): void {
    const m = this.addrs.get(a.ifindex);
    if (!m?.delete(`${a.family}|${a.address}|${a.prefixLength}`)) return;
    if (a.family === 4 && ![...m.values()].some((e) => e.fact.family === 4)) this.dropGateways(a.ifindex, 4);
    this.dirty.add(a.ifindex);
  }

  private newRoute(r: RouteRecord, replace: boolean): void {
    if (r.table !== RT_TABLE_MAIN || r.dstLen !== 0 || r.srcLen !== 0) return;
    const group = `${r.family}|${r.tos}|${r.metric}`;
    // A replace keeps the route key but may change next hops or even the type (unreachable).
    if (replace) this.dropGroup(group);
    if (!isDefaultGatewayRoute(r)) return;
    for (const nh of r.nexthops) {
      this.gateways.set(`${group}|${nh.ifindex}|${nh.gateway}`, {
        family: r.family,
        ifindex: nh.ifindex,
        gateway: nh.gateway,
        metric: r.metric,
        group,
      });
      this.dirty.add(nh.ifindex);
    }
  }

  private delRoute(r: RouteRecord): void {
    if (!isDefaultGatewayRoute(r)) return;
    const group = `${r.family}|${r.tos}|${r.metric}`;
    if (r.nexthops.length === 0) return this.dropGroup(group);
    for (const nh of r.nexthops) {
      if (this.gateways.delete(`${group}|${nh.ifindex}|${nh.gateway}`)) this.dirty.add(nh.ifindex);
    }
  }

  private dropGroup(group: string): void {
    for (const [k, g] of this.gateways) {
      if (g.group === group) {
        this.gateways.delete(k);
        this.dirty.add(g.ifindex);
      }
    }
  }

  private dropGateways(ifindex: number, family: Family | null): void {
    for (const [k, g] of this.gateways) {
      if (g.ifindex === ifindex && (family === null || g.family === family)) {
        this.gateways.delete(k);
        this.dirty.add(ifindex);
      }
    }
  }

  private factsOf(ifindex: number): LinkFacts {
    const entry = this.links.get(ifindex) as LinkEntry;
    const rec = entry.rec;
    const addresses = [...(this.addrs.get(ifindex)?.values() ?? [])]
      .sort((a, b) => a.fact.family - b.fact.family || Number(a.secondary) - Number(b.secondary) || a.seq - b.seq)
      .map((e) => ({ ...e.fact }));
    const seen = new Set<string>();
    const gateways: GatewayFact[] = [];
    for (const g of this.gateways.values()) {
      if (g.ifindex !== ifindex) continue;
      const k = `${g.family}|${g.gateway}|${g.metric}`;
      if (seen.has(k)) continue;
      seen.add(k);
      gateways.push({ family: g.family, gateway: g.gateway, metric: g.metric });
    }
    gateways.sort((a, b) => a.family - b.family || a.metric - b.metric || (a.gateway < b.gateway ? -1 : a.gateway > b.gateway ? 1 : 0));
    return {
      ifindex,
      name: rec.name,
      kind: rec.kind,
      mac: rec.mac,
      bearer: entry.bearer,
      adminUp: rec.adminUp,
      carrier: rec.carrier,
      mtu: rec.mtu,
      addresses,
      gateways,
      // rtnetlink carries no DNS servers (RDNSS would need ND user options and lifetimes).
      nameservers: [],
    };
  }
}

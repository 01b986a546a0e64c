/**
 * The link table: folds link source records (link-records.ts) into per-link {@link LinkFacts}
 * and reports, per link, only facts that really changed. Stateful, free of I/O.
 */
import type { Bearer } from '../../../lib/protocol.js';
import type { AddressFact, Family, GatewayFact, LinkFacts } from '../../core/services.js';
import type { LinkEvent } from '../../ports.js';
import type { BearerLinkInput } from './bearer.js';
import {
  type AddressRecord,
  addressMethod,
  addressScope,
  isDefaultGatewayRoute,
  isUsableAddress,
  type LinkRecord,
  type RouteRecord,
  type RtChange,
} from './link-records.js';
import { RT_TABLE_MAIN } from './messages/constants.js';

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
        this.newLink(change.link);
        return;
      case 'del-link':
        this.delLink(change.ifindex);
        return;
      case 'new-address':
        if (isUsableAddress(change.address.flags)) this.newAddress(change.address);
        else this.delAddress(change.address);
        return;
      case 'del-address':
        this.delAddress(change.address);
        return;
      case 'new-route':
        this.newRoute(change.route, change.replace);
        return;
      case 'del-route':
        this.delRoute(change.route);
        return;
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
    if (!m) {
      m = new Map();
      this.addrs.set(a.ifindex, m);
    }
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
    if (r.nexthops.length === 0) {
      this.dropGroup(group);
      return;
    }
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
    gateways.sort(
      (a, b) =>
        a.family - b.family || a.metric - b.metric || (a.gateway < b.gateway ? -1 : a.gateway > b.gateway ? 1 : 0),
    );
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

/**
 * Services, derived from link facts: identifier, state, ordering, and the IP dicts that
 * Updates and Service properties carry. Pure functions over plain data.
 */
import type { Bearer, IPv4Settings, IPv6Settings, IpMethod, ServiceState } from '../../lib/protocol.js';

/** 4 or 6. */
export type Family = 4 | 6;

/** One address on a link, as rtnetlink reports it. */
export interface AddressFact {
  family: Family;
  address: string;
  prefixLength: number;
  /** How the address came to be: dynamic v4 leases are `dhcp`, SLAAC v6 `auto`, others `manual`. */
  method: IpMethod;
  /** Link-local and host-scoped addresses never make a service ready. */
  scope: 'global' | 'link' | 'host';
}

/** A default route through a link (from the main table). */
export interface GatewayFact {
  family: Family;
  gateway: string;
  metric: number;
}

/** Everything the core needs to know about one network link. */
export interface LinkFacts {
  ifindex: number;
  name: string;
  /** rtnetlink link kind (`veth`, `wireguard`, `tun`, ...), or '' for plain devices. */
  kind: string;
  /** MAC address as `aa:bb:cc:dd:ee:ff`, or '' when the link has none. */
  mac: string;
  /** Bearer decided by the link source (sysfs, link kind, per-interface override); null: not a service. */
  bearer: Bearer | null;
  adminUp: boolean;
  carrier: boolean;
  mtu: number;
  addresses: AddressFact[];
  gateways: GatewayFact[];
  nameservers: string[];
}

/** Per-family online-check outcome, fed by the online-check scheduler. */
export interface OnlineStatus {
  online: boolean;
  /** Captive-portal URL when the check hit one. */
  portal: string | null;
}

/** A service: one managed link. Mutable inside the engine, read-only outside. */
export interface Service {
  readonly id: string;
  readonly ifindex: number;
  ifname: string;
  bearer: Bearer;
  kind: string;
  mac: string;
  mtu: number;
  adminUp: boolean;
  carrier: boolean;
  addresses: AddressFact[];
  gateways: GatewayFact[];
  nameservers: string[];
  check: Record<Family, OnlineStatus>;
  /** Bills by volume (cellular by default; a provisioning section's `Metered` overrides). */
  metered: boolean;
  /** Roaming, as a provisioning section's `Roaming` says (netsessiond talks to no modem). */
  roaming: boolean;
  /** ConnMan's service Error property ('' or e.g. 'online-check-failed'). */
  error: string;
  state: ServiceState;
  /** Kernel resources, allocated once per service; null if the pools were exhausted. */
  alloc: { table: number; mark: number; slot: number } | null;
}

/**
 * Manage mode's say in a service's state: null for observed links; false: not to be configured
 * (idle); true: configured; 'pending': configured, but a default route it is owed is not in the
 * kernel yet (configuration).
 */
export type Wanted = boolean | 'pending' | null;

/** Does the service have a usable (global) address of this family? */
export function usableAddress(s: Pick<Service, 'addresses'>, family: Family): AddressFact | undefined {
  return s.addresses.find((a) => a.family === family && a.scope === 'global');
}

/** Gateway of a family, lowest metric first. */
export function gatewayOf(s: Pick<Service, 'gateways'>, family: Family): GatewayFact | undefined {
  let best: GatewayFact | undefined;
  for (const g of s.gateways) if (g.family === family && (!best || g.metric < best.metric)) best = g;
  return best;
}

/**
 * ConnMan-style identifier. Ethernet keeps ConnMan's exact form `ethernet_<mac>_cable`; other
 * bearers have no SSID/operator here, so the interface name stands in. Only [A-Za-z0-9_]
 * survive because the id becomes an object-path element.
 */
export function serviceIdFor(facts: Pick<LinkFacts, 'bearer' | 'mac' | 'name'>): string {
  const bearer = facts.bearer ?? 'ethernet';
  const hw = facts.mac ? facts.mac.replace(/:/g, '').toLowerCase() : Buffer.from(facts.name).toString('hex');
  const suffix = bearer === 'ethernet' || bearer === 'gadget' ? 'cable' : facts.name.replace(/[^A-Za-z0-9]/g, '_');
  return `${bearer}_${hw}_${suffix}`;
}

/**
 * State from facts: admin-down or no carrier is idle, carrier without a global address is
 * configuration, an address makes it ready, a passed online check makes it online.
 * A disabled technology (Powered=false or OfflineMode) holds every service at idle. `wanted` is
 * null for observed links; for managed ones, whether the daemon means to configure it.
 */
export function deriveState(s: Service, technologyEnabled: boolean, wanted: Wanted = null): ServiceState {
  // A managed link nobody asked to connect stays idle, whatever addresses it still carries.
  if (!technologyEnabled || !s.adminUp || !s.carrier || wanted === false) return 'idle';
  // Managed, addressed, but its default route is not in the kernel yet: a session bound now
  // would find no route in the service's table (behaviour M22).
  if (wanted === 'pending') return 'configuration';
  const v4 = usableAddress(s, 4);
  const v6 = usableAddress(s, 6);
  if (!v4 && !v6) return 'configuration';
  if ((v4 && s.check[4].online) || (v6 && s.check[6].online)) return 'online';
  return 'ready';
}

/** True when sessions may bind to the service at all (ConnMan's "connected" states). */
export function isConnected(state: ServiceState): boolean {
  return state === 'ready' || state === 'online';
}

const STATE_RANK: Record<ServiceState, number> = {
  online: 0,
  ready: 1,
  configuration: 2,
  association: 2,
  disconnect: 3,
  failure: 4,
  idle: 5,
};

/** Default technology preference when the configuration gives none. */
export const DEFAULT_BEARER_RANK: readonly Bearer[] = ['ethernet', 'wifi', 'cellular', 'bluetooth', 'gadget', 'vpn'];

/**
 * Service order (GetServices, the default service): state, then preferred technology, then
 * ifindex so the order is total and stable across restarts of the same topology.
 */
export function compareServices(a: Service, b: Service, preferred: readonly Bearer[]): number {
  const sr = STATE_RANK[a.state] - STATE_RANK[b.state];
  if (sr !== 0) return sr;
  const br = bearerRank(a.bearer, preferred) - bearerRank(b.bearer, preferred);
  if (br !== 0) return br;
  return a.ifindex - b.ifindex;
}

/** Position of a bearer in the preference: configured ones first, then the default order. */
export function bearerRank(b: Bearer, preferred: readonly Bearer[]): number {
  const i = preferred.indexOf(b);
  return i >= 0 ? i : preferred.length + DEFAULT_BEARER_RANK.indexOf(b);
}

/** Dotted-quad netmask from a prefix length. */
export function netmaskOf(prefixLength: number): string {
  const bits = prefixLength <= 0 ? 0 : (0xffffffff << (32 - Math.min(prefixLength, 32))) >>> 0;
  return [24, 16, 8, 0].map((sh) => (bits >>> sh) & 0xff).join('.');
}

/** The `IPv4` dict for Updates and Service properties; empty unless the service is connected. */
export function ipv4Dict(s: Service): IPv4Settings {
  if (!isConnected(s.state)) return {};
  const a = usableAddress(s, 4);
  if (!a) return {};
  const out: IPv4Settings = { Method: a.method, Address: a.address, Netmask: netmaskOf(a.prefixLength) };
  const gw = gatewayOf(s, 4);
  if (gw) out.Gateway = gw.gateway;
  return out;
}

/** The `IPv6` dict; empty unless the service is connected with a global v6 address. */
export function ipv6Dict(s: Service): IPv6Settings {
  if (!isConnected(s.state)) return {};
  const a = usableAddress(s, 6);
  if (!a) return {};
  const out: IPv6Settings = { Method: a.method, Address: a.address, PrefixLength: a.prefixLength };
  const gw = gatewayOf(s, 6);
  if (gw) out.Gateway = gw.gateway;
  out.Privacy = 'disabled';
  return out;
}

/**
 * What manage mode takes in from the DHCP client (lease events, kept as leases) and gives the
 * runtime to apply (the plan: link states, addresses, DHCP clients, main-table defaults and
 * nameservers). Plain values; manage.ts computes them.
 */
import type { DesiredRoute } from './manage-routes.js';
import type { Family } from './services.js';

/**
 * One DHCPv4 lease event. `bound`: a new lease (it may replace an earlier one without an `expire`
 * in between, e.g. after the client process was restarted). `renew`: the same lease extended,
 * options possibly changed. `expire`: the lease was lost (not renewed in time, or NAKed).
 * `release`: the lease was given back because the client was stopped. `expire` and `release`
 * carry the lease that ends.
 */
export interface DhcpLeaseEvent {
  type: 'bound' | 'renew' | 'expire' | 'release';
  /** The leased IPv4 address. */
  address: string;
  prefixLength: number;
  /** First router the server offered, or '' for none. */
  router: string;
  /** DNS servers in the server's order (IPv4 only). */
  dns: string[];
  /** Lease time in seconds as the server granted it (0 when the server sent none). */
  leaseSeconds: number;
  /** The server's identifier (its address), or '' when unknown. */
  serverId: string;
}

/** A DHCPv4 lease as the engine keeps it. */
export interface Lease {
  address: string;
  prefixLength: number;
  /** '' when the server offered none. */
  router: string;
  dns: string[];
}

/** Desired state of one managed link. */
export interface ManagedLinkPlan {
  serviceId: string;
  ifindex: number;
  ifname: string;
  /** IFF_UP: the technology is enabled. */
  adminUp: boolean;
  /** Has a connect reason and carrier: addresses, DHCP and routes present. */
  configured: boolean;
  /** The link has carrier (a DHCP client stopped without it keeps its lease for INIT-REBOOT). */
  carrier: boolean;
  addresses: Array<{ family: Family; address: string; prefixLength: number }>;
  /** Run the DHCPv4 client. */
  dhcp: boolean;
  /** IPv6 enabled on the link (disable_ipv6 = 0), and whether it autoconfigures from RAs. */
  ipv6: boolean;
  slaac: boolean;
}

/** Everything the runtime applies for managed links. */
export interface ManagePlan {
  links: ManagedLinkPlan[];
  /** Main-table default routes of the managed links. */
  defaults: DesiredRoute[];
  /** Nameservers and search domains per connected service, default service first. */
  resolv: Array<{ ifname: string; nameservers: string[]; domains: string[] }>;
}

/**
 * The desired kernel state: the plain value the core computes (kernel-state.ts) and the
 * routing and firewall adapters apply.
 */
import type { Family } from './services.js';

/** A route inside one of the daemon's per-service tables. */
export interface TableRoute {
  family: Family;
  /** Destination prefix; `default` routes have dst '' and dstLen 0. */
  dst: string;
  dstLen: number;
  /** Next hop; absent for on-link routes. */
  gateway?: string;
  ifindex: number;
  table: number;
}

/** `ip rule` entries the daemon owns. */
export type PolicyRule =
  | { kind: 'fwmark'; family: Family; priority: number; mark: number; mask: number; table: number }
  | { kind: 'source'; family: Family; priority: number; src: string; srcLen: number; table: number };

/** One service's share of the routing state. */
export interface ServiceRouting {
  serviceId: string;
  ifindex: number;
  ifname: string;
  table: number;
  mark: number;
  routes: TableRoute[];
}

/** Routing half of the desired state. */
export interface RoutingState {
  services: ServiceRouting[];
  rules: PolicyRule[];
}

/** How a packet's owner is recognised. */
export type IdentityKind = 'cgroup' | 'uid' | 'gid' | 'source';

/** One classification entry: traffic of `key` belongs to `sessionKey`. */
export interface Classifier {
  kind: IdentityKind;
  /** uid/gid as a decimal number, cgroup path, or source address. */
  key: string;
  family?: Family;
  sessionKey: string;
}

/** Per-session marking and counting. */
export interface SessionMarking {
  /** Stable, kernel-safe name of this session (counter and chain names derive from it). */
  sessionKey: string;
  /** Mark of the service the session is bound to, or 0 when it is not bound (count only). */
  mark: number;
  /** The session's tag (inside FirewallState.tagMask); packet and conntrack marks carry it. */
  tag: number;
  /** Outgoing interface of the bound service (for SNAT), or '' when unbound. */
  ifname: string;
  /** Source addresses to SNAT to on that interface (one per family at most). */
  snat: Array<{ family: Family; address: string }>;
}

/** A connected service as the firewall needs it: what its sessions' markings share. */
export type ServiceMarking = Pick<SessionMarking, 'mark' | 'ifname' | 'snat'>;

/** Firewall half of the desired state. */
export interface FirewallState {
  mask: number;
  /** Bits of the mark that carry session tags (disjoint from `mask`). */
  tagMask: number;
  sessions: SessionMarking[];
  /**
   * The connected services (mark ≠ 0), sorted by mark. Each keeps its chain, `svc` element and SNAT
   * rules while it is connected, whether or not a session is bound to it, so that a service's
   * first session and its last add and remove only their own objects (a verdict-map element and a
   * chain are the costliest things the kernel validates). Absent: only the services that sessions
   * are bound to have them.
   */
  services?: ServiceMarking[];
  /** Classifiers sorted by kind order then key; each identity key appears once (its owner). */
  classifiers: Classifier[];
}

/** The whole desired kernel state. */
export interface KernelState {
  routing: RoutingState;
  firewall: FirewallState;
}

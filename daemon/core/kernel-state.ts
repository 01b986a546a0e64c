/**
 * The desired kernel state as a pure function of the services and sessions.
 *
 * Model (see ARCHITECTURE.md, "Kernel design"):
 * - **Tables and marks are per service, not per session.** Every connected service (ready or
 *   online) has its own routing table holding its default route per family (v4 and v6; ConnMan
 *   only ever fills v4) and the on-link prefix route of each global address. Sessions bound to
 *   the same service share its table and mark, so the number of `ip rule`s grows with services,
 *   never with sessions, and moving a session is a change of its marking only.
 * - **Rules**, at fixed priorities inside the configured range (a slot per service):
 *   `from ADDR lookup T` (source rules, first) then `fwmark M/MASK lookup T` (fwmark rules). The
 *   fwmark rule exists per family that has a route in the table; source rules exist for every
 *   global address of a service while at least one session bound to it has SourceIPRule, or
 *   always when the service asks for them (`sourceRules`, manage mode). Source before fwmark: a socket bound to uplink B's address leaves through B even if its owner's
 *   identity is marked for A.
 * - **Marking**: one {@link SessionMarking} per session that claims an identity (bound: the
 *   service's mark, interface and SNAT source per family; unbound: mark 0, only counted), and
 *   classifiers that map identities (source address, cgroup, uid, gid) to the one session that
 *   owns them. A session that claims nothing (no policy claim, no cgroup, no SourceIPRule address)
 *   gets no marking: no packet can be classified to it, so its counters, chain and map elements
 *   would be kernel work on every create and destroy for nothing (ConnMan, too, installs nothing
 *   for such a session). Its statistics read as zero.
 * - **Ownership** ({@link ownerOf}): when several sessions claim the same identity, a session with
 *   Priority=true beats one without; among equals the oldest session (lowest serial, i.e. created
 *   first) wins; the session key breaks any remaining tie. Unbound sessions still own their claims
 *   (their traffic is counted and keeps mark 0, i.e. the main table). ConnMan instead appends one
 *   MARK rule per session and the last appended wins, which shifts on every state update.
 *
 * The output is deterministic: sorted, independent of the order of the input arrays (same input →
 * deep-equal output), so reconcilers can diff it cheaply. Cost is linear in services + sessions +
 * claims apart from sorting the output.
 *
 * Addresses are normalised (IPv6 to RFC 5952 text) so they compare equal to what the kernel
 * reports back. Unparseable addresses and prefix lengths are skipped rather than thrown on: one
 * bad fact must not stop the daemon from applying everything else.
 */

import { canonicalAddress, networkOf } from './addresses.js';
import { priorityForSlot } from './alloc.js';
import type { CoreConfig } from './config.js';
import type {
  Classifier,
  IdentityKind,
  KernelState,
  PolicyRule,
  RoutingState,
  ServiceMarking,
  ServiceRouting,
  SessionMarking,
  TableRoute,
} from './kernel-state-types.js';
import { memoByObject } from './object-memo.js';
import type { AddressFact, Family, GatewayFact } from './services.js';

/** One service as the kernel state needs it. */
export interface KernelServiceInput {
  id: string;
  ifindex: number;
  ifname: string;
  /** Allocated numbers (see `Allocations.allocateService`). */
  table: number;
  mark: number;
  slot: number;
  /** Ready or online; only connected services get tables and rules. */
  connected: boolean;
  addresses: AddressFact[];
  gateways: GatewayFact[];
  /**
   * Source rules for every global address while connected, whether or not a session asks for
   * them: in manage mode a socket bound to a non-default service's address must leave through
   * that service without any session involved (an app that binds its socket to an address expects
   * that address's network, whoever is the default).
   */
  sourceRules?: boolean;
}

/** One session as the kernel state needs it. */
export interface KernelSessionInput {
  /** Stable, kernel-safe name (e.g. `s42`). */
  sessionKey: string;
  /** The session's tag inside sessionTagMask. */
  tag: number;
  /** Creation order; lower is older. */
  serial: number;
  /** Policy Priority=true. */
  priority: boolean;
  /** Bound service, if any. */
  serviceId: string | null;
  /** Identities whose traffic this session marks (from policy). */
  claims: Array<{ kind: 'uid' | 'gid' | 'cgroup'; key: string }>;
  sourceIPRule: boolean;
}

/** Everything {@link computeKernelState} looks at. */
export interface KernelInput {
  config: CoreConfig;
  services: KernelServiceInput[];
  sessions: KernelSessionInput[];
}

/** The fields the ownership rule looks at. */
export type OwnerCandidate = Pick<KernelSessionInput, 'sessionKey' | 'serial' | 'priority'>;

/**
 * Ownership order of two sessions claiming the same identity; negative when `a` owns it.
 * Priority=true first, then the lower serial (older), then the lower session key.
 */
export function ownerOf(a: OwnerCandidate, b: OwnerCandidate): number {
  if (a.priority !== b.priority) return a.priority ? -1 : 1;
  if (a.serial !== b.serial) return a.serial < b.serial ? -1 : 1;
  return cmpStr(a.sessionKey, b.sessionKey);
}

// ---------------------------------------------------------------------------------------------
// Ordering helpers (plain code-unit comparison: locale-independent, hence deterministic).
// ---------------------------------------------------------------------------------------------

function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function cmpNum(a: number, b: number): number {
  return a - b;
}

function cmpRoute(a: TableRoute, b: TableRoute): number {
  return (
    cmpNum(a.family, b.family) ||
    cmpNum(a.dstLen, b.dstLen) ||
    cmpStr(a.dst, b.dst) ||
    cmpStr(a.gateway ?? '', b.gateway ?? '')
  );
}

function cmpRule(a: PolicyRule, b: PolicyRule): number {
  const byPriority = cmpNum(a.priority, b.priority) || cmpNum(a.family, b.family) || cmpStr(a.kind, b.kind);
  if (byPriority) return byPriority;
  if (a.kind === 'source' && b.kind === 'source') return cmpStr(a.src, b.src) || cmpNum(a.srcLen, b.srcLen);
  if (a.kind === 'fwmark' && b.kind === 'fwmark') return cmpNum(a.mark, b.mark) || cmpNum(a.table, b.table);
  return 0;
}

const KIND_ORDER: Readonly<Record<IdentityKind, number>> = { source: 0, cgroup: 1, uid: 2, gid: 3 };
const DECIMAL = /^\d+$/;

function cmpClassifier(a: Classifier, b: Classifier): number {
  const byKind = cmpNum(KIND_ORDER[a.kind], KIND_ORDER[b.kind]);
  if (byKind) return byKind;
  if (a.kind === 'source') return cmpNum(a.family ?? 0, b.family ?? 0) || cmpStr(a.key, b.key);
  if (DECIMAL.test(a.key) && DECIMAL.test(b.key)) return cmpNum(Number(a.key), Number(b.key)) || cmpStr(a.key, b.key);
  return cmpStr(a.key, b.key);
}

/** uid/gid keys are compared by the kernel as numbers: `007` and `7` are one identity. */
function normaliseKey(kind: IdentityKind, key: string): string {
  return (kind === 'uid' || kind === 'gid') && DECIMAL.test(key) ? key.replace(/^0+(?=\d)/, '') : key;
}

// ---------------------------------------------------------------------------------------------
// The computation.
// ---------------------------------------------------------------------------------------------

interface GlobalAddress {
  family: Family;
  address: string;
  prefixLength: number;
}

export interface PreparedService {
  input: KernelServiceInput;
  /** Global addresses, canonical, de-duplicated, in input order. */
  globals: GlobalAddress[];
  routes: TableRoute[];
}

function prepareService(svc: KernelServiceInput): PreparedService {
  const globals: GlobalAddress[] = [];
  const seenAddr = new Set<string>();
  for (const a of svc.addresses) {
    if (a.scope !== 'global') continue;
    const address = canonicalAddress(a.family, a.address);
    const bits = a.family === 4 ? 32 : 128;
    if (address === null || !Number.isInteger(a.prefixLength) || a.prefixLength < 0 || a.prefixLength > bits) continue;
    if (seenAddr.has(address)) continue;
    seenAddr.add(address);
    globals.push({ family: a.family, address, prefixLength: a.prefixLength });
  }

  const routes: TableRoute[] = [];
  const { ifindex, table } = svc;
  for (const family of [4, 6] as const) {
    // One default route per family and table: the lowest metric wins, then the lowest address.
    let best: { gateway: string; metric: number } | null = null;
    for (const g of svc.gateways) {
      if (g.family !== family) continue;
      const gateway = canonicalAddress(family, g.gateway);
      if (gateway === null) continue;
      if (best === null || g.metric < best.metric || (g.metric === best.metric && gateway < best.gateway))
        best = { gateway, metric: g.metric };
    }
    if (best) routes.push({ family, dst: '', dstLen: 0, gateway: best.gateway, ifindex, table });
  }
  // On-link prefix routes. A /32 or /128 address still gets its (single-host) route: it is
  // harmless and keeps the rule "every global address has its prefix route" without exceptions.
  const seenNet = new Set<string>();
  for (const a of globals) {
    const dst = networkOf(a.family, a.address, a.prefixLength) as string;
    const k = `${a.family} ${dst}/${a.prefixLength}`;
    if (seenNet.has(k)) continue;
    seenNet.add(k);
    routes.push({ family: a.family, dst, dstLen: a.prefixLength, ifindex, table });
  }
  routes.sort(cmpRoute);
  return { input: svc, globals, routes };
}

/** Connected services, prepared (canonical global addresses, table routes), by id. */
export function connectedServices(services: readonly KernelServiceInput[]): Map<string, PreparedService> {
  const connected = new Map<string, PreparedService>();
  for (const svc of services) {
    if (svc.connected) connected.set(svc.id, prepareService(svc));
  }
  return connected;
}

/** One connected service's table and rules (its source rules apart: they exist only while wanted). */
export interface RoutingParts {
  service: ServiceRouting;
  fwmark: PolicyRule[];
  source: PolicyRule[];
}

function routingPartsOf(config: CoreConfig, p: PreparedService): RoutingParts {
  const { id, ifindex, ifname, table, mark, slot } = p.input;
  const prio = priorityForSlot(config.priorityRange, slot);
  const families = new Set(p.routes.map((r) => r.family));
  const fwmark: PolicyRule[] = [];
  for (const family of [4, 6] as const) {
    if (families.has(family))
      fwmark.push({ kind: 'fwmark', family, priority: prio.fwmark, mark, mask: config.markMask, table });
  }
  const source: PolicyRule[] = p.globals.map((a) => ({
    kind: 'source',
    family: a.family,
    priority: prio.source,
    src: a.address,
    srcLen: a.family === 4 ? 32 : 128,
    table,
  }));
  return { service: { serviceId: id, ifindex, ifname, table, mark, routes: p.routes }, fwmark, source };
}

/**
 * Tables and rules per connected service; `wantsSourceRules`: services a SourceIPRule session is
 * bound to. `cache` (one per config) keeps each prepared service's parts, so that a rebuild for a
 * SourceIPRule session's create hands back the same objects for every unchanged service and rule.
 */
export function routingOf(
  config: CoreConfig,
  connected: ReadonlyMap<string, PreparedService>,
  wantsSourceRules: (serviceId: string) => boolean,
  cache?: WeakMap<PreparedService, RoutingParts>,
): RoutingState {
  const services: ServiceRouting[] = [];
  const rules: PolicyRule[] = [];
  for (const p of connected.values()) {
    let parts = cache?.get(p);
    if (!parts) {
      parts = routingPartsOf(config, p);
      cache?.set(p, parts);
    }
    services.push(parts.service);
    rules.push(...parts.fwmark);
    if (p.input.sourceRules === true || wantsSourceRules(p.input.id)) rules.push(...parts.source);
  }
  services.sort((a, b) => cmpStr(a.serviceId, b.serviceId));
  rules.sort(cmpRule);
  return { services, rules };
}

/**
 * The SNAT sources of a service: its first global address per family. Once per prepared service
 * (replaced, never modified): one array for all its markings, which the adapters know by pointer.
 */
const snatOf = memoByObject((svc: PreparedService): SessionMarking['snat'] => {
  const snat: SessionMarking['snat'] = [];
  for (const family of [4, 6] as const) {
    const first = svc.globals.find((a) => a.family === family);
    if (first) snat.push({ family, address: first.address });
  }
  return snat;
});

/** A session's marking: the service's mark, interface and first global address per family (SNAT). */
export function markingOf(
  s: Pick<KernelSessionInput, 'sessionKey' | 'tag'>,
  svc: PreparedService | undefined,
): SessionMarking {
  const mark = svc ? svc.input.mark : 0;
  const snat = svc && mark !== 0 ? snatOf(svc) : [];
  return { sessionKey: s.sessionKey, mark, tag: s.tag, ifname: svc ? svc.input.ifname : '', snat };
}

/** The firewall's connected services (mark ≠ 0) by mark: what a session bound to each would share. */
export function serviceMarkingsOf(connected: ReadonlyMap<string, PreparedService>): ServiceMarking[] {
  const out: ServiceMarking[] = [];
  for (const p of connected.values()) {
    if (p.input.mark !== 0) out.push({ mark: p.input.mark, ifname: p.input.ifname, snat: snatOf(p) });
  }
  return out.sort((a, b) => cmpNum(a.mark, b.mark));
}

/** One identity a session claims, normalised; `id` is the same for every claimant. */
export interface SessionClaim {
  id: string;
  kind: IdentityKind;
  key: string;
  family?: Family;
}

/** The identities a session claims, in claim order: policy claims, then its service's addresses (SourceIPRule). */
export function claimsOf(
  s: Pick<KernelSessionInput, 'claims' | 'sourceIPRule'>,
  svc: PreparedService | undefined,
): SessionClaim[] {
  const out: SessionClaim[] = [];
  for (const c of s.claims) {
    const key = normaliseKey(c.kind, c.key);
    out.push({ id: `${c.kind}\u0000${key}`, kind: c.kind, key });
  }
  if (s.sourceIPRule && svc) {
    for (const a of svc.globals)
      out.push({ id: `source\u0000${a.address}`, kind: 'source', key: a.address, family: a.family });
  }
  return out;
}

/** The classifier of a claim owned by `sessionKey`. */
export function classifierOf(c: SessionClaim, sessionKey: string): Classifier {
  return c.family === undefined
    ? { kind: c.kind, key: c.key, sessionKey }
    : { kind: c.kind, key: c.key, family: c.family, sessionKey };
}

/** Session order of the output: creation order (serial), then key. */
export function cmpSession(
  a: Pick<KernelSessionInput, 'serial' | 'sessionKey'>,
  b: Pick<KernelSessionInput, 'serial' | 'sessionKey'>,
): number {
  return cmpNum(a.serial, b.serial) || cmpStr(a.sessionKey, b.sessionKey);
}

export { cmpClassifier };

/**
 * Computes the whole desired kernel state. Pure and deterministic; see the module comment for
 * the model and the ownership rule. (The engine keeps it up to date per change with
 * {@link KernelStateMemo}, which must agree with this function.)
 */
export function computeKernelState(input: KernelInput): KernelState {
  const { config } = input;
  const connected = connectedServices(input.services);
  const sessions = [...input.sessions].sort(cmpSession);

  const wantsSourceRules = new Set<string>();
  for (const s of sessions) {
    if (s.sourceIPRule && s.serviceId !== null) wantsSourceRules.add(s.serviceId);
  }
  const routing = routingOf(config, connected, (id) => wantsSourceRules.has(id));

  // Firewall: one marking per session, one classifier per claimed identity (its owner's).
  const markings: SessionMarking[] = [];
  const owners = new Map<string, { classifier: Classifier; owner: KernelSessionInput }>();
  for (const s of sessions) {
    const svc = s.serviceId === null ? undefined : connected.get(s.serviceId);
    const claims = claimsOf(s, svc);
    // No claim, no packet can be classified to the session: nothing to mark or count.
    if (claims.length > 0) markings.push(markingOf(s, svc));
    for (const c of claims) {
      const current = owners.get(c.id);
      if (current && ownerOf(current.owner, s) <= 0) continue;
      owners.set(c.id, { classifier: classifierOf(c, s.sessionKey), owner: s });
    }
  }

  const classifiers = [...owners.values()].map((o) => o.classifier).sort(cmpClassifier);

  return {
    routing,
    firewall: {
      mask: config.markMask,
      tagMask: config.sessionTagMask,
      sessions: markings,
      classifiers,
      services: serviceMarkingsOf(connected),
    },
  };
}

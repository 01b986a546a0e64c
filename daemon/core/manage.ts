/**
 * Manage-mode state of the engine: which links are managed, what their provisioning asks for,
 * why each managed service is up, DHCP leases, and the persisted Favorite/AutoConnect flags.
 * It turns all of that into one plain {@link ManagePlan} (admin state, addresses, DHCP clients,
 * main-table default routes, nameservers) that the runtime carries out.
 *
 * The engine owns one instance and calls it from its event methods; the rules live in the
 * manage-*.ts modules, this file only holds the state and assembles their inputs.
 *
 * Defaults (documented in docs/behaviour.md, M13–M15):
 * - A managed link with no provisioning section gets ConnMan's defaults: IPv4 DHCP, IPv6 auto.
 * - Every managed service starts Favorite and AutoConnect: the admin named the interface in
 *   `ManageInterfaces`, which is the consent ConnMan asks a user for on Wi-Fi. Wired ones come up
 *   on carrier (ConnMan's connect-on-plug); others when nothing else is up or a session asks.
 */
import { BEARERS, type Bearer } from '../../lib/protocol.js';
import { AlreadyConnectedError, InvalidServiceError, NotConnectedError, NotSupportedError } from './errors.js';
import {
  applyAutoDecision,
  carrierLost,
  emptyRuntime,
  type ManageRuntime,
  userConnect,
  userDisconnect,
} from './manage-actions.js';
import { type ActiveSession, type AutoService, decideAutoconnect, isUp } from './manage-autoconnect.js';
import { compileModeOf, type ManageModeConfig } from './manage-mode.js';
import type { Lease, ManagedLinkPlan, ManagePlan } from './manage-plan.js';
import type { ManagedConfigView } from './manage-properties.js';
import { compareForDefault, desiredDefaultRoutes } from './manage-routes.js';
import { defaultSettings, type PersistedService, type PersistedSettings } from './persisted-settings.js';
import { type DesiredAddressing, desiredAddressing, matchProvisioned } from './provisioning.js';
import { type ProvisionedService, parseProvisioningFile } from './provisioning-parse.js';
import type { Family } from './services.js';
import { isConnected, type Service, usableAddress, type Wanted } from './services.js';

/** Manage-mode configuration. */
export interface ManageConfig extends ManageModeConfig {
  singleConnectedTechnology: boolean;
  alwaysConnected: readonly Bearer[];
}

export const DEFAULT_MANAGE_CONFIG: ManageConfig = {
  manage: [],
  observe: [],
  singleConnectedTechnology: false,
  alwaysConnected: [],
};

const DEFAULT_ADDRESSING: DesiredAddressing = {
  addresses: [],
  gateways: [],
  dhcpv4: true,
  ipv6: true,
  slaac: true,
  ipv6Privacy: null,
  nameservers: [],
  searchDomains: [],
  domain: null,
};

/** A section's addressing, or ConnMan's defaults without one. */
function addressingFor(section: ProvisionedService | null): DesiredAddressing {
  return section ? desiredAddressing(section) : DEFAULT_ADDRESSING;
}

/** What the technologies allow, as the registry reports it. */
export interface Switches {
  offline: boolean;
  powered: Partial<Record<Bearer, boolean>>;
}

export class ManageState {
  readonly config: ManageConfig;
  readonly #modeOf: (ifname: string) => 'manage' | 'observe';
  readonly #modeCache = new Map<string, boolean>();
  readonly #files = new Map<string, ProvisionedService[]>();
  #sections: ProvisionedService[] = [];
  #flags: Record<string, PersistedService> = {};
  #rt: ManageRuntime = emptyRuntime();
  readonly #leases = new Map<string, Lease>();
  readonly #carrier = new Map<string, boolean>();
  /** The user's order (MoveBefore/MoveAfter), earlier is better; kept while the daemon runs. */
  #order: string[] = [];

  constructor(config: Partial<ManageConfig> = {}) {
    this.config = { ...DEFAULT_MANAGE_CONFIG, ...config };
    this.#modeOf = compileModeOf(this.config);
  }

  /** True when any interface could be managed at all (cheap exit for observe-only daemons). */
  get enabled(): boolean {
    return this.config.manage.length > 0;
  }

  isManaged(s: Pick<Service, 'ifname'>): boolean {
    let m = this.#modeCache.get(s.ifname);
    if (m === undefined) {
      m = this.#modeOf(s.ifname) === 'manage';
      this.#modeCache.set(s.ifname, m);
    }
    return m;
  }

  /** For the registry's state derivation (see {@link Wanted}). */
  wanted(s: Service): Wanted {
    if (!this.enabled || !this.isManaged(s)) return null;
    if (!this.#rt.reasons.has(s.id)) return false;
    for (const g of this.#gateways(s)) {
      if (usableAddress(s, g.family) && !s.gateways.some((x) => x.family === g.family)) return 'pending';
    }
    return true;
  }

  /** The default-route gateways `s` is owed: static ones, else the lease's router. */
  #gateways(s: Service, a: DesiredAddressing = this.addressingOf(s)): Array<{ family: Family; gateway: string }> {
    const gateways = [...a.gateways];
    const lease = a.dhcpv4 ? this.#leases.get(s.id) : undefined;
    if (lease?.router && !gateways.some((g) => g.family === 4)) gateways.push({ family: 4, gateway: lease.router });
    return gateways;
  }

  // ---------------------------------------------------------------- provisioning

  /** Loads a provisioning file; throws ProvisioningError (previous version kept). Returns its warnings. */
  loadFile(file: string, text: string, maxServices = Infinity): string[] {
    const others = this.#sections.length - (this.#files.get(file)?.length ?? 0);
    const sections = parseProvisioningFile(file, text, Math.max(0, maxServices - others), maxServices);
    this.#files.set(file, sections);
    this.#sections = [...this.#files.values()].flat();
    return sections.flatMap((s) => s.warnings);
  }

  removeFile(file: string): boolean {
    if (!this.#files.delete(file)) return false;
    this.#sections = [...this.#files.values()].flat();
    return true;
  }

  /** The section provisioning `s`, or null (ConnMan defaults then apply). Observed links match Wi-Fi sections that name them too. */
  sectionOf(s: Service): ProvisionedService | null {
    return matchProvisioned(
      this.#sections,
      { name: s.ifname, mac: s.mac, bearer: s.bearer },
      !this.enabled || !this.isManaged(s),
    );
  }

  /** What Service properties show of a managed service's configuration (manage-properties.ts). */
  configView(s: Service): ManagedConfigView {
    const section = this.sectionOf(s);
    const addressing = addressingFor(section);
    return { section, addressing, nameservers: isConnected(s.state) ? this.#nameservers(s, addressing) : [] };
  }

  /** Nameservers in use: the provisioned ones, else the lease's and what the kernel reports. */
  #nameservers(s: Service, a: DesiredAddressing): string[] {
    if (a.nameservers.length > 0) return [...a.nameservers];
    const lease = a.dhcpv4 ? this.#leases.get(s.id) : undefined;
    return [...(lease?.dns ?? []), ...s.nameservers];
  }

  addressingOf(s: Service): DesiredAddressing {
    return addressingFor(this.sectionOf(s));
  }

  // ---------------------------------------------------------------- persisted flags

  restore(services: Readonly<Record<string, PersistedService>>): void {
    this.#flags = { ...services };
  }

  flags(id: string): PersistedService {
    return this.#flags[id] ?? { favorite: true, autoConnect: true };
  }

  /** The flags to persist (only services the user touched have entries). */
  persisted(): Record<string, PersistedService> {
    return { ...this.#flags };
  }

  setAutoConnect(s: Service, value: boolean): boolean {
    this.#requireManaged(s);
    const cur = this.flags(s.id);
    if (cur.autoConnect === value && this.#flags[s.id]) return false;
    this.#flags = { ...this.#flags, [s.id]: { ...cur, autoConnect: value } };
    return true;
  }

  // ---------------------------------------------------------------- user actions and link events

  /** Service.Connect. Returns true when the persisted flags changed. */
  connect(s: Service, enabled: boolean): boolean {
    // ConnMan's answer for a connected service comes first, observed or not.
    if (isConnected(s.state)) throw new AlreadyConnectedError(s.id);
    this.#requireManaged(s);
    if (!enabled)
      throw new NotSupportedError(`${s.bearer} is disabled (Powered false or OfflineMode): enable it first`);
    if (!s.carrier) throw new NotSupportedError(`${s.ifname} has no carrier`);
    const before: PersistedSettings = { ...defaultSettings(), services: this.#flags };
    const r = userConnect(this.#rt, before, s.id);
    this.#rt = r.rt;
    const changed = r.settings !== before;
    if (changed) this.#flags = { ...r.settings.services };
    return changed;
  }

  /** Service.Disconnect. */
  disconnect(s: Service): void {
    this.#requireManaged(s);
    if (!this.#rt.reasons.has(s.id) && !isUp(s.state)) throw new NotConnectedError(s.id);
    this.#rt = userDisconnect(this.#rt, s.id);
    this.#leases.delete(s.id);
  }

  /**
   * Service.MoveBefore / MoveAfter: `s` goes right before (or after) `target` in the user's
   * order, which breaks ties between connected services of one technology and state (M8).
   * Both must be managed (ConnMan: favorites); a target missing from the order is appended first.
   */
  move(s: Service, target: Service | undefined, targetName: string, before: boolean): boolean {
    this.#requireManaged(s);
    if (!target) throw new InvalidServiceError(targetName, 'no such service');
    if (target.id === s.id) throw new InvalidServiceError(targetName, 'a service cannot be moved relative to itself');
    if (!this.enabled || !this.isManaged(target)) throw new InvalidServiceError(targetName, 'not a managed service');
    const order = this.#order.filter((id) => id !== s.id);
    if (!order.includes(target.id)) order.push(target.id);
    const at = order.indexOf(target.id) + (before ? 0 : 1);
    order.splice(at, 0, s.id);
    const changed = order.join(' ') !== this.#order.join(' ');
    this.#order = order;
    return changed;
  }

  /** Notes carrier changes: a lost carrier ends the connection (ConnMan removes the service). */
  linkSeen(s: Service): void {
    const had = this.#carrier.get(s.id);
    this.#carrier.set(s.id, s.carrier);
    if (had === true && !s.carrier && this.isManaged(s)) this.#drop(s.id, true);
  }

  linkGone(id: string): void {
    this.#carrier.delete(id);
    this.#drop(id, true);
  }

  #drop(id: string, carrier: boolean): void {
    if (this.#rt.reasons.has(id)) {
      const reasons = new Map(this.#rt.reasons);
      reasons.delete(id);
      this.#rt = { reasons, userDisconnected: this.#rt.userDisconnected };
    }
    if (carrier) this.#rt = carrierLost(this.#rt, id);
    this.#leases.delete(id);
  }

  /** A DHCP event; returns true when the lease changed. */
  lease(id: string, lease: Lease | null): boolean {
    const cur = this.#leases.get(id);
    if (lease === null) return this.#leases.delete(id);
    if (cur && JSON.stringify(cur) === JSON.stringify(lease)) return false;
    this.#leases.set(id, lease);
    return true;
  }

  leaseOf(id: string): Lease | undefined {
    return this.#leases.get(id);
  }

  #requireManaged(s: Service): void {
    if (!this.enabled || !this.isManaged(s)) {
      throw new NotSupportedError(
        `${s.ifname} is configured by another tool (observe mode); netsessiond cannot change it`,
      );
    }
  }

  // ---------------------------------------------------------------- autoconnect

  /**
   * One autoconnect pass over `ranked` (best first). Returns true when a connect reason changed
   * (the caller re-derives states and runs another pass until nothing changes).
   */
  autoconnect(ranked: readonly Service[], switches: Switches, sessions: readonly ActiveSession[]): boolean {
    const services: AutoService[] = ranked.map((s) => {
      const managed = this.isManaged(s);
      const f = this.flags(s.id);
      return {
        id: s.id,
        bearer: s.bearer,
        state: s.state,
        favorite: f.favorite,
        autoConnect: f.autoConnect,
        managed,
        connectReason: this.#rt.reasons.get(s.id) ?? null,
        userDisconnected: this.#rt.userDisconnected.has(s.id),
        available: s.carrier,
        ifname: s.ifname,
      };
    });
    const powered = Object.fromEntries(BEARERS.map((b) => [b, switches.powered[b] !== false])) as Record<
      Bearer,
      boolean
    >;
    const d = decideAutoconnect({
      services,
      powered,
      offlineMode: switches.offline,
      singleConnectedTechnology: this.config.singleConnectedTechnology,
      alwaysConnected: this.config.alwaysConnected,
      sessions,
    });
    // A connect of a service that already has that reason (it is idle only for lack of an address
    // yet) changes nothing.
    const changes =
      d.disconnect.length > 0 ||
      d.connect.some((c) => this.#rt.reasons.get(c.id) !== c.reason) ||
      d.retag.some((r) => this.#rt.reasons.get(r.id) !== r.reason);
    if (!changes) return false;
    this.#rt = applyAutoDecision(this.#rt, d);
    for (const x of d.disconnect) this.#leases.delete(x.id);
    return true;
  }

  // ---------------------------------------------------------------- plan

  /** The state `s` ranks and gets routes by (see plan()). */
  #routeState(s: Service, switches: Switches): Service['state'] {
    if (s.state !== 'configuration' || !this.enabled || !this.isManaged(s)) return s.state;
    const wanted = this.wanted(s);
    if (wanted === 'pending') return 'ready';
    if (wanted !== true || !s.carrier || switches.offline || switches.powered[s.bearer] === false) return s.state;
    const a = this.addressingOf(s);
    const planned = (family: Family): boolean =>
      a.addresses.some((x) => x.family === family) || (family === 4 && a.dhcpv4 && this.#leases.has(s.id));
    return this.#gateways(s, a).some((g) => planned(g.family)) ? 'ready' : s.state;
  }

  /** The desired configuration of every managed link, given the services (best first). */
  plan(ranked: readonly Service[], switches: Switches, preferred: readonly Bearer[]): ManagePlan {
    const links: ManagedLinkPlan[] = [];
    const routeInputs: Array<{ s: Service; gateways: Array<{ family: Family; gateway: string }> }> = [];
    const resolv: ManagePlan['resolv'] = [];
    // A service waiting only for its default route ranks (and gets its route) as ready: the
    // route is what it waits for. So does one whose address this very plan adds (a new lease, a
    // static address after carrier came back): the runtime adds the route right after the
    // address in the same pass, instead of a pass later once the kernel has echoed the address.
    // Computed once per service: wanted() matches provisioning sections.
    const routeStates = new Map(ranked.map((s) => [s.id, this.#routeState(s, switches)] as const));
    const routeState = (s: Service): Service['state'] => routeStates.get(s.id) ?? s.state;
    const byDefault = [...ranked].sort((a, b) =>
      compareForDefault({ ...a, state: routeState(a) }, { ...b, state: routeState(b) }, preferred, this.#order),
    );
    for (const s of byDefault) {
      if (!this.isManaged(s)) {
        if (isConnected(s.state) && s.nameservers.length > 0)
          resolv.push({ ifname: s.ifname, nameservers: [...s.nameservers], domains: [] });
        continue;
      }
      const adminUp = !switches.offline && switches.powered[s.bearer] !== false;
      const configured = adminUp && s.carrier && this.#rt.reasons.has(s.id);
      const a = this.addressingOf(s);
      const lease = a.dhcpv4 ? this.#leases.get(s.id) : undefined;
      const addresses = configured ? [...a.addresses] : [];
      if (configured && lease) addresses.push({ family: 4, address: lease.address, prefixLength: lease.prefixLength });
      links.push({
        serviceId: s.id,
        ifindex: s.ifindex,
        ifname: s.ifname,
        adminUp,
        configured,
        carrier: s.carrier,
        addresses,
        dhcp: configured && a.dhcpv4,
        ipv6: configured && a.ipv6,
        slaac: configured && a.slaac,
      });
      if (!configured) continue;
      routeInputs.push({ s, gateways: this.#gateways(s, a) });
      if (isConnected(s.state)) {
        const domains = [...a.searchDomains, ...(a.domain ? [a.domain] : [])];
        resolv.push({ ifname: s.ifname, nameservers: this.#nameservers(s, a), domains });
      }
    }
    const defaults = desiredDefaultRoutes(
      routeInputs.map(({ s, gateways }) => ({ id: s.id, ifindex: s.ifindex, state: routeState(s), gateways })),
    );
    links.sort((x, y) => x.ifindex - y.ifindex);
    return { links, defaults, resolv };
  }
}

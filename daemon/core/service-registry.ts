/**
 * The set of services and technologies: folds link facts and online-check results into
 * services, keeps them ranked, tracks which online checks should run, and allocates each
 * service's kernel resources (table, mark, rule slot) for its lifetime.
 */
import type { Bearer } from '../../lib/protocol.js';
import type { Allocations } from './alloc.js';
import type { Effects } from './effects.js';
import { AlreadyDisabledError, AlreadyEnabledError, TechnologyNotFoundError } from './errors.js';
import type { Family, LinkFacts } from './services.js';
import {
  compareServices,
  deriveState,
  isConnected,
  type OnlineStatus,
  type Service,
  serviceIdFor,
  usableAddress,
  type Wanted,
} from './services.js';

const FAMILIES: readonly Family[] = [4, 6];

/** A technology as the Manager and Technology objects report it. */
export interface TechnologyView {
  type: Bearer;
  name: string;
  powered: boolean;
  connected: boolean;
}

const TECH_NAMES: Record<Bearer, string> = {
  ethernet: 'Wired',
  wifi: 'WiFi',
  bluetooth: 'Bluetooth',
  cellular: 'Cellular',
  gadget: 'Gadget',
  vpn: 'VPN',
};

export class ServiceRegistry {
  readonly #byIfindex = new Map<number, Service>();
  readonly #byId = new Map<string, Service>();
  /** Address each family's check runs against; a different address restarts the check. */
  readonly #checking = new Map<string, Record<Family, string | null>>();
  readonly #powered = new Map<Bearer, boolean>();
  #offline = false;
  #ranked: Service[] = [];
  /** Manage mode's say in state derivation (see deriveState); observed links answer null. */
  #wanted: (s: Service) => Wanted = () => null;

  constructor(
    private readonly alloc: Allocations,
    private readonly preferred: readonly Bearer[],
  ) {}

  /** Services, best first. */
  get ranked(): readonly Service[] {
    return this.#ranked;
  }

  get offline(): boolean {
    return this.#offline;
  }

  /** Installs manage mode's hook; states are re-derived at the next refresh. */
  setWantedHook(hook: (s: Service) => Wanted): void {
    this.#wanted = hook;
  }

  byIfindex(ifindex: number): Service | undefined {
    return this.#byIfindex.get(ifindex);
  }

  byId(id: string): Service | undefined {
    return this.#byId.get(id);
  }

  /** Applies one link's facts. Returns the id of the service that changed, if any. */
  applyLink(facts: LinkFacts, fx: Effects): string | null {
    const existing = this.#byIfindex.get(facts.ifindex);
    if (facts.bearer === null) {
      if (existing) this.removeLink(facts.ifindex, fx);
      return null;
    }
    // A bearer or MAC change gives the link a new identity: drop the old service first.
    if (existing && (existing.bearer !== facts.bearer || existing.mac !== facts.mac))
      this.removeLink(facts.ifindex, fx);
    let s = this.#byIfindex.get(facts.ifindex);
    if (!s) {
      s = this.#create(facts, fx);
    } else {
      s.ifname = facts.name;
      s.kind = facts.kind;
      s.mtu = facts.mtu;
      s.adminUp = facts.adminUp;
      s.carrier = facts.carrier;
      s.addresses = facts.addresses.map((a) => ({ ...a }));
      s.gateways = facts.gateways.map((g) => ({ ...g }));
      s.nameservers = [...facts.nameservers];
    }
    fx.changedServices.add(s.id);
    fx.kernelDirty = true;
    this.refresh(fx);
    return s.id;
  }

  #create(facts: LinkFacts, fx: Effects): Service {
    let id = serviceIdFor(facts);
    // VLANs and macvlans can share a MAC with their parent; keep ids unique.
    if (this.#byId.has(id)) id = `${id}_${facts.ifindex}`;
    let alloc: Service['alloc'] = null;
    try {
      alloc = this.alloc.allocateService();
    } catch (e) {
      fx.warnings.push(`service ${id}: ${(e as Error).message}; it gets no per-service routing`);
    }
    const bearer = facts.bearer as Bearer;
    const s: Service = {
      id,
      ifindex: facts.ifindex,
      ifname: facts.name,
      bearer,
      kind: facts.kind,
      mac: facts.mac,
      mtu: facts.mtu,
      adminUp: facts.adminUp,
      carrier: facts.carrier,
      addresses: facts.addresses.map((a) => ({ ...a })),
      gateways: facts.gateways.map((g) => ({ ...g })),
      nameservers: [...facts.nameservers],
      // Until the engine applies a provisioning section: the bearer's default (service-traits.ts).
      metered: bearer === 'cellular',
      roaming: false,
      check: { 4: { online: false, portal: null }, 6: { online: false, portal: null } },
      error: '',
      state: 'idle',
      alloc,
    };
    const hadTech = this.#hasTechnology(bearer);
    this.#byIfindex.set(facts.ifindex, s);
    this.#byId.set(id, s);
    this.#checking.set(id, { 4: null, 6: null });
    if (!this.#powered.has(bearer)) this.#powered.set(bearer, true);
    if (!hadTech) fx.addedTechnologies.push(bearer);
    fx.servicesReordered = true;
    return s;
  }

  /** Forgets a link's service. */
  removeLink(ifindex: number, fx: Effects): string | null {
    const s = this.#byIfindex.get(ifindex);
    if (!s) return null;
    this.#byIfindex.delete(ifindex);
    this.#byId.delete(s.id);
    const checking = this.#checking.get(s.id);
    for (const f of FAMILIES) if (checking?.[f]) fx.checks.push({ serviceId: s.id, family: f, op: 'stop' });
    this.#checking.delete(s.id);
    if (s.alloc) this.alloc.releaseService(s.alloc);
    fx.removedServices.push(s.id);
    fx.changedServices.delete(s.id);
    fx.servicesReordered = true;
    fx.kernelDirty = true;
    if (!this.#hasTechnology(s.bearer)) fx.removedTechnologies.push(s.bearer);
    else fx.changedTechnologies.add(s.bearer);
    this.refresh(fx);
    return s.id;
  }

  /** Records an online-check outcome for one family. Returns true if anything changed. */
  setCheck(serviceId: string, family: Family, status: OnlineStatus, error: string | null, fx: Effects): boolean {
    const s = this.#byId.get(serviceId);
    if (!s) return false;
    const cur = s.check[family];
    const errorChanged = error !== null && error !== s.error;
    if (cur.online === status.online && cur.portal === status.portal && !errorChanged) return false;
    s.check[family] = { ...status };
    if (error !== null) s.error = error;
    fx.changedServices.add(s.id);
    this.refresh(fx);
    return true;
  }

  /** Re-derives every state, re-ranks, and works out which checks to start or stop. */
  refresh(fx: Effects): void {
    const before = this.#ranked.map((s) => s.id).join(' ');
    for (const s of this.#byId.values()) {
      const enabled = this.#enabled(s.bearer);
      const state = deriveState(s, enabled, this.#wanted(s));
      if (state !== s.state) {
        s.state = state;
        fx.changedServices.add(s.id);
        fx.changedTechnologies.add(s.bearer);
        fx.kernelDirty = true;
      }
      this.#syncChecks(s, enabled, fx);
    }
    const ranked = [...this.#byId.values()].sort((a, b) => compareServices(a, b, this.preferred));
    if (ranked.map((s) => s.id).join(' ') !== before) fx.servicesReordered = true;
    this.#ranked = ranked;
  }

  #syncChecks(s: Service, enabled: boolean, fx: Effects): void {
    const checking = this.#checking.get(s.id);
    if (!checking) return;
    for (const f of FAMILIES) {
      const addr =
        enabled && s.adminUp && s.carrier && this.#wanted(s) !== false ? (usableAddress(s, f)?.address ?? null) : null;
      if (addr === checking[f]) continue;
      if (checking[f]) fx.checks.push({ serviceId: s.id, family: f, op: 'stop' });
      // A result for the old address says nothing about the new one.
      if (s.check[f].online || s.check[f].portal) {
        s.check[f] = { online: false, portal: null };
        fx.changedServices.add(s.id);
      }
      checking[f] = addr;
      if (addr) fx.checks.push({ serviceId: s.id, family: f, op: 'start' });
    }
    // State may have depended on the check we just reset.
    const state = deriveState(s, enabled, this.#wanted(s));
    if (state !== s.state) {
      s.state = state;
      fx.changedServices.add(s.id);
      fx.changedTechnologies.add(s.bearer);
      fx.kernelDirty = true;
    }
  }

  #hasTechnology(b: Bearer): boolean {
    for (const s of this.#byId.values()) if (s.bearer === b) return true;
    return false;
  }

  #enabled(b: Bearer): boolean {
    return !this.#offline && this.#powered.get(b) !== false;
  }

  /** Technologies that have at least one service, in bearer order. */
  technologies(): TechnologyView[] {
    const present = new Set<Bearer>();
    const connected = new Set<Bearer>();
    for (const s of this.#byId.values()) {
      present.add(s.bearer);
      if (isConnected(s.state)) connected.add(s.bearer);
    }
    return (Object.keys(TECH_NAMES) as Bearer[])
      .filter((b) => present.has(b))
      .map((b) => ({
        type: b,
        name: TECH_NAMES[b],
        powered: this.#powered.get(b) !== false,
        connected: connected.has(b),
      }));
  }

  /** Technology.SetProperty('Powered'). */
  setPowered(bearer: string, powered: boolean, fx: Effects): void {
    const b = bearer as Bearer;
    if (!this.#hasTechnology(b)) throw new TechnologyNotFoundError(bearer);
    const cur = this.#powered.get(b) !== false;
    if (cur === powered)
      throw powered
        ? new AlreadyEnabledError(`${bearer} is already enabled`)
        : new AlreadyDisabledError(`${bearer} is already disabled`);
    this.#powered.set(b, powered);
    fx.changedTechnologies.add(b);
    this.refresh(fx);
  }

  /**
   * Restores persisted switches before any link is known (no effects: nothing is announced yet).
   * A technology without services keeps its Powered value for when its first service appears.
   */
  restore(offline: boolean, powered: Partial<Record<Bearer, boolean>>): void {
    this.#offline = offline;
    for (const [b, p] of Object.entries(powered) as Array<[Bearer, boolean]>) this.#powered.set(b, p);
  }

  /** Persistable switches: OfflineMode and Powered of every technology ever seen. */
  switches(): { offline: boolean; powered: Partial<Record<Bearer, boolean>> } {
    return { offline: this.#offline, powered: Object.fromEntries(this.#powered) as Partial<Record<Bearer, boolean>> };
  }

  /** Manager.SetProperty('OfflineMode'). Returns false when nothing changed. */
  setOffline(offline: boolean, fx: Effects): boolean {
    if (this.#offline === offline) return false;
    this.#offline = offline;
    fx.managerChanged.add('OfflineMode');
    for (const t of this.technologies()) fx.changedTechnologies.add(t.type);
    this.refresh(fx);
    return true;
  }
}

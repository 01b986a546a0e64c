/**
 * The engine's lower floor: services and what follows from them. Link events and online
 * results go into the service registry, the Manager's and Technologies' switches, manage mode
 * (provisioning, connect reasons, leases, autoconnect), and the desired kernel state; sessions
 * rebind when their service changes. The session calls and policy are the Engine's (engine.ts),
 * built on this class.
 */
import type { Bearer, ManagerState } from '../../lib/protocol.js';
import { Allocations } from './alloc.js';
import { type CoreConfig, DEFAULT_CORE_CONFIG, validateCoreConfig } from './config.js';
import { type Effects, noEffects } from './effects.js';
import { ServiceNotFoundError } from './errors.js';
import type { KernelInput, KernelServiceInput, KernelSessionInput } from './kernel-state.js';
import { KernelStateMemo } from './kernel-state-memo.js';
import type { KernelState } from './kernel-state-types.js';
import { type ManageConfig, ManageState } from './manage.js';
import type { DhcpLeaseEvent, ManagePlan } from './manage-plan.js';
import type { PersistedService } from './persisted-settings.js';
import { ServiceRegistry, type TechnologyView } from './service-registry.js';
import { applyTraits } from './service-traits.js';
import { DEFAULT_BEARER_RANK, type Family, type LinkFacts, type OnlineStatus, type Service } from './services.js';
import { isInert, type Session } from './session-model.js';
import { SessionTable } from './session-table.js';

/** Engine configuration. */
export interface EngineConfig {
  core?: Partial<CoreConfig>;
  /** Technology preference for service ordering (ConnMan's PreferredTechnologies). */
  preferredTechnologies?: Bearer[];
  /** Manage mode (which interfaces the daemon configures, autoconnect switches). */
  manage?: Partial<ManageConfig>;
}

/** No ended sessions (the usual note). */
const NO_KEYS: readonly string[] = Object.freeze([]);

export class ServiceEngine {
  readonly config: CoreConfig;
  readonly registry: ServiceRegistry;
  /** Manage-mode state (inert when no interface is managed). */
  readonly manage: ManageState;
  protected readonly sessionTable: SessionTable;
  protected readonly alloc: Allocations;
  readonly #preferred: readonly Bearer[];
  readonly #kernelMemo = new KernelStateMemo();

  constructor(config: EngineConfig = {}) {
    this.config = validateCoreConfig({ ...DEFAULT_CORE_CONFIG, ...config.core });
    this.alloc = new Allocations(this.config);
    this.#preferred = config.preferredTechnologies ?? DEFAULT_BEARER_RANK;
    this.registry = new ServiceRegistry(this.alloc, this.#preferred);
    this.sessionTable = new SessionTable(this.registry, (key) => this.#kernelMemo.has(key));
    this.manage = new ManageState(config.manage);
    this.registry.setWantedHook((s) => this.manage.wanted(s));
  }

  // ---------------------------------------------------------------- links and online checks

  /** A link appeared or changed. */
  linkChanged(facts: LinkFacts): Effects {
    const fx = noEffects();
    const before = this.#managerState();
    const id = this.registry.applyLink(this.#withLeaseMethod(facts), fx);
    const s = id === null ? undefined : this.registry.byId(id);
    if (s) this.manage.linkSeen(s);
    if (s && applyTraits(s, this.manage.sectionOf(s))) fx.changedServices.add(s.id);
    this.managePass(fx);
    this.sessionTable.rebind(fx, id);
    this.#noteManager(before, fx);
    return fx;
  }

  /** A link disappeared. */
  linkRemoved(ifindex: number): Effects {
    const fx = noEffects();
    const before = this.#managerState();
    const id = this.registry.removeLink(ifindex, fx);
    if (id !== null) this.manage.linkGone(id);
    this.managePass(fx);
    this.sessionTable.rebind(fx, id);
    this.#noteManager(before, fx);
    return fx;
  }

  /** An online-check verdict for one family of one service. `error` replaces the service's Error when not null. */
  onlineStatus(serviceId: string, family: Family, status: OnlineStatus, error: string | null = null): Effects {
    const fx = noEffects();
    const before = this.#managerState();
    if (this.registry.setCheck(serviceId, family, status, error, fx)) this.sessionTable.rebind(fx, serviceId);
    this.#noteManager(before, fx);
    return fx;
  }

  // ---------------------------------------------------------------- manager and technologies

  /** Manager.SetProperty('OfflineMode'). */
  setOfflineMode(offline: boolean): Effects {
    const fx = noEffects();
    const before = this.#managerState();
    if (this.registry.setOffline(offline, fx)) {
      this.managePass(fx);
      this.sessionTable.rebind(fx, null);
    }
    this.#noteManager(before, fx);
    return fx;
  }

  /** Technology.SetProperty('Powered'). */
  setTechnologyPowered(bearer: string, powered: boolean): Effects {
    const fx = noEffects();
    const before = this.#managerState();
    this.registry.setPowered(bearer, powered, fx);
    this.managePass(fx);
    this.sessionTable.rebind(fx, null);
    this.#noteManager(before, fx);
    return fx;
  }

  /** Manager State. */
  managerState(): ManagerState {
    return this.#managerState();
  }

  get offlineMode(): boolean {
    return this.registry.offline;
  }

  services(): readonly Service[] {
    return this.registry.ranked;
  }

  technologies(): TechnologyView[] {
    return this.registry.technologies();
  }

  // ---------------------------------------------------------------- manage mode

  /** Loads (or reloads) a provisioning file; throws ProvisioningError and keeps the previous version. */
  loadProvisioning(file: string, text: string): Effects {
    const warnings = this.manage.loadFile(file, text, this.config.maxProvisioningServices);
    const fx = this.#manageChanged(this.#provisioningChanged());
    fx.warnings.push(...warnings);
    return fx;
  }

  removeProvisioning(file: string): Effects {
    this.manage.removeFile(file);
    return this.#manageChanged(this.#provisioningChanged());
  }

  /**
   * Provisioning also speaks for observed links (nameservers, metered, roaming): every service's
   * properties may have changed (the runtime signals only real differences), and its traits.
   */
  #provisioningChanged(): Effects {
    const fx = noEffects();
    for (const s of this.registry.ranked) {
      applyTraits(s, this.manage.sectionOf(s));
      fx.changedServices.add(s.id);
    }
    return fx;
  }

  /** Service.Connect (root, managed services only). */
  serviceConnect(serviceId: string): Effects {
    const s = this.#service(serviceId);
    const sw = this.registry.switches();
    const enabled = !sw.offline && sw.powered[s.bearer] !== false;
    const fx = noEffects();
    if (this.manage.connect(s, enabled)) fx.settingsChanged = true;
    return this.#manageChanged(fx);
  }

  /** Service.Disconnect (root, managed services only). */
  serviceDisconnect(serviceId: string): Effects {
    this.manage.disconnect(this.#service(serviceId));
    return this.#manageChanged();
  }

  /** Service.MoveBefore / MoveAfter (`target` is a service id). */
  moveService(serviceId: string, target: string, before: boolean): Effects {
    this.manage.move(this.#service(serviceId), this.registry.byId(target), target, before);
    return this.#manageChanged();
  }

  /** Service.SetProperty('AutoConnect'). */
  setServiceAutoConnect(serviceId: string, value: boolean): Effects {
    const s = this.#service(serviceId);
    const fx = noEffects();
    if (this.manage.setAutoConnect(s, value)) {
      fx.settingsChanged = true;
      fx.changedServices.add(s.id);
    }
    return this.#manageChanged(fx);
  }

  /** A DHCP client event for `ifname`. */
  dhcpLease(ifname: string, e: DhcpLeaseEvent): Effects {
    const s = this.registry.ranked.find((x) => x.ifname === ifname);
    if (!s) return noEffects();
    const gone = e.type === 'expire' || e.type === 'release';
    const changed = this.manage.lease(
      s.id,
      gone ? null : { address: e.address, prefixLength: e.prefixLength, router: e.router, dns: [...e.dns] },
    );
    return changed ? this.#manageChanged() : noEffects();
  }

  /** Restores persisted Favorite/AutoConnect flags (before the first link is seen). */
  restoreServiceFlags(services: Readonly<Record<string, PersistedService>>): void {
    this.manage.restore(services);
  }

  /** What the runtime must apply to the managed links. */
  managePlan(): ManagePlan {
    return this.manage.plan(this.registry.ranked, this.registry.switches(), this.#preferred);
  }

  #service(id: string): Service {
    const s = this.registry.byId(id);
    if (!s) throw new ServiceNotFoundError(id);
    return s;
  }

  #manageChanged(fx: Effects = noEffects()): Effects {
    const before = this.#managerState();
    // Their configuration properties may have changed (the runtime signals only real differences).
    for (const s of this.registry.ranked) if (this.manage.isManaged(s)) fx.changedServices.add(s.id);
    this.managePass(fx);
    this.sessionTable.rebind(fx, null);
    this.#noteManager(before, fx);
    fx.kernelDirty = true;
    return fx;
  }

  /**
   * Re-derives states with the current connect reasons and runs autoconnect until it is quiet.
   * Each pass can only add reasons the next one keeps (decideAutoconnect is idempotent on its own
   * result), so a few passes always suffice; the bound only guards against a rule bug.
   */
  protected managePass(fx: Effects): void {
    if (!this.manage.enabled) return;
    this.registry.refresh(fx);
    for (let i = 0; i < 4; i++) {
      if (!this.manage.autoconnect(this.registry.ranked, this.registry.switches(), this.sessionTable.activeSessions()))
        break;
      this.registry.refresh(fx);
    }
  }

  /** IPv4 Method 'dhcp' for the leased address (the kernel holds it as a permanent address). */
  #withLeaseMethod(facts: LinkFacts): LinkFacts {
    if (!this.manage.enabled) return facts;
    const s = this.registry.byIfindex(facts.ifindex);
    const lease = s && this.manage.leaseOf(s.id);
    if (!lease) return facts;
    return {
      ...facts,
      addresses: facts.addresses.map((a) =>
        a.family === 4 && a.address === lease.address ? { ...a, method: 'dhcp' as const } : a,
      ),
    };
  }

  // ---------------------------------------------------------------- kernel

  /**
   * The desired kernel state for the current services and sessions, kept up to date per change:
   * only the sessions the calls since the last time touched (session-table.ts records them) are
   * handed to the memo, so its cost follows the change, not the number of sessions (unchanged
   * parts are the previous call's objects; see kernel-state-memo.ts).
   */
  kernelState(): KernelState {
    this.#noteKernelChanges();
    return this.#kernelMemo.state();
  }

  /**
   * Grows whenever the desired kernel state changed: a caller that only needs to know whether to
   * reconcile asks this (O(change)) and leaves building the state to the reconcile, which takes
   * every change since the last one at once.
   */
  kernelVersion(): number {
    this.#noteKernelChanges();
    return this.#kernelMemo.version;
  }

  #noteKernelChanges(): void {
    const { touched, removed } = this.sessionTable.takeKernelChanges();
    const changed: KernelSessionInput[] = [];
    // A memo that has not seen every session yet (the first call) is handed all of them. A
    // session that claims nothing puts nothing in the kernel state, so the memo need not hold it
    // (SessionTable.touch records none it does not hold; this also covers the first call and one
    // that stopped claiming before it was ever noted); one it holds is always passed on.
    for (const s of this.#kernelMemo.primed ? touched : this.sessionTable.values())
      if (!isInert(s) || this.#kernelMemo.has(s.key)) changed.push(kernelSessionInput(s));
    this.#kernelMemo.note({
      config: this.config,
      services: this.#kernelServices(),
      changed,
      removed: removed.size === 0 ? NO_KEYS : [...removed],
    });
  }

  /** The whole input of the kernel state (O(sessions): for checks, not the hot path). */
  kernelInput(): KernelInput {
    const sessions: KernelSessionInput[] = [];
    for (const s of this.sessionTable.values()) sessions.push(kernelSessionInput(s));
    return { config: this.config, services: this.#kernelServices(), sessions };
  }

  #kernelServices(): KernelServiceInput[] {
    return this.registry.ranked
      .filter((s) => s.alloc !== null)
      .map((s) => ({
        id: s.id,
        ifindex: s.ifindex,
        ifname: s.ifname,
        table: s.alloc!.table,
        mark: s.alloc!.mark,
        slot: s.alloc!.slot,
        connected: s.state === 'ready' || s.state === 'online',
        sourceRules: this.manage.enabled && this.manage.isManaged(s),
        addresses: s.addresses,
        gateways: s.gateways,
      }));
  }

  // ---------------------------------------------------------------- internals

  #managerState(): ManagerState {
    if (this.registry.offline) return 'offline';
    let ready = false;
    for (const s of this.registry.ranked) {
      if (s.state === 'online') return 'online';
      if (s.state === 'ready') ready = true;
    }
    return ready ? 'ready' : 'idle';
  }

  #noteManager(before: ManagerState, fx: Effects): void {
    if (this.#managerState() !== before) fx.managerChanged.add('State');
  }
}

/** One session as the kernel state needs it. */
function kernelSessionInput(s: Session): KernelSessionInput {
  return {
    sessionKey: s.key,
    serial: s.serial,
    tag: s.tag,
    priority: s.effective.priority,
    serviceId: s.serviceId,
    claims: [...(s.match?.claim ? [s.match.claim] : []), ...s.cgroups.map((key) => ({ kind: 'cgroup' as const, key }))],
    sourceIPRule: s.effective.sourceIPRule,
  };
}

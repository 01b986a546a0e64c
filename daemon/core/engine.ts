/**
 * The session engine: pure and synchronous. Events go in (links, online results, session
 * requests, policy files); an {@link Effects} value comes out of every call, and
 * {@link Engine.kernelState} gives the desired kernel state on demand.
 *
 * Sessions with equal effective selection settings always bind the same service, so they are
 * grouped: a link event costs O(groups x services) plus O(sessions whose binding or bound
 * service changed), not O(all sessions).
 */
import { isObjectPath, sessionPath, type Bearer, type ManagerState, type SessionSettings } from '../../lib/protocol.js';
import type { DhcpLeaseEvent, Family, Identity, KernelState, LinkFacts } from '../ports.js';
import { Allocations } from './alloc.js';
import { DEFAULT_CORE_CONFIG, validateCoreConfig, type CoreConfig } from './config.js';
import { noEffects, type Effects } from './effects.js';
import {
  BadNotifierError,
  EmergencyBusyError,
  NotOwnerError,
  SessionExistsError,
  SessionLimitError,
  SessionNotFoundError,
  ServiceNotFoundError,
} from './errors.js';
import { addClaim, checkCgroupOwner, checkCgroupPath, type CgroupDirOwner } from './cgroup-claims.js';
import type { KernelSessionInput } from './kernel-state.js';
import { KernelStateMemo } from './kernel-state-memo.js';
import { mergeSettings, parsePolicyFile, PolicySet } from './policy.js';
import type { ActiveSession } from './manage-autoconnect.js';
import { ManageState, type ManageConfig, type ManagePlan } from './manage.js';
import type { PersistedService } from './persisted-settings.js';
import { DEFAULT_BEARER_RANK, type OnlineStatus, type Service } from './services.js';
import { applyTraits } from './service-traits.js';
import { ServiceRegistry, type TechnologyView } from './service-registry.js';
import { selectionKeyString, selectService } from './selection.js';
import { ownPartOf, servicePartOf, settingsOf, type Session } from './session-model.js';
import { applySetting, parseCreateSettings, type RawValue } from './settings.js';
import { fullUpdate, ownDelta, serviceDelta, type ServicePart, type SettingsDelta } from './updates.js';

/** Who is calling a session method. */
export interface Caller {
  /** Unique bus name. */
  owner: string;
  uid: number;
}

/** Engine configuration. */
export interface EngineConfig {
  core?: Partial<CoreConfig>;
  /** Technology preference for service ordering (ConnMan's PreferredTechnologies). */
  preferredTechnologies?: Bearer[];
  /** Manage mode (which interfaces the daemon configures, autoconnect switches). */
  manage?: Partial<ManageConfig>;
}

/** A session as listed for admins (extension interface). */
export interface SessionInfo {
  path: string;
  owner: string;
  uid: number;
  key: string;
  serviceId: string | null;
  active: boolean;
  held: boolean;
  policyGroup: string | null;
  /** cgroups the session claimed with ClaimCgroup, in claim order. */
  cgroups: readonly string[];
  settings: SessionSettings;
}

interface Group {
  sessions: Set<Session>;
  serviceId: string | null;
}

export class Engine {
  readonly config: CoreConfig;
  readonly registry: ServiceRegistry;
  /** Manage-mode state (inert when no interface is managed). */
  readonly manage: ManageState;
  readonly #preferred: readonly Bearer[];
  readonly #sessions = new Map<string, Session>();
  readonly #byOwner = new Map<string, Set<Session>>();
  readonly #countByUid = new Map<number, number>();
  readonly #groups = new Map<string, Group>();
  readonly #kernelMemo = new KernelStateMemo();
  /** Each session's last kernel input and what its claims were built from (see kernelState). */
  readonly #kernelInputs = new WeakMap<Session, { input: KernelSessionInput; claim: unknown; cgroups: readonly string[] }>();
  readonly #alloc: Allocations;
  #policies = PolicySet.empty();
  #serial = 0;
  #emergency: Session | null = null;

  constructor(config: EngineConfig = {}) {
    this.config = validateCoreConfig({ ...DEFAULT_CORE_CONFIG, ...config.core });
    this.#alloc = new Allocations(this.config);
    this.#preferred = config.preferredTechnologies ?? DEFAULT_BEARER_RANK;
    this.registry = new ServiceRegistry(this.#alloc, this.#preferred);
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
    this.#managePass(fx);
    this.#rebind(fx, id);
    this.#noteManager(before, fx);
    return fx;
  }

  /** A link disappeared. */
  linkRemoved(ifindex: number): Effects {
    const fx = noEffects();
    const before = this.#managerState();
    const id = this.registry.removeLink(ifindex, fx);
    if (id !== null) this.manage.linkGone(id);
    this.#managePass(fx);
    this.#rebind(fx, id);
    this.#noteManager(before, fx);
    return fx;
  }

  /** An online-check verdict for one family of one service. `error` replaces the service's Error when not null. */
  onlineStatus(serviceId: string, family: Family, status: OnlineStatus, error: string | null = null): Effects {
    const fx = noEffects();
    const before = this.#managerState();
    if (this.registry.setCheck(serviceId, family, status, error, fx)) this.#rebind(fx, serviceId);
    this.#noteManager(before, fx);
    return fx;
  }

  // ---------------------------------------------------------------- sessions

  /** Manager.CreateSession. The returned effects hold the first Update. */
  createSession(req: { owner: string; notifier: string; identity: Identity; settings: Readonly<Record<string, RawValue>> }): {
    path: string;
    effects: Effects;
  } {
    if (this.#emergency?.active) throw new EmergencyBusyError();
    if (!isObjectPath(req.notifier) || req.notifier === '/') throw new BadNotifierError(req.notifier);
    const request = parseCreateSettings(req.settings);
    const path = sessionPath(req.owner, req.notifier);
    if (this.#sessions.has(path)) throw new SessionExistsError(path);
    const owned = this.#byOwner.get(req.owner)?.size ?? 0;
    if (owned >= this.config.maxSessionsPerClient) throw new SessionLimitError('client', this.config.maxSessionsPerClient);
    const perUid = this.#countByUid.get(req.identity.uid) ?? 0;
    if (perUid >= this.config.maxSessionsPerUid) throw new SessionLimitError('uid', this.config.maxSessionsPerUid);

    const tag = this.#alloc.tags.allocate();
    const serial = ++this.#serial;
    const match = this.#policies.match(req.identity);
    const session: Session = {
      serial,
      key: `s${serial}`,
      tag,
      path,
      owner: req.owner,
      notifier: req.notifier,
      identity: req.identity,
      request,
      match,
      cgroups: [],
      effective: mergeSettings(request, match?.group ?? null),
      active: false,
      held: false,
      serviceId: null,
      group: null,
      sentService: null,
      sentOwn: null,
    };
    this.#sessions.set(path, session);
    let set = this.#byOwner.get(req.owner);
    if (!set) this.#byOwner.set(req.owner, (set = new Set()));
    set.add(session);
    this.#countByUid.set(req.identity.uid, perUid + 1);

    const fx = noEffects();
    this.#join(session);
    session.sentService = this.#servicePart(session);
    session.sentOwn = ownPartOf(session.effective);
    const changes = fullUpdate({ ...session.sentService, ...session.sentOwn });
    fx.updates.push({ path, owner: session.owner, notifier: session.notifier, changes });
    fx.kernelDirty = true;
    return { path, effects: fx };
  }

  /** Session.Change(name, value). Validates first; a bad value leaves the session untouched. */
  change(path: string, caller: Caller, key: string, raw: RawValue): Effects {
    const s = this.#authorised(path, caller);
    const request = applySetting(s.request, key, raw);
    const fx = noEffects();
    s.request = request;
    this.#reapply(s, fx);
    this.#managePass(fx);
    return fx;
  }

  /** Session.Connect: marks the session active and binds it if a service matches. */
  connect(path: string, caller: Caller): Effects {
    const s = this.#authorised(path, caller);
    if (this.#emergency?.active && this.#emergency !== s) throw new EmergencyBusyError();
    const fx = noEffects();
    s.active = true;
    if (s.effective.emergencyCall) this.#emergency = s;
    if (s.held) {
      s.held = false;
      this.#join(s);
      this.#notify(s, fx);
    }
    this.#managePass(fx);
    return fx;
  }

  /** Session.Disconnect: detaches the session until the next Connect. */
  disconnect(path: string, caller: Caller): Effects {
    const s = this.#authorised(path, caller);
    if (this.#emergency?.active && this.#emergency !== s) throw new EmergencyBusyError();
    const fx = noEffects();
    s.active = false;
    if (this.#emergency === s) this.#emergency = null;
    if (!s.held) {
      this.#leave(s);
      s.held = true;
      s.serviceId = null;
      this.#notify(s, fx);
    }
    this.#managePass(fx);
    return fx;
  }

  /** Session.Destroy / Manager.DestroySession: a last disconnected Update, then gone (as ConnMan). */
  destroySession(path: string, caller: Caller): Effects {
    const s = this.#authorised(path, caller);
    const fx = noEffects();
    this.#leave(s);
    s.serviceId = null;
    this.#notify(s, fx);
    this.#forget(s, fx);
    this.#managePass(fx);
    return fx;
  }

  /**
   * Checks a ClaimCgroup before the runtime looks at the filesystem: the session exists, the
   * caller owns it (or is root), and `cgroup` is an absolute, normalised path. Throws otherwise.
   */
  checkCgroupClaim(path: string, caller: Caller, cgroup: string): void {
    this.#authorised(path, caller);
    checkCgroupPath(cgroup);
  }

  /**
   * ClaimCgroup: the traffic of `cgroup`'s processes belongs to the session until it ends.
   * `dirOwner` is the uid owning the cgroup's directory as the runtime found it (null: there is
   * none); root may claim any cgroup, others only their own. When several sessions claim one
   * cgroup, the identity-owner rule of the kernel state decides (see kernel-state.ts).
   */
  claimCgroup(path: string, caller: Caller, cgroup: string, dirOwner: CgroupDirOwner): Effects {
    const s = this.#authorised(path, caller);
    checkCgroupPath(cgroup);
    checkCgroupOwner(cgroup, caller.uid, dirOwner);
    const fx = noEffects();
    const next = addClaim(s.cgroups, cgroup);
    if (next.length !== s.cgroups.length) {
      s.cgroups = next;
      fx.kernelDirty = true;
    }
    return fx;
  }

  /** The client left the bus: its sessions end without an Update (nobody is there to receive it). */
  ownerGone(owner: string): Effects {
    const fx = noEffects();
    for (const s of [...(this.#byOwner.get(owner) ?? [])]) {
      this.#leave(s);
      this.#forget(s, fx);
    }
    this.#managePass(fx);
    return fx;
  }

  /** Looks a session up (for the bus adapter); throws SessionNotFoundError. */
  session(path: string): Session {
    const s = this.#sessions.get(path);
    if (!s) throw new SessionNotFoundError(path);
    return s;
  }

  /** How many sessions are live (cheap, unlike {@link sessions}). */
  sessionCount(): number {
    return this.#sessions.size;
  }

  /** All sessions, oldest first. */
  sessions(): SessionInfo[] {
    return [...this.#sessions.values()].map((s) => ({
      path: s.path,
      owner: s.owner,
      uid: s.identity.uid,
      key: s.key,
      serviceId: s.serviceId,
      active: s.active,
      held: s.held,
      policyGroup: s.match ? `${s.match.group.file}:${s.match.group.name}` : null,
      cgroups: s.cgroups,
      settings: this.#settings(s),
    }));
  }

  // ---------------------------------------------------------------- policy

  /**
   * Loads (or reloads) one policy file. A malformed file throws PolicyParseError and the
   * previous version of that file stays in force. Live sessions get one Update each.
   */
  loadPolicy(file: string, text: string): Effects {
    const groups = parsePolicyFile(file, text, Math.max(0, this.config.maxPolicyGroups - this.#policies.groupsExcept(file)), this.config.maxPolicyGroups);
    this.#policies = this.#policies.withFile(file, groups);
    return this.#rematchAll();
  }

  /** The policy file was deleted. */
  removePolicy(file: string): Effects {
    this.#policies = this.#policies.withoutFile(file);
    return this.#rematchAll();
  }

  /** Policy files currently in force. */
  policyFiles(): string[] {
    return this.#policies.files();
  }

  // ---------------------------------------------------------------- manager and technologies

  /** Manager.SetProperty('OfflineMode'). */
  setOfflineMode(offline: boolean): Effects {
    const fx = noEffects();
    const before = this.#managerState();
    if (this.registry.setOffline(offline, fx)) {
      this.#managePass(fx);
      this.#rebind(fx, null);
    }
    this.#noteManager(before, fx);
    return fx;
  }

  /** Technology.SetProperty('Powered'). */
  setTechnologyPowered(bearer: string, powered: boolean): Effects {
    const fx = noEffects();
    const before = this.#managerState();
    this.registry.setPowered(bearer, powered, fx);
    this.#managePass(fx);
    this.#rebind(fx, null);
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
    const changed = this.manage.lease(s.id, gone ? null : { address: e.address, prefixLength: e.prefixLength, router: e.router, dns: [...e.dns] });
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
    this.#managePass(fx);
    this.#rebind(fx, null);
    this.#noteManager(before, fx);
    fx.kernelDirty = true;
    return fx;
  }

  /**
   * Re-derives states with the current connect reasons and runs autoconnect until it is quiet.
   * Each pass can only add reasons the next one keeps (decideAutoconnect is idempotent on its own
   * result), so a few passes always suffice; the bound only guards against a rule bug.
   */
  #managePass(fx: Effects): void {
    if (!this.manage.enabled) return;
    this.registry.refresh(fx);
    for (let i = 0; i < 4; i++) {
      if (!this.manage.autoconnect(this.registry.ranked, this.registry.switches(), this.#activeSessions())) break;
      this.registry.refresh(fx);
    }
  }

  /** One entry per selection group with an active session: groups share bearers and binding. */
  #activeSessions(): ActiveSession[] {
    const out: ActiveSession[] = [];
    for (const [key, g] of this.#groups) {
      for (const s of g.sessions) {
        if (!s.active) continue;
        out.push({ id: key, bearers: s.effective.allowedBearers, boundTo: g.serviceId, allowedInterface: s.effective.allowedInterface });
        break;
      }
    }
    return out;
  }

  /** IPv4 Method 'dhcp' for the leased address (the kernel holds it as a permanent address). */
  #withLeaseMethod(facts: LinkFacts): LinkFacts {
    if (!this.manage.enabled) return facts;
    const s = this.registry.byIfindex(facts.ifindex);
    const lease = s && this.manage.leaseOf(s.id);
    if (!lease) return facts;
    return { ...facts, addresses: facts.addresses.map((a) => (a.family === 4 && a.address === lease.address ? { ...a, method: 'dhcp' as const } : a)) };
  }

  // ---------------------------------------------------------------- kernel

  /**
   * The desired kernel state for the current services and sessions, kept up to date per change
   * (unchanged parts are the previous call's objects; see kernel-state-memo.ts).
   */
  kernelState(): KernelState {
    const services = this.registry.ranked
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
    const sessions: KernelSessionInput[] = [];
    for (const s of this.#sessions.values()) {
      // The same input object while nothing in it changed: the memo then skips the session by pointer.
      const had = this.#kernelInputs.get(s);
      if (had && had.claim === s.match?.claim && had.cgroups === s.cgroups && had.input.serial === s.serial && had.input.tag === s.tag && had.input.priority === s.effective.priority && had.input.serviceId === s.serviceId && had.input.sourceIPRule === s.effective.sourceIPRule) {
        sessions.push(had.input);
        continue;
      }
      const input: KernelSessionInput = {
        sessionKey: s.key,
        serial: s.serial,
        tag: s.tag,
        priority: s.effective.priority,
        serviceId: s.serviceId,
        claims: [...(s.match?.claim ? [s.match.claim] : []), ...s.cgroups.map((key) => ({ kind: 'cgroup' as const, key }))],
        sourceIPRule: s.effective.sourceIPRule,
      };
      this.#kernelInputs.set(s, { input, claim: s.match?.claim, cgroups: s.cgroups });
      sessions.push(input);
    }
    return this.#kernelMemo.compute({ config: this.config, services, sessions });
  }

  // ---------------------------------------------------------------- internals

  #authorised(path: string, caller: Caller): Session {
    const s = this.session(path);
    if (caller.uid !== 0 && caller.owner !== s.owner) throw new NotOwnerError(path);
    return s;
  }

  #settings(s: Session): SessionSettings {
    return settingsOf(s, s.serviceId ? (this.registry.byId(s.serviceId) ?? null) : null);
  }

  /** Puts a session into its selection group and binds it to the group's service. */
  #join(s: Session): void {
    const key = selectionKeyString(s.effective);
    let g = this.#groups.get(key);
    if (!g) {
      g = { sessions: new Set(), serviceId: selectService(this.registry.ranked, s.effective)?.id ?? null };
      this.#groups.set(key, g);
    }
    g.sessions.add(s);
    s.group = key;
    s.serviceId = g.serviceId;
  }

  #leave(s: Session): void {
    if (s.group === null) return;
    const g = this.#groups.get(s.group);
    if (g) {
      g.sessions.delete(s);
      if (g.sessions.size === 0) this.#groups.delete(s.group);
    }
    s.group = null;
  }

  #forget(s: Session, fx: Effects): void {
    this.#sessions.delete(s.path);
    const set = this.#byOwner.get(s.owner);
    set?.delete(s);
    if (set && set.size === 0) this.#byOwner.delete(s.owner);
    const n = (this.#countByUid.get(s.identity.uid) ?? 1) - 1;
    if (n > 0) this.#countByUid.set(s.identity.uid, n);
    else this.#countByUid.delete(s.identity.uid);
    if (this.#emergency === s) this.#emergency = null;
    this.#alloc.tags.release(s.tag);
    fx.destroyedSessions.push(s.path);
    fx.kernelDirty = true;
  }

  #servicePart(s: Session): ServicePart {
    return servicePartOf(s.serviceId ? (this.registry.byId(s.serviceId) ?? null) : null);
  }

  /** Sends what changed since the last Update, if anything did. */
  #notify(s: Session, fx: Effects): void {
    const svc = this.#servicePart(s);
    const own = ownPartOf(s.effective);
    const changes = new Map([...serviceDelta(s.sentService ?? svc, svc), ...ownDelta(s.sentOwn ?? own, own)]);
    s.sentService = svc;
    s.sentOwn = own;
    if (changes.size > 0) fx.updates.push({ path: s.path, owner: s.owner, notifier: s.notifier, changes });
  }

  /** Re-selects every group; touches only sessions whose binding or bound service changed. */
  #rebind(fx: Effects, changedServiceId: string | null): void {
    const touched = fx.changedServices;
    for (const g of this.#groups.values()) {
      const first = g.sessions.values().next().value;
      if (!first) continue;
      const next = selectService(this.registry.ranked, first.effective)?.id ?? null;
      const moved = next !== g.serviceId;
      const boundChanged = g.serviceId !== null && (touched.has(g.serviceId) || g.serviceId === changedServiceId);
      if (!moved && !boundChanged) continue;
      g.serviceId = next;
      if (moved) fx.kernelDirty = true;
      // Every session of the group gets the same service half; most were told the same old
      // half too, so each distinct old half is diffed once and the delta shared.
      const part = servicePartOf(next ? (this.registry.byId(next) ?? null) : null);
      const deltas = new Map<ServicePart, SettingsDelta>();
      for (const s of g.sessions) {
        s.serviceId = next;
        const old = s.sentService ?? part;
        let changes = deltas.get(old);
        if (!changes) deltas.set(old, (changes = new Map(serviceDelta(old, part))));
        s.sentService = part;
        if (changes.size > 0) fx.updates.push({ path: s.path, owner: s.owner, notifier: s.notifier, changes });
      }
    }
  }

  /** Effective settings changed (Change or policy): regroup, keep Connect's effect, one Update. */
  #reapply(s: Session, fx: Effects): void {
    s.effective = mergeSettings(s.request, s.match?.group ?? null);
    if (!s.held) {
      this.#leave(s);
      this.#join(s);
    }
    fx.kernelDirty = true;
    this.#notify(s, fx);
  }

  #rematchAll(): Effects {
    const fx = noEffects();
    for (const s of this.#sessions.values()) {
      s.match = this.#policies.match(s.identity);
      this.#reapply(s, fx);
    }
    return fx;
  }

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

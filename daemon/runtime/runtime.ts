/**
 * The runtime: owns the engine, feeds it events from the ports (links, online checks, policy
 * files, bus calls), and carries out every Effects value it returns (Updates and signals on
 * the bus, online checks, kernel reconciliation). It implements DaemonApi for the D-Bus adapter.
 * It names no concrete adapter: daemon/main.ts hands them in.
 */
import { serviceStatusProps, withObservedNameservers } from '../core/service-traits.js';
import { servicePath, technologyPath, type Bearer } from '../../lib/protocol.js';

/** The id of a service object path (`/net/connman/service/<id>`); anything else as given, which no id matches. */
function serviceIdOfPath(path: string): string {
  const prefix = servicePath('');
  return path.startsWith(prefix) ? path.slice(prefix.length) : path;
}
import type { DaemonApi, SessionStatistics } from '../api.js';
import { CounterTable, type CounterRegistration } from '../core/counters.js';
import type { Engine } from '../core/engine.js';
import type { Effects } from '../core/effects.js';
import {
  InvalidPropertyError,
  NotSupportedError,
  PolicyParseError,
  SessionLimitError,
  ProvisioningError,
  RootOnlyError,
  ServiceNotFoundError,
  NotOwnerError,
  TechnologyNotFoundError,
  WrongTypeError,
} from '../core/errors.js';
import type { OnlineCheckSettings } from '../core/online-schedule.js';
import { managedServiceProps } from '../core/manage-properties.js';
import { changedProps, managerProps, serviceProps, settingProp, technologyProps, updateDict } from '../core/properties.js';
import { isConnected, usableAddress, type Service } from '../core/services.js';
import type { RawValue } from '../core/settings.js';
import { statisticsProps } from '../core/statistics-schedule.js';
import { decodeSettings, defaultSettings, encodeSettings, type PersistedSettings } from '../core/persisted-settings.js';
import { KernelSync, type KernelWait } from './kernel-sync.js';
import { ManageSync } from './manage-sync.js';
import { OnlineRunner } from './online-runner.js';
import { StatisticsSignals } from './statistics-signals.js';
import type {
  Accounting,
  BusCaller,
  BusEvents,
  CgroupDirectory,
  Clock,
  DhcpClient,
  Ipv6Switches,
  LinkConfigurator,
  NameserverFile,
  ProvisioningSource,
  Family,
  Firewall,
  IdentityResolver,
  LinkEvent,
  LinkSource,
  LinkStats,
  Logger,
  OnlineCheck,
  PolicySource,
  Prop,
  PropDict,
  Routing,
  Store,
} from '../ports.js';

export interface RuntimeDeps {
  engine: Engine;
  events: BusEvents;
  links: LinkSource;
  identity: IdentityResolver;
  clock: Clock;
  online: { settings: OnlineCheckSettings; probe: OnlineCheck; urls: Record<Family, string> };
  /**
   * Most live sessions in the whole daemon: what its JS heap limit holds (daemon/main.ts derives
   * it from the limit); none when absent. Beyond it CreateSession fails with a clear error.
   */
  sessionCapacity?: number;
  /** Milliseconds between full read-back reconciliations; 0 = only when state changes. */
  reconcileIntervalMs?: number;
  policies?: PolicySource;
  routing?: Routing;
  firewall?: Firewall;
  accounting?: Accounting;
  /** Link statistics for ConnMan's per-service counters; without it RegisterCounter is NotSupported. */
  linkStats?: LinkStats;
  /** cgroup directories, for ClaimCgroup (which also needs the firewall); without it ClaimCgroup is NotSupported. */
  cgroups?: CgroupDirectory;
  /** Where OfflineMode, Technology.Powered and managed services' flags survive restarts (and crashes: writes are atomic). */
  store?: Store;
  /** Manage mode's adapters; used when the engine manages any interface. */
  manage?: {
    links: LinkConfigurator;
    dhcp: DhcpClient;
    ipv6?: Ipv6Switches;
    nameservers?: NameserverFile;
  };
  /**
   * Provisioning files (ConnMan `.config`): in manage mode they configure the links; in both
   * modes they give a service its nameservers (observed links), `Metered` and `Roaming`.
   */
  provisioning?: ProvisioningSource;
  log: Logger;
}

/** Store key of the persisted switches. */
export const SETTINGS_KEY = 'settings';

/** Node timers take at most 2^31-1 ms; a longer counter period is served at that interval. */
const MAX_TIMER_MS = 2 ** 31 - 1;


export class Runtime implements DaemonApi {
  readonly engine: Engine;
  readonly #d: RuntimeDeps;
  readonly #runner: OnlineRunner;
  readonly #serviceCache = new Map<string, PropDict>();
  /** Each service's status dict as last signalled (ServiceStatusChanged). */
  readonly #statusCache = new Map<string, PropDict>();
  readonly #techCache = new Map<Bearer, PropDict>();
  #sessionMode = false;
  #started = false;
  readonly #kernel: KernelSync;
  #reconcileTimer: { cancel(): void } | null = null;
  readonly #counters = new CounterTable();
  readonly #counterTimers = new Map<string, { cancel(): void }>();
  /** The statistics read in flight: counters whose periods coincide share it. */
  #statsRead: Promise<void> | null = null;
  /** `Statistics` signals (SetStatisticsInterval); null without accounting, where they are NotSupported. */
  readonly #statsSignals: StatisticsSignals | null;
  #stopping = false;
  #persisted: PersistedSettings | null = null;
  #lastSaved = '';
  /** False when the settings file could not be read or the store is read-only: never written then. */
  #saving = true;
  /** The session count last logged (see #noteSessionCount). */
  #loggedSessions = 0;
  #loggedSessionsAt = -Infinity;
  readonly #manage: ManageSync | null;
  /** The session capacity warning was logged (until a create succeeds again). */
  #capLogged = false;
  #storeChain: Promise<void> = Promise.resolve();

  constructor(deps: RuntimeDeps) {
    this.#d = deps;
    this.engine = deps.engine;
    this.#kernel = new KernelSync({
      ...(deps.routing ? { routing: deps.routing } : {}),
      ...(deps.firewall ? { firewall: deps.firewall } : {}),
      desired: () => this.engine.kernelState(),
      log: deps.log,
    });
    this.#runner = new OnlineRunner({
      settings: deps.online.settings,
      probe: deps.online.probe,
      clock: deps.clock,
      urls: deps.online.urls,
      target: (id, family) => {
        const s = this.engine.registry.byId(id);
        const a = s && usableAddress(s, family);
        return s && a ? { ifname: s.ifname, ifindex: s.ifindex, localAddress: a.address } : null;
      },
      report: (id, family, online, portal, error) => this.apply(this.engine.onlineStatus(id, family, { online, portal }, error)),
      log: (m) => deps.log('debug', m),
    });
    const m = deps.manage;
    this.#manage =
      m && this.engine.manage.enabled
        ? new ManageSync({
            plan: () => this.engine.managePlan(),
            links: m.links,
            dhcp: m.dhcp,
            ...(m.ipv6 ? { ipv6: m.ipv6 } : {}),
            ...(m.nameservers ? { nameservers: m.nameservers } : {}),
            onLease: (ifname, e) => {
              deps.log('info', `manage: DHCP ${e.type} ${e.address}/${e.prefixLength} on ${ifname}${e.router ? ` router ${e.router}` : ''}`);
              this.apply(this.engine.dhcpLease(ifname, e));
            },
            clock: deps.clock,
            log: deps.log,
          })
        : null;
    const accounting = deps.accounting;
    this.#statsSignals = accounting
      ? new StatisticsSignals({
          clock: deps.clock,
          accounting,
          send: (subscriber, path, c) => deps.events.sessionStatistics(subscriber, path, statisticsProps(c)),
          log: deps.log,
        })
      : null;
  }

  /** Loads policy files and the initial link dump, then follows events. */
  async start(): Promise<void> {
    await this.#restoreSettings();
    if (this.#d.policies) await this.#d.policies.start((file, text) => this.#policyFile(file, text));
    await this.#d.provisioning?.start((file, text) => this.#provisioningFile(file, text));
    if (this.#manage) await this.#d.manage?.links.start();
    const facts = await this.#d.links.start((e) => this.#linkEvent(e));
    for (const f of facts) this.apply(this.engine.linkChanged(f));
    this.#manage?.request(true);
    // Even with nothing to install, the first pass removes or adopts what a crashed run left.
    this.reconcileNow(true);
    this.#scheduleReconcile();
    this.#started = true;
    this.#d.log('info', `ready: ${this.readyLine()}`);
  }

  /** One line for humans on the daemon's state (the log's `ready:` line, systemd's STATUS=). */
  readyLine(): string {
    return `${this.engine.services().length} services, ${this.engine.policyFiles().length} policy files`;
  }

  /** Sends Release to every session's client (as ConnMan does at shutdown), then stops everything. */
  async stop(): Promise<void> {
    this.#stopping = true;
    // No reconcile runs from here on (Updates waiting for one are released).
    const kernelStopped = this.#kernel.stop();
    for (const s of this.engine.sessions()) this.#d.events.release(s.owner, this.engine.session(s.path).notifier);
    // ConnMan releases counters only here, at shutdown (__connman_counter_cleanup).
    for (const reg of this.#counters.all()) this.#d.events.counterRelease(reg.owner, reg.path);
    for (const t of this.#counterTimers.values()) t.cancel();
    this.#counterTimers.clear();
    this.#statsSignals?.stop();
    this.#runner.stopAll();
    this.#reconcileTimer?.cancel();
    this.#reconcileTimer = null;
    if (this.#manage) {
      await this.#manage.stop(this.engine.managePlan().links.map((l) => l.ifindex));
      this.#d.manage?.links.stop();
    }
    await this.#d.provisioning?.stop();
    await this.#d.policies?.stop();
    await this.#d.links.stop();
    await this.#storeChain;
    await kernelStopped;
    await this.#d.firewall?.clear();
    await this.#d.routing?.clear();
  }

  /** Reconciles the kernel with the desired state now; `verify` reads everything back first. */
  reconcileNow(verify = false): void {
    this.#kernel.request(verify);
    if (verify) this.#manage?.request(true);
  }

  #scheduleReconcile(): void {
    const ms = this.#d.reconcileIntervalMs ?? 0;
    if (ms <= 0) return;
    this.#reconcileTimer = this.#d.clock.setTimeout(() => {
      this.#kernel.request(true);
      this.#manage?.request(true);
      this.#scheduleReconcile();
    }, ms);
  }

  /** Resolves when the kernel matches the engine's desired state as of this call. */
  async kernelSettled(): Promise<void> {
    await this.#kernel.settled();
  }

  // ------------------------------------------------------------------ effects

  /**
   * Carries out one engine result. Signals go out at once. Updates go out in the order they
   * were produced, but an Update of a session whose traffic depends on the kernel (SourceIPRule
   * or an identity claim) waits until the reconcile it triggered has finished: an app acting on
   * the Update must find the source rule and marks in place (ConnMan, too, changes the kernel
   * before it notifies). Later Updates queue behind a waiting one to keep the order. Returns a
   * promise when Updates wait, resolved once they are sent.
   *
   * Updates that need not wait go out first, before the signals and the reconcile's synchronous
   * start: on a carrier loss those took 0.6–1.5 ms (a dozen PropertyChanged/ServicesChanged
   * messages marshalled, kernelState()) between the event and the session's Update.
   */
  apply(fx: Effects): void | Promise<void> {
    const ev = this.#d.events;
    const send = () => {
      for (const u of fx.updates) ev.update(u.owner, u.notifier, updateDict(u.changes));
      for (const path of fx.destroyedSessions) ev.sessionRemoved(path);
    };
    const need = fx.kernelDirty && this.#kernel.active ? this.#kernelNeed(fx.updates, fx.destroyedSessions) : null;
    const sendNow = !need && !this.#kernel.queued;
    if (sendNow) send();
    // At once, even when the removal itself waits behind held Updates: no signal for a dead session.
    for (const path of fx.destroyedSessions) this.#statsSignals?.sessionEnded(path);
    if (fx.destroyedSessions.length || fx.updates.length) this.#noteSessionCount();
    this.#signalServices(fx);
    // Technologies follow the registry and the services only: a session's create, change or
    // destroy touches neither, so it does not rebuild and compare every technology's properties.
    if (fx.addedTechnologies.length || fx.removedTechnologies.length || fx.changedTechnologies.size || fx.changedServices.size || fx.removedServices.length) {
      this.#signalTechnologies(fx);
    }
    for (const name of fx.managerChanged) {
      const props = this.managerProperties();
      const p = props[name];
      if (p) ev.managerPropertyChanged(name, p);
    }
    for (const c of fx.checks) {
      if (c.op === 'start') this.#runner.start(c.serviceId, c.family);
      else this.#runner.stop(c.serviceId, c.family);
    }
    for (const w of fx.warnings) this.#d.log('warn', w);
    this.#trackCounters(fx);
    if (fx.managerChanged.has('OfflineMode') || fx.changedTechnologies.size || fx.settingsChanged) this.#persist();
    if (fx.kernelDirty) this.#kernel.request();
    this.#manage?.request();
    if (sendNow) return;
    return this.#kernel.after(need ? { stage: need, gen: this.#kernel.generation } : null, send);
  }

  /**
   * Which reconcile stage these sessions' Updates must wait for: a source rule only needs
   * routing; identity marks (policy claims, cgroups) need the firewall too; others need nothing.
   */
  #kernelNeed(updates: Effects['updates'], destroyed: Effects['destroyedSessions']): KernelWait['stage'] | null {
    let need: KernelWait['stage'] | null = null;
    for (const { path } of updates) {
      // A destroyed session's last Update waits for nothing (and looking it up would throw).
      if (destroyed.includes(path)) continue;
      let s;
      try {
        s = this.engine.session(path);
      } catch {
        continue;
      }
      if (s.match?.claim != null || s.cgroups.length > 0) return 'done';
      if (s.effective.sourceIPRule) need = 'routed';
    }
    return need;
  }


  /**
   * One line when the number of sessions has moved a lot since the last line (by half, and by
   * at least 16), at most once a minute: a person sees load coming and going, not each of
   * 10,000 churns (nor a count swinging between 0 and 20 with every burst).
   */
  #noteSessionCount(): void {
    const n = this.engine.sessionCount();
    const last = this.#loggedSessions;
    if (Math.abs(n - last) < Math.max(16, last / 2)) return;
    const now = this.#d.clock.now();
    if (now - this.#loggedSessionsAt < 60_000) return;
    this.#loggedSessions = n;
    this.#loggedSessionsAt = now;
    this.#d.log('info', `sessions: ${n} (was ${last})`);
  }

  /** Restores OfflineMode and Powered before the first link is seen, so nothing flaps at start. */
  async #restoreSettings(): Promise<void> {
    const { store, log } = this.#d;
    if (!store) return;
    const where = store.describe?.(SETTINGS_KEY) ?? SETTINGS_KEY;
    const noSaving = (why: string) => {
      // What could not be read is never overwritten: the operator may want it back.
      this.#saving = false;
      log('warn', `settings: ${where} ${why}: running with default settings and without saving them; fix: repair or remove ${where}, then restart the daemon`);
    };
    if (store.writable === false) log('warn', `settings: the state directory of ${where} is not writable: settings changes will not be saved; fix: make it writable, then restart the daemon`);
    this.#saving = store.writable !== false;
    let text: string | null;
    try {
      text = await store.read(SETTINGS_KEY);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return noSaving(`cannot be read (${e.code ?? e.message.slice(where.length + 2)})`);
    }
    if (text === null) return;
    const { state, warnings, usable } = decodeSettings(text);
    if (!usable) return noSaving(`is corrupt (${warnings.join('; ')})`);
    // A hand-broken file can hold thousands of bad entries: a few lines say enough.
    for (const w of warnings.slice(0, 5)) log('warn', `settings: ${w}`);
    if (warnings.length > 5) log('warn', `settings: ${warnings.length - 5} more problem(s) in ${where}`);
    this.#persisted = state;
    const powered = Object.fromEntries(Object.entries(state.technologies).map(([b, t]) => [b, t.powered]));
    this.engine.registry.restore(state.offlineMode, powered);
    this.engine.restoreServiceFlags(state.services);
    this.#lastSaved = encodeSettings(this.#settingsNow());
    log('info', `settings restored: OfflineMode ${state.offlineMode}`);
  }

  /** The settings as they are now: switches from the registry, service flags from manage mode. */
  #settingsNow(): PersistedSettings {
    const sw = this.engine.registry.switches();
    const base = this.#persisted ?? defaultSettings();
    const technologies = { ...base.technologies };
    for (const [b, p] of Object.entries(sw.powered) as Array<[Bearer, boolean]>) technologies[b] = { powered: p };
    // Flags of services this run does not manage are kept for when they are managed again.
    const services = this.engine.manage.enabled ? { ...base.services, ...this.engine.manage.persisted() } : base.services;
    return { ...base, offlineMode: sw.offline, technologies, services };
  }

  /** Writes the settings when they changed; writes are serialised and atomic (the store's). */
  #persist(): void {
    const { store, log } = this.#d;
    if (!store || !this.#saving) return;
    const state = this.#settingsNow();
    const text = encodeSettings(state);
    if (text === this.#lastSaved) return;
    this.#lastSaved = text;
    this.#persisted = state;
    this.#storeChain = this.#storeChain
      .then(() => store.write(SETTINGS_KEY, text))
      .catch((err: unknown) => log('error', `settings not saved: ${(err as Error).message}`));
  }

  /** Counters' `Time` runs only while a service is connected; a removed service's totals go. */
  #trackCounters(fx: Effects): void {
    if (!fx.removedServices.length && !fx.changedServices.size) return;
    const now = this.#d.clock.now();
    for (const id of fx.removedServices) this.#counters.removeService(id);
    for (const id of fx.changedServices) {
      const s = this.engine.registry.byId(id);
      if (s) this.#counters.setConnected(id, isConnected(s.state), now);
    }
  }

  #signalServices(fx: Effects): void {
    const ev = this.#d.events;
    for (const id of fx.removedServices) {
      this.#serviceCache.delete(id);
      this.#statusCache.delete(id);
    }
    this.#signalStatus(fx);
    const changed: string[] = [];
    for (const id of fx.changedServices) {
      const s = this.engine.registry.byId(id);
      if (!s) continue;
      const props = this.#serviceProps(s);
      const changes = changedProps(this.#serviceCache.get(id), props);
      const isNew = !this.#serviceCache.has(id);
      this.#serviceCache.set(id, props);
      if (isNew || changes.length) changed.push(id);
      for (const [k, p] of changes) ev.servicePropertyChanged(id, k, p);
      const state = changes.find(([k]) => k === 'State');
      if (state) this.#d.log('info', `service ${s.ifname} (${s.id}): ${String(state[1].value)}`);
    }
    if (fx.servicesReordered || changed.length || fx.removedServices.length) {
      const order = this.engine.services().map((s) => ({ path: servicePath(s.id), props: changed.includes(s.id) ? this.#serviceCache.get(s.id)! : null }));
      ev.servicesChanged(order, fx.removedServices.map(servicePath));
    }
  }

  /** ServiceStatusChanged for the changed services whose status dict really changed. */
  #signalStatus(fx: Effects): void {
    const changed: Array<{ path: string; props: PropDict }> = [];
    for (const id of fx.changedServices) {
      const s = this.engine.registry.byId(id);
      if (!s) continue;
      const props = serviceStatusProps(s);
      const before = this.#statusCache.get(id);
      this.#statusCache.set(id, props);
      if (!before || JSON.stringify(before) !== JSON.stringify(props)) changed.push({ path: servicePath(id), props });
    }
    if (changed.length) this.#d.events.serviceStatusChanged?.(changed);
  }

  #serviceProps(s: Service): PropDict {
    const m = this.engine.manage;
    if (!m.enabled || !m.isManaged(s)) return withObservedNameservers(serviceProps(s, isConnected(s.state)), s, m.sectionOf(s));
    const f = m.flags(s.id);
    return managedServiceProps(serviceProps(s, f.favorite, f.autoConnect), m.configView(s));
  }

  #signalTechnologies(fx: Effects): void {
    const ev = this.#d.events;
    for (const t of fx.removedTechnologies) {
      this.#techCache.delete(t);
      ev.technologyRemoved(technologyPath(t));
    }
    for (const t of this.engine.technologies()) {
      const props = technologyProps(t);
      const before = this.#techCache.get(t.type);
      this.#techCache.set(t.type, props);
      if (!before) ev.technologyAdded(technologyPath(t.type), props);
      else for (const [k, p] of changedProps(before, props)) ev.technologyPropertyChanged(technologyPath(t.type), k, p);
    }
  }

  #linkEvent(e: LinkEvent): void {
    // Before apply(), which may start a reconcile at once.
    this.#kernel.routingMayHaveChanged();
    this.apply(e.type === 'link' ? this.engine.linkChanged(e.facts) : this.engine.linkRemoved(e.ifindex));
    // The kernel may have dropped routes of ours on its own (IPv4 routes go with a link's
    // carrier), which the plan cannot show: re-read the managed links. Observed links' events
    // need no such pass (a plan change still gets one through apply()).
    if (e.type === 'link-removed' || this.engine.manage.isManaged({ ifname: e.facts.name })) this.#manage?.request(true);
  }

  #provisioningFile(file: string, text: string | null): void {
    this.#keyFile('provisioning', file, text, ProvisioningError, () => (text === null ? this.engine.removeProvisioning(file) : this.engine.loadProvisioning(file, text)));
  }

  #policyFile(file: string, text: string | null): void {
    this.#keyFile('policy', file, text, PolicyParseError, () => (text === null ? this.engine.removePolicy(file) : this.engine.loadPolicy(file, text)));
  }

  /** A policy or provisioning file changed; a malformed one is logged and its previous version stays. */
  #keyFile(kind: string, file: string, text: string | null, parseError: new (...args: never[]) => Error, change: () => Effects): void {
    try {
      this.apply(change());
      this.#d.log('info', `${kind} ${file} ${text === null ? 'removed' : 'loaded'}`);
    } catch (err) {
      if (!(err instanceof parseError)) throw err;
      this.#d.log('error', `${kind} rejected, previous version kept: ${err.message}`);
    }
  }

  // ------------------------------------------------------------------ DaemonApi: Manager

  managerProperties(): PropDict {
    return managerProps(this.engine.managerState(), this.engine.offlineMode, this.#sessionMode);
  }

  setManagerProperty(caller: BusCaller, name: string, value: RawValue): void | Promise<void> {
    if (name !== 'OfflineMode' && name !== 'SessionMode') throw new InvalidPropertyError(name);
    if (value.signature !== 'b') throw new WrongTypeError(name, 'b', value.signature);
    if (name === 'SessionMode') {
      // Deprecated in ConnMan: stored and reported, no effect, no signal.
      this.#sessionMode = value.value as boolean;
      return;
    }
    if (caller.uid !== 0) throw new RootOnlyError('change OfflineMode');
    this.apply(this.engine.setOfflineMode(value.value as boolean));
    return this.#storeChain;
  }

  services(): Array<{ path: string; props: PropDict }> {
    return this.engine.services().map((s) => ({ path: servicePath(s.id), props: this.#serviceProps(s) }));
  }

  technologies(): Array<{ path: string; props: PropDict }> {
    return this.engine.technologies().map((t) => ({ path: technologyPath(t.type), props: technologyProps(t) }));
  }

  async createSession(caller: BusCaller, settings: Record<string, RawValue>, notifier: string): Promise<string> {
    const cap = this.#d.sessionCapacity;
    // A clear refusal instead of a crash at the heap limit ("JavaScript heap out of memory").
    if (cap !== undefined && this.engine.sessionCount() >= cap) {
      if (!this.#capLogged) this.#d.log('warn', `refusing new sessions: ${cap} live sessions is what the JS heap limit holds (raise --max-old-space-size to allow more)`);
      this.#capLogged = true;
      throw new SessionLimitError('daemon', cap);
    }
    this.#capLogged = false;
    const identity = await this.#d.identity.resolve(caller);
    const { path, effects } = this.engine.createSession({ owner: caller.sender, notifier, identity, settings });
    // ConnMan's order (the reply before the first Update) is kept on the wire by the bus
    // adapter, which holds Updates for this notifier until its CreateSession reply is out.
    void this.apply(effects);
    return path;
  }

  destroySession(caller: BusCaller, path: string): void {
    this.apply(this.engine.destroySession(path, this.#caller(caller)));
  }

  // ------------------------------------------------------------------ DaemonApi: Service, Technology

  serviceProperties(serviceId: string): PropDict {
    const s = this.engine.registry.byId(serviceId);
    if (!s) throw new ServiceNotFoundError(serviceId);
    return this.#serviceProps(s);
  }

  serviceOnlineCheck(serviceId: string): PropDict {
    const s = this.engine.registry.byId(serviceId);
    if (!s) throw new ServiceNotFoundError(serviceId);
    const family = (f: 4 | 6): Prop => ({
      signature: 'a{sv}',
      value: { Online: { signature: 'b', value: s.check[f].online }, Portal: { signature: 's', value: s.check[f].portal ?? '' } },
    });
    return { IPv4: family(4), IPv6: family(6) };
  }

  serviceConnect(caller: BusCaller, serviceId: string): Promise<void> {
    const s = this.engine.registry.byId(serviceId);
    if (!s) throw new ServiceNotFoundError(serviceId);
    if (caller.uid !== 0) throw new RootOnlyError('connect services');
    this.apply(this.engine.serviceConnect(serviceId));
    return this.#manageDone();
  }

  serviceDisconnect(caller: BusCaller, serviceId: string): Promise<void> {
    const s = this.engine.registry.byId(serviceId);
    if (!s) throw new ServiceNotFoundError(serviceId);
    if (caller.uid !== 0) throw new RootOnlyError('disconnect services');
    this.apply(this.engine.serviceDisconnect(serviceId));
    return this.#manageDone();
  }

  serviceMove(caller: BusCaller, serviceId: string, target: string, before: boolean): Promise<void> {
    if (!this.engine.registry.byId(serviceId)) throw new ServiceNotFoundError(serviceId);
    if (caller.uid !== 0) throw new RootOnlyError('reorder services');
    this.apply(this.engine.moveService(serviceId, serviceIdOfPath(target), before));
    return this.#manageDone();
  }

  setServiceProperty(caller: BusCaller, serviceId: string, name: string, value: RawValue): Promise<void> {
    if (!this.engine.registry.byId(serviceId)) throw new ServiceNotFoundError(serviceId);
    if (name !== 'AutoConnect') {
      throw new NotSupportedError(`Service.SetProperty('${name}') is not supported: only AutoConnect can be set (addressing comes from provisioning files)`);
    }
    if (value.signature !== 'b') throw new WrongTypeError(name, 'b', value.signature);
    if (caller.uid !== 0) throw new RootOnlyError('change AutoConnect');
    this.apply(this.engine.setServiceAutoConnect(serviceId, value.value as boolean));
    return this.#manageDone();
  }

  /** Connect/Disconnect/AutoConnect reply once the links are configured and the flags are saved. */
  async #manageDone(): Promise<void> {
    await this.#manage?.settled();
    await this.#storeChain;
  }

  technologyProperties(type: string): PropDict {
    const t = this.engine.technologies().find((x) => x.type === type);
    if (!t) throw new TechnologyNotFoundError(type);
    return technologyProps(t);
  }

  setTechnologyProperty(caller: BusCaller, type: string, name: string, value: RawValue): void | Promise<void> {
    this.technologyProperties(type);
    if (name === 'Tethering') throw new NotSupportedError('tethering is not supported');
    if (name !== 'Powered') throw new InvalidPropertyError(name);
    if (value.signature !== 'b') throw new WrongTypeError(name, 'b', value.signature);
    if (caller.uid !== 0) throw new RootOnlyError('power technologies on or off');
    this.apply(this.engine.setTechnologyPowered(type, value.value as boolean));
    return this.#storeChain;
  }

  // ------------------------------------------------------------------ DaemonApi: Session

  sessionChange(caller: BusCaller, path: string, name: string, value: RawValue): void | Promise<void> {
    return this.apply(this.engine.change(path, this.#caller(caller), name, value));
  }

  sessionConnect(caller: BusCaller, path: string): void | Promise<void> {
    return this.apply(this.engine.connect(path, this.#caller(caller)));
  }

  sessionDisconnect(caller: BusCaller, path: string): void | Promise<void> {
    return this.apply(this.engine.disconnect(path, this.#caller(caller)));
  }

  sessionDestroy(caller: BusCaller, path: string): void | Promise<void> {
    return this.apply(this.engine.destroySession(path, this.#caller(caller)));
  }

  hasSession(path: string): boolean {
    try {
      this.engine.session(path);
      return true;
    } catch {
      return false;
    }
  }

  clientGone(sender: string): void {
    this.apply(this.engine.ownerGone(sender));
    // Its sessions ended above; root may also have asked for signals of other clients' sessions.
    this.#statsSignals?.clientGone(sender);
    for (const reg of this.#counters.ownerGone(sender)) {
      this.#disarmCounter(reg);
      this.#d.log('debug', `counter ${reg.owner}${reg.path} ended: its client left the bus`);
    }
  }

  // ------------------------------------------------------------------ DaemonApi: counters

  registerCounter(caller: BusCaller, path: string, accuracy: number, period: number): void {
    if (!this.#d.linkStats) throw new NotSupportedError('per-service counters need link statistics (not configured)');
    const reg = this.#counters.register(caller.sender, path, accuracy, period);
    this.#d.log('debug', `counter ${reg.owner}${reg.path} registered (accuracy ${accuracy} kB, period ${period} s)`);
    // The first Usage (every key) goes out right after the reply, then one per period.
    this.#armCounter(reg, 0);
  }

  unregisterCounter(caller: BusCaller, path: string): void {
    const reg = this.#counters.unregister(caller.sender, path);
    this.#disarmCounter(reg);
    this.#d.log('debug', `counter ${reg.owner}${reg.path} unregistered`);
  }

  serviceResetCounters(caller: BusCaller, serviceId: string): void {
    const s = this.engine.registry.byId(serviceId);
    if (!s) throw new ServiceNotFoundError(serviceId);
    // The totals are shared by every client's counters: resetting them is an admin's call.
    if (caller.uid !== 0) throw new RootOnlyError('reset service counters');
    this.#counters.resetService(serviceId, isConnected(s.state), this.#d.clock.now());
  }

  #armCounter(reg: CounterRegistration, ms: number): void {
    this.#counterTimers.set(reg.key, this.#d.clock.setTimeout(() => void this.#counterTick(reg), ms));
  }

  #disarmCounter(reg: CounterRegistration): void {
    this.#counterTimers.get(reg.key)?.cancel();
    this.#counterTimers.delete(reg.key);
  }

  #live(reg: CounterRegistration): boolean {
    return !this.#stopping && this.#counters.byKey(reg.key) === reg;
  }

  /** Samples every connected service, sends `reg` what is due, and re-arms its timer. */
  async #counterTick(reg: CounterRegistration): Promise<void> {
    this.#counterTimers.delete(reg.key);
    if (!this.#live(reg)) return;
    try {
      await this.#sampleConnected();
    } catch (err) {
      this.#d.log('warn', `counter ${reg.owner}${reg.path}: cannot read link statistics: ${(err as Error).message}`);
    }
    // Unregistered, its client gone, or the daemon stopping while the read was in flight.
    if (!this.#live(reg)) return;
    const now = this.#d.clock.now();
    for (const s of this.engine.services()) {
      if (!isConnected(s.state)) continue;
      const usage = this.#counters.usage(reg, s.id, now);
      if (usage) this.#d.events.counterUsage(reg.owner, reg.path, servicePath(s.id), usage.home, usage.roaming);
    }
    this.#armCounter(reg, Math.min(reg.periodS * 1000, MAX_TIMER_MS));
  }

  #sampleConnected(): Promise<void> {
    this.#statsRead ??= this.#readStats().finally(() => {
      this.#statsRead = null;
    });
    return this.#statsRead;
  }

  async #readStats(): Promise<void> {
    const stats = this.#d.linkStats;
    const services = this.engine.services().filter((s) => isConnected(s.state));
    if (!stats || services.length === 0) return;
    const read = await stats.read(services.map((s) => s.ifindex));
    const now = this.#d.clock.now();
    for (const s of services) {
      const c = read.get(s.ifindex);
      // The service may have gone or disconnected during the read; its ifindex may be reused.
      const cur = this.engine.registry.byId(s.id);
      if (c && cur && cur.ifindex === s.ifindex && isConnected(cur.state)) this.#counters.sample(s.id, s.ifindex, c, now);
    }
  }

  // ------------------------------------------------------------------ DaemonApi: extensions

  async listSessions(caller: BusCaller): Promise<Array<{ path: string; props: PropDict }>> {
    if (caller.uid !== 0) throw new RootOnlyError('list all sessions');
    const counters = this.#d.accounting ? await this.#d.accounting.read() : null;
    return this.engine.sessions().map((s) => {
      const settings: PropDict = {};
      for (const [k, v] of Object.entries(s.settings)) settings[k] = settingProp(k as keyof typeof s.settings, v);
      const props: PropDict = {
        Owner: { signature: 's', value: s.owner },
        UID: { signature: 'u', value: s.uid },
        Service: { signature: 's', value: s.serviceId ?? '' },
        PolicyGroup: { signature: 's', value: s.policyGroup ?? '' },
        Active: { signature: 'b', value: s.active },
        Cgroups: { signature: 'as', value: [...s.cgroups] },
        Settings: { signature: 'a{sv}', value: settings },
      };
      const c = counters?.get(s.key);
      if (c) {
        props['RX.Bytes'] = { signature: 't', value: c.rxBytes };
        props['TX.Bytes'] = { signature: 't', value: c.txBytes };
      }
      return { path: s.path, props };
    });
  }

  async statistics(caller: BusCaller, path: string): Promise<SessionStatistics> {
    const s = this.#owned(caller, path);
    if (!this.#d.accounting) throw new NotSupportedError('per-session statistics need the kernel datapath (not configured)');
    const c = (await this.#d.accounting.read([s.key])).get(s.key);
    return c ?? { rxBytes: 0n, txBytes: 0n, rxPackets: 0n, txPackets: 0n };
  }

  async resetStatistics(caller: BusCaller, path: string): Promise<void> {
    const s = this.#owned(caller, path);
    if (!this.#d.accounting) throw new NotSupportedError('per-session statistics need the kernel datapath (not configured)');
    await this.#d.accounting.reset([s.key]);
  }

  setStatisticsInterval(caller: BusCaller, path: string, seconds: number): void {
    const s = this.#owned(caller, path);
    if (!this.#statsSignals) throw new NotSupportedError('per-session statistics need the kernel datapath (not configured)');
    this.#statsSignals.set(path, s.key, caller.sender, seconds);
  }

  async claimCgroup(caller: BusCaller, path: string, cgroup: string): Promise<void> {
    if (!this.#d.firewall || !this.#d.cgroups) throw new NotSupportedError('claiming cgroups needs the kernel datapath (not configured)');
    // Path and ownership first: the filesystem is looked at only for a well-formed request.
    this.engine.checkCgroupClaim(path, this.#caller(caller), cgroup);
    const dirOwner = await this.#d.cgroups.ownerOf(cgroup);
    // The session may have ended meanwhile: the engine checks it again.
    this.apply(this.engine.claimCgroup(path, this.#caller(caller), cgroup, dirOwner));
    await this.kernelSettled();
  }

  defaultRoutes(): PropDict[] {
    const links = this.#manage ? this.#d.manage?.links : undefined;
    if (!links) return [];
    const names = new Map(this.engine.services().map((s) => [s.ifindex, s.ifname]));
    return links.lifecycle().map((r) => ({
      Interface: { signature: 's', value: names.get(r.ifindex) ?? `#${r.ifindex}` },
      Family: { signature: 'y', value: r.family },
      Gateway: { signature: 's', value: r.gateway ?? '' },
      Metric: { signature: 'u', value: r.metric },
      State: { signature: 's', value: r.state },
    }));
  }

  serviceStatus(): Array<{ path: string; props: PropDict }> {
    return this.engine.services().map((s) => ({ path: servicePath(s.id), props: serviceStatusProps(s) }));
  }

  sessionPolicy(caller: BusCaller, path: string): PropDict {
    const s = this.#owned(caller, path);
    return { Group: { signature: 's', value: s.match ? `${s.match.group.file}:${s.match.group.name}` : '' } };
  }

  capabilities(): string[] {
    const caps = ['ListSessions', 'PerServiceOnlineCheck', 'CgroupPolicy', 'Policy', 'ServiceStatus', 'AvoidMetered'];
    if (this.#manage) caps.push('ManageMode');
    if (this.#d.accounting) caps.push('Statistics', 'StatisticsSignal');
    if (this.#d.routing || this.#d.firewall) caps.push('Datapath');
    if (this.#d.firewall && this.#d.cgroups) caps.push('ClaimCgroup');
    return caps;
  }

  get started(): boolean {
    return this.#started;
  }

  /** The session at `path`, if the caller owns it (or is root). */
  #owned(caller: BusCaller, path: string) {
    const s = this.engine.session(path);
    if (caller.uid !== 0 && caller.sender !== s.owner) throw new NotOwnerError(path);
    return s;
  }

  #caller(c: BusCaller): { owner: string; uid: number } {
    return { owner: c.sender, uid: c.uid };
  }
}

/**
 * Carries out every Effects value the engine returns: Updates and signals on the bus, online
 * checks, counters, saved settings, the kernel reconcile and manage mode's link configuration.
 * It builds and holds the runtime's parts (one file each in this folder) so that the DaemonApi
 * facade and the lifecycle reach them through one object.
 */

import type { BusCaller } from '../api.js';
import type { Effects } from '../core/effects.js';
import type { Engine } from '../core/engine.js';
import type { PropDict } from '../core/properties.js';
import { usableAddress } from '../core/services.js';
import { statisticsProps } from '../core/statistics-schedule.js';
import { UpdateDicts } from '../core/update-dicts.js';
import type { SettingsDelta } from '../core/updates.js';
import type { RuntimeDeps } from './deps.js';
import { KernelSync, type KernelWait } from './kernel-sync.js';
import { ManageSync } from './manage-sync.js';
import { OnlineRunner } from './online-runner.js';
import { PropertySignals } from './property-signals.js';
import { SavedSettings } from './saved-settings.js';
import { ServiceCounters } from './service-counters.js';
import { StatisticsSignals } from './statistics-signals.js';

/** The engine's view of a bus caller. */
export function engineCaller(c: BusCaller): { owner: string; uid: number } {
  return { owner: c.sender, uid: c.uid };
}

export class EffectsCarrier {
  readonly d: RuntimeDeps;
  readonly engine: Engine;
  readonly kernel: KernelSync;
  readonly runner: OnlineRunner;
  /** Manage mode's link configuration; null when the engine manages no interface. */
  readonly manage: ManageSync | null;
  /** `Statistics` signals (SetStatisticsInterval); null without accounting, where they are NotSupported. */
  readonly statsSignals: StatisticsSignals | null;
  readonly signals: PropertySignals;
  readonly counters: ServiceCounters;
  readonly settings: SavedSettings;
  /** The engine's kernel version last requested from here or taken by a reconcile. */
  #lastKernelVersion = -1;
  /** One PropDict per recent Update content, which the bus adapter finds encoded by identity. */
  readonly #updateDicts = new UpdateDicts();
  /** The session count last logged (see #noteSessionCount). */
  #loggedSessions = 0;
  #loggedSessionsAt = -Infinity;

  constructor(deps: RuntimeDeps, managerProperties: () => PropDict) {
    this.d = deps;
    this.engine = deps.engine;
    const engine = deps.engine;
    this.kernel = new KernelSync({
      ...(deps.routing ? { routing: deps.routing } : {}),
      ...(deps.firewall ? { firewall: deps.firewall } : {}),
      desired: () => {
        const state = engine.kernelState();
        this.#lastKernelVersion = engine.kernelVersion();
        return state;
      },
      log: deps.log,
    });
    this.runner = new OnlineRunner({
      settings: deps.online.settings,
      probe: deps.online.probe,
      clock: deps.clock,
      urls: deps.online.urls,
      target: (id, family) => {
        const s = engine.registry.byId(id);
        const a = s && usableAddress(s, family);
        return s && a ? { ifname: s.ifname, ifindex: s.ifindex, localAddress: a.address } : null;
      },
      report: (id, family, online, portal, error) =>
        this.apply(engine.onlineStatus(id, family, { online, portal }, error)),
      log: (m) => deps.log('debug', m),
    });
    const m = deps.manage;
    this.manage =
      m && engine.manage.enabled
        ? new ManageSync({
            plan: () => engine.managePlan(),
            links: m.links,
            dhcp: m.dhcp,
            ...(m.ipv6 ? { ipv6: m.ipv6 } : {}),
            ...(m.nameservers ? { nameservers: m.nameservers } : {}),
            onLease: (ifname, e) => {
              deps.log(
                'info',
                `manage: DHCP ${e.type} ${e.address}/${e.prefixLength} on ${ifname}${e.router ? ` router ${e.router}` : ''}`,
              );
              this.apply(engine.dhcpLease(ifname, e));
            },
            clock: deps.clock,
            log: deps.log,
          })
        : null;
    const accounting = deps.accounting;
    this.statsSignals = accounting
      ? new StatisticsSignals({
          clock: deps.clock,
          accounting,
          send: (subscriber, path, c) => deps.events.sessionStatistics(subscriber, path, statisticsProps(c)),
          log: deps.log,
        })
      : null;
    this.signals = new PropertySignals({ engine, events: deps.events, managerProperties, log: deps.log });
    this.counters = new ServiceCounters({
      engine,
      events: deps.events,
      clock: deps.clock,
      ...(deps.linkStats ? { linkStats: deps.linkStats } : {}),
      log: deps.log,
    });
    this.settings = new SavedSettings({ engine, ...(deps.store ? { store: deps.store } : {}), log: deps.log });
  }

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
    return this.#apply(fx).sent;
  }

  /**
   * {@link EffectsCarrier.apply} for a CreateSession: the promise only when the first Update waits
   * for routing alone (a SourceIPRule session's rule: a few rules, whatever the session count), so
   * the reply can wait with it and both leave in one write. An Update that waits for the firewall
   * does not hold the reply: under a storm of creates that would throttle the client to the
   * firewall's apply rounds (10,000 uid-classified creates: 1.36–1.58 → 1.79 s).
   */
  applyCreate(fx: Effects): void | Promise<void> {
    const { need, sent } = this.#apply(fx);
    return need === 'routed' ? sent : undefined;
  }

  #apply(fx: Effects): { need: KernelWait['stage'] | null; sent: void | Promise<void> } {
    const ev = this.d.events;
    // Updates leave the process at once (flush), also those that waited for the kernel: written
    // from a reconcile stage they would otherwise sit in the coalesced buffer until the loop's
    // check phase, behind the synchronous start of the firewall apply (~0.3-0.7 ms, profiled).
    const send = () => {
      // A failover hands every session it moves the same delta: its dict is looked up once, and
      // the bus adapter, which keeps encoded bodies by dict, encodes that Update once.
      const dicts = fx.updates.length > 1 ? new Map<SettingsDelta, PropDict>() : null;
      for (const u of fx.updates) {
        let dict = dicts?.get(u.changes);
        if (!dict) {
          dict = this.#updateDicts.dictOf(u.changes);
          dicts?.set(u.changes, dict);
        }
        ev.update(u.owner, u.notifier, dict);
      }
      for (const path of fx.destroyedSessions) ev.sessionRemoved(path);
      if (fx.updates.length) ev.flush?.();
    };
    const need = fx.kernelDirty && this.kernel.active ? this.#kernelNeed(fx.updates, fx.destroyedSessions) : null;
    const sendNow = !need && !this.kernel.queued;
    if (sendNow) send();
    // At once, even when the removal itself waits behind held Updates: no signal for a dead session.
    for (const path of fx.destroyedSessions) this.statsSignals?.sessionEnded(path);
    if (fx.destroyedSessions.length || fx.updates.length) this.#noteSessionCount();
    this.signals.signal(fx);
    for (const c of fx.checks) {
      if (c.op === 'start') this.runner.start(c.serviceId, c.family);
      else this.runner.stop(c.serviceId, c.family);
    }
    for (const w of fx.warnings) this.d.log('warn', w);
    this.counters.track(fx);
    if (fx.managerChanged.has('OfflineMode') || fx.changedTechnologies.size || fx.settingsChanged)
      this.settings.persist();
    if (fx.kernelDirty && this.#kernelChanged(fx)) this.kernel.request();
    this.manage?.request();
    if (sendNow) return { need, sent: undefined };
    return { need, sent: this.kernel.after(need ? { stage: need, gen: this.kernel.generation } : null, send) };
  }

  /**
   * Whether a reconcile is due: the engine's kernel version moved (it grows only when the desired
   * state changed, and asking costs O(change); the state itself is built by the reconcile). A session
   * that claims nothing changes nothing in the kernel, and its create or destroy then costs no
   * apply at all. Service changes always reconcile: the kernel may have dropped routes of ours
   * with a link's carrier or address whatever the desired state says. Skipping is safe for the
   * Updates that wait: they wait for the generation already requested, which holds this state.
   */
  #kernelChanged(fx: Effects): boolean {
    if (!this.kernel.active) return false;
    if (fx.changedServices.size > 0 || fx.removedServices.length > 0) return true;
    const version = this.engine.kernelVersion();
    if (version === this.#lastKernelVersion) return false;
    this.#lastKernelVersion = version;
    return true;
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
      let s: ReturnType<typeof this.engine.session>;
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
    const now = this.d.clock.now();
    if (now - this.#loggedSessionsAt < 60_000) return;
    this.#loggedSessions = n;
    this.#loggedSessionsAt = now;
    this.d.log('info', `sessions: ${n} (was ${last})`);
  }
}

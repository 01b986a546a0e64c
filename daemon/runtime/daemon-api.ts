/**
 * The DaemonApi facade: what the D-Bus adapter calls. Each call checks what the engine cannot
 * (caller rights, capacity, ports switched off), asks the engine, and hands its Effects to the
 * carrier; replies wait where the contract in daemon/api.ts says so.
 */
import { servicePath, technologyPath } from '../../lib/protocol.js';
import type { BusCaller, DaemonApi, SessionStatistics } from '../api.js';
import type { Engine } from '../core/engine.js';
import {
  InvalidPropertyError,
  NotSupportedError,
  RootOnlyError,
  ServiceNotFoundError,
  SessionLimitError,
  TechnologyNotFoundError,
  WrongTypeError,
} from '../core/errors.js';
import type { Prop, PropDict } from '../core/properties.js';
import { managerProps, technologyProps } from '../core/properties.js';
import { serviceStatusProps } from '../core/service-traits.js';
import type { RawValue } from '../core/settings.js';
import type { RuntimeDeps } from './deps.js';
import { EffectsCarrier, engineCaller } from './effects-carrier.js';
import * as ext from './extension-api.js';

/** The id of a service object path (`/net/connman/service/<id>`); anything else as given, which no id matches. */
function serviceIdOfPath(path: string): string {
  const prefix = servicePath('');
  return path.startsWith(prefix) ? path.slice(prefix.length) : path;
}

export class RuntimeApi implements DaemonApi {
  readonly engine: Engine;
  protected readonly fx: EffectsCarrier;
  #sessionMode = false;
  /** The session capacity warning was logged (until a create succeeds again). */
  #capLogged = false;

  constructor(deps: RuntimeDeps) {
    this.engine = deps.engine;
    this.fx = new EffectsCarrier(deps, () => this.managerProperties());
  }

  // ------------------------------------------------------------------ net.connman.Manager

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
    this.fx.apply(this.engine.setOfflineMode(value.value as boolean));
    return this.fx.settings.written;
  }

  services(): Array<{ path: string; props: PropDict }> {
    return this.engine.services().map((s) => ({ path: servicePath(s.id), props: this.fx.signals.serviceProps(s) }));
  }

  technologies(): Array<{ path: string; props: PropDict }> {
    return this.engine.technologies().map((t) => ({ path: technologyPath(t.type), props: technologyProps(t) }));
  }

  /**
   * Manager.CreateSession: the new session's path, synchronously unless its first Update waits
   * for routing (then once it has gone out). Synchronous so that the reply and the first Update
   * leave in the write of the batch the call arrived in, with no promise turns before them
   * (paced, the daemon's part of a CreateSession({}) is a few hundred µs of cold-cache work, and
   * every layer on that path counts).
   */
  createSession(caller: BusCaller, settings: Record<string, RawValue>, notifier: string): string | Promise<string> {
    const cap = this.fx.d.sessionCapacity;
    // A clear refusal instead of a crash at the heap limit ("JavaScript heap out of memory").
    if (cap !== undefined && this.engine.sessionCount() >= cap) {
      if (!this.#capLogged)
        this.fx.d.log(
          'warn',
          `refusing new sessions: ${cap} live sessions is what the JS heap limit holds (raise --max-old-space-size to allow more)`,
        );
      this.#capLogged = true;
      throw new SessionLimitError('daemon', cap);
    }
    this.#capLogged = false;
    // The caller's cgroup is read before the reply only when a policy group selects by cgroup;
    // otherwise right after the write (a cold /proc read was ~10 % of the daemon's part of a
    // paced CreateSession), still in time for any policy change to come.
    const cgroupNow = this.engine.policiesSelectByCgroup();
    const resolver = this.fx.d.identity;
    const identity = resolver.resolve(caller, { cgroup: cgroupNow });
    const { path, effects } = this.engine.createSession({ owner: caller.sender, notifier, identity, settings });
    const pid = caller.pid;
    if (!cgroupNow && pid !== undefined)
      setImmediate(() => {
        try {
          const cgroup = resolver.cgroupOf(pid);
          const fx = cgroup === undefined ? null : this.engine.noteCgroup(path, cgroup);
          if (fx) this.fx.apply(fx);
        } catch (err) {
          // Outside any call: a bug here must not end the daemon.
          this.fx.d.log('error', `cgroup of ${path}: ${(err as Error).stack ?? String(err)}`);
        }
      });
    // ConnMan's order (the reply before the first Update) is kept on the wire by the bus
    // adapter, which holds Updates for this notifier until its CreateSession reply is out. When
    // the first Update waits for routing (a SourceIPRule session's rule), the reply waits with it,
    // as Change's does: both then leave in one write and the client has its Update one bus
    // delivery sooner (SourceIPRule call → first Update, three paired runs of
    // bench/source-ip-rule.ts: 1.43 → 1.29, 1.74 → 1.62, 1.16 → 1.04 ms; the reply comes later).
    const sent = this.fx.applyCreate(effects);
    return sent ? sent.then(() => path) : path;
  }

  destroySession(caller: BusCaller, path: string): void {
    this.fx.apply(this.engine.destroySession(path, engineCaller(caller)));
  }

  registerCounter(caller: BusCaller, path: string, accuracy: number, period: number): void {
    this.fx.counters.register(caller, path, accuracy, period);
  }

  unregisterCounter(caller: BusCaller, path: string): void {
    this.fx.counters.unregister(caller, path);
  }

  // ------------------------------------------------------------------ net.connman.Service, Technology

  serviceProperties(serviceId: string): PropDict {
    return this.fx.signals.serviceProps(this.#service(serviceId));
  }

  serviceOnlineCheck(serviceId: string): PropDict {
    const s = this.#service(serviceId);
    const family = (f: 4 | 6): Prop => ({
      signature: 'a{sv}',
      value: {
        Online: { signature: 'b', value: s.check[f].online },
        Portal: { signature: 's', value: s.check[f].portal ?? '' },
      },
    });
    return { IPv4: family(4), IPv6: family(6) };
  }

  serviceConnect(caller: BusCaller, serviceId: string): Promise<void> {
    this.#service(serviceId);
    if (caller.uid !== 0) throw new RootOnlyError('connect services');
    this.fx.apply(this.engine.serviceConnect(serviceId));
    return this.#manageDone();
  }

  serviceDisconnect(caller: BusCaller, serviceId: string): Promise<void> {
    this.#service(serviceId);
    if (caller.uid !== 0) throw new RootOnlyError('disconnect services');
    this.fx.apply(this.engine.serviceDisconnect(serviceId));
    return this.#manageDone();
  }

  serviceMove(caller: BusCaller, serviceId: string, target: string, before: boolean): Promise<void> {
    this.#service(serviceId);
    if (caller.uid !== 0) throw new RootOnlyError('reorder services');
    this.fx.apply(this.engine.moveService(serviceId, serviceIdOfPath(target), before));
    return this.#manageDone();
  }

  setServiceProperty(caller: BusCaller, serviceId: string, name: string, value: RawValue): Promise<void> {
    this.#service(serviceId);
    if (name !== 'AutoConnect') {
      throw new NotSupportedError(
        `Service.SetProperty('${name}') is not supported: only AutoConnect can be set (addressing comes from provisioning files)`,
      );
    }
    if (value.signature !== 'b') throw new WrongTypeError(name, 'b', value.signature);
    if (caller.uid !== 0) throw new RootOnlyError('change AutoConnect');
    this.fx.apply(this.engine.setServiceAutoConnect(serviceId, value.value as boolean));
    return this.#manageDone();
  }

  serviceResetCounters(caller: BusCaller, serviceId: string): void {
    this.fx.counters.resetService(caller, serviceId);
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
    this.fx.apply(this.engine.setTechnologyPowered(type, value.value as boolean));
    return this.fx.settings.written;
  }

  /** The service with this id, or ServiceNotFound. */
  #service(serviceId: string) {
    const s = this.engine.registry.byId(serviceId);
    if (!s) throw new ServiceNotFoundError(serviceId);
    return s;
  }

  /** Connect/Disconnect/AutoConnect reply once the links are configured and the flags are saved. */
  async #manageDone(): Promise<void> {
    await this.fx.manage?.settled();
    await this.fx.settings.written;
  }

  // ------------------------------------------------------------------ net.connman.Session

  sessionChange(caller: BusCaller, path: string, name: string, value: RawValue): void | Promise<void> {
    return this.fx.apply(this.engine.change(path, engineCaller(caller), name, value));
  }

  sessionConnect(caller: BusCaller, path: string): void | Promise<void> {
    return this.fx.apply(this.engine.connect(path, engineCaller(caller)));
  }

  sessionDisconnect(caller: BusCaller, path: string): void | Promise<void> {
    return this.fx.apply(this.engine.disconnect(path, engineCaller(caller)));
  }

  sessionDestroy(caller: BusCaller, path: string): void | Promise<void> {
    return this.fx.apply(this.engine.destroySession(path, engineCaller(caller)));
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
    this.fx.apply(this.engine.ownerGone(sender));
    // Its sessions ended above; root may also have asked for signals of other clients' sessions.
    this.fx.statsSignals?.clientGone(sender);
    this.fx.counters.ownerGone(sender);
  }

  // ------------------------------------------------------------------ org.netsession.* (extension-api.ts)

  listSessions(caller: BusCaller): Promise<Array<{ path: string; props: PropDict }>> {
    return ext.listSessions(this.fx, caller);
  }

  statistics(caller: BusCaller, path: string): Promise<SessionStatistics> {
    return ext.statistics(this.fx, caller, path);
  }

  resetStatistics(caller: BusCaller, path: string): Promise<void> {
    return ext.resetStatistics(this.fx, caller, path);
  }

  setStatisticsInterval(caller: BusCaller, path: string, seconds: number): void {
    ext.setStatisticsInterval(this.fx, caller, path, seconds);
  }

  claimCgroup(caller: BusCaller, path: string, cgroup: string): Promise<void> {
    return ext.claimCgroup(this.fx, caller, path, cgroup);
  }

  defaultRoutes(): PropDict[] {
    return ext.defaultRoutes(this.fx);
  }

  serviceStatus(): Array<{ path: string; props: PropDict }> {
    return this.engine.services().map((s) => ({ path: servicePath(s.id), props: serviceStatusProps(s) }));
  }

  sessionPolicy(caller: BusCaller, path: string): PropDict {
    return ext.sessionPolicy(this.fx, caller, path);
  }

  capabilities(): string[] {
    return ext.capabilities(this.fx);
  }
}

/**
 * TEST DOUBLE of DaemonApi for the D-Bus adapter's integration test: a scripted object that
 * records every call and answers with canned property dicts. It keeps just enough session
 * bookkeeping to behave like the daemon on the wire (paths, ownership, the first Update, removal
 * through BusEvents); it is not the daemon. Settings are validated by the real core parser, so
 * its errors are the daemon's DaemonErrors.
 */

import type { BusCaller, DaemonApi, SessionStatistics } from '../../../daemon/api.js';
import {
  CounterExistsError,
  CounterNotRegisteredError,
  InvalidPropertyError,
  NotOwnerError,
  RootOnlyError,
  ServiceNotFoundError,
  SessionExistsError,
  SessionNotFoundError,
  TechnologyNotFoundError,
} from '../../../daemon/core/errors.js';
import type { PropDict } from '../../../daemon/core/properties.js';
import { settingProp, updateDict } from '../../../daemon/core/properties.js';
import {
  applySetting,
  parseCreateSettings,
  type RawValue,
  type RequestedSettings,
} from '../../../daemon/core/settings.js';
import { checkStatisticsInterval } from '../../../daemon/core/statistics-schedule.js';
import { fullUpdate } from '../../../daemon/core/updates.js';
import type { BusEvents } from '../../../daemon/ports.js';
import { type SessionSettings, sessionPath } from '../../../lib/protocol.js';

/** One recorded call. */
export interface RecordedCall {
  method: string;
  caller?: BusCaller;
  args: unknown[];
}

interface FakeSession {
  owner: string;
  notifier: string;
  uid: number;
  request: RequestedSettings;
}

/** How createSession sends the first Update. */
export type FirstUpdateMode = 'deferred' | 'eager' | 'none';

/** A scripted DaemonApi: records calls, returns canned data. */
export class ScriptedDaemonApiDouble implements DaemonApi {
  readonly calls: RecordedCall[] = [];
  readonly sessions = new Map<string, FakeSession>();
  /** Registered counters as `<owner> <path>`. */
  readonly counters = new Set<string>();
  /** Set after the adapter exists (the double sends Updates and removals through it). */
  events: BusEvents | null = null;
  /**
   * `deferred`: setImmediate after resolving (what the runtime does); `eager`: before resolving
   * (a worst case the adapter must still order after the reply); `none`: no Update.
   */
  firstUpdate: FirstUpdateMode = 'deferred';
  /** When set, createSession waits for this before answering (a slow policy step). */
  createDelay: Promise<void> | null = null;
  services_: Array<{ path: string; props: PropDict }> = [
    { path: '/net/connman/service/ethernet_02aabbccdd01_cable', props: serviceProps('veth-a', 'online') },
    { path: '/net/connman/service/ethernet_02aabbccdd02_cable', props: serviceProps('veth-b', 'ready') },
  ];
  technologies_: Array<{ path: string; props: PropDict }> = [
    { path: '/net/connman/technology/ethernet', props: techProps('ethernet') },
  ];
  stats: SessionStatistics = { rxBytes: 2n ** 40n + 1n, txBytes: 12345n, rxPackets: 7n, txPackets: 9n };

  #record(method: string, caller: BusCaller | undefined, ...args: unknown[]): void {
    this.calls.push({ method, ...(caller ? { caller } : {}), args });
  }

  /** Calls of one method, in order. */
  callsOf(method: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  #ev(): BusEvents {
    if (!this.events) throw new Error('test double: events not wired');
    return this.events;
  }

  #settings(s: FakeSession): SessionSettings {
    return {
      State: 'online',
      Name: 'veth-a',
      IPv4: { Method: 'manual', Address: '198.51.100.2', Netmask: '255.255.255.252', Gateway: '198.51.100.1' },
      IPv6: { Method: 'auto', Address: '2001:db8::2', PrefixLength: 64, Gateway: '2001:db8::1', Privacy: 'disabled' },
      Interface: 'veth-a',
      Bearer: 'ethernet',
      ConnectionType: s.request.connectionType,
      AllowedBearers: s.request.allowedBearers ?? ['ethernet', 'wifi', 'bluetooth', 'cellular', 'gadget'],
      AllowedInterface: s.request.allowedInterface ?? '*',
      ContextIdentifier: '',
      SourceIPRule: s.request.sourceIPRule,
    };
  }

  #owned(caller: BusCaller, path: string): FakeSession {
    const s = this.sessions.get(path);
    if (!s) throw new SessionNotFoundError(path);
    if (caller.uid !== 0 && caller.sender !== s.owner) throw new NotOwnerError(path);
    return s;
  }

  #remove(path: string): void {
    if (this.sessions.delete(path)) this.#ev().sessionRemoved(path);
  }

  managerProperties(): PropDict {
    this.#record('managerProperties', undefined);
    return {
      State: { signature: 's', value: 'online' },
      OfflineMode: { signature: 'b', value: false },
      SessionMode: { signature: 'b', value: false },
    };
  }

  setManagerProperty(caller: BusCaller, name: string, value: RawValue): void {
    this.#record('setManagerProperty', caller, name, value);
    if (name !== 'OfflineMode' && name !== 'SessionMode') throw new InvalidPropertyError(name);
  }

  services(): Array<{ path: string; props: PropDict }> {
    this.#record('services', undefined);
    return this.services_;
  }

  technologies(): Array<{ path: string; props: PropDict }> {
    this.#record('technologies', undefined);
    return this.technologies_;
  }

  async createSession(caller: BusCaller, settings: Record<string, RawValue>, notifier: string): Promise<string> {
    this.#record('createSession', caller, settings, notifier);
    if (notifier === '/boom') throw new TypeError('scripted bug in the daemon');
    const request = parseCreateSettings(settings);
    if (this.createDelay) await this.createDelay;
    const path = sessionPath(caller.sender, notifier);
    if (this.sessions.has(path)) throw new SessionExistsError(path);
    const s: FakeSession = { owner: caller.sender, notifier, uid: caller.uid, request };
    this.sessions.set(path, s);
    const send = () => {
      if (this.sessions.get(path) === s)
        this.#ev().update(s.owner, s.notifier, updateDict(fullUpdate(this.#settings(s))));
    };
    if (this.firstUpdate === 'eager') send();
    else if (this.firstUpdate === 'deferred') setImmediate(send);
    return path;
  }

  destroySession(caller: BusCaller, path: string): void {
    this.#record('destroySession', caller, path);
    this.#owned(caller, path);
    this.#remove(path);
  }

  registerCounter(caller: BusCaller, path: string, accuracy: number, period: number): void {
    this.#record('registerCounter', caller, path, accuracy, period);
    const key = `${caller.sender} ${path}`;
    if (this.counters.has(key)) throw new CounterExistsError(path);
    this.counters.add(key);
  }

  unregisterCounter(caller: BusCaller, path: string): void {
    this.#record('unregisterCounter', caller, path);
    if (!this.counters.delete(`${caller.sender} ${path}`)) throw new CounterNotRegisteredError(path);
  }

  serviceResetCounters(caller: BusCaller, serviceId: string): void {
    this.#record('serviceResetCounters', caller, serviceId);
    if (!this.services_.some((x) => x.path.endsWith(`/${serviceId}`))) throw new ServiceNotFoundError(serviceId);
    if (caller.uid !== 0) throw new RootOnlyError('reset service counters');
  }

  serviceOnlineCheck(serviceId: string): PropDict {
    this.#record('serviceOnlineCheck', undefined, serviceId);
    if (!this.services_.some((x) => x.path.endsWith(`/${serviceId}`))) throw new ServiceNotFoundError(serviceId);
    const fam = {
      signature: 'a{sv}',
      value: { Online: { signature: 'b', value: false }, Portal: { signature: 's', value: '' } },
    };
    return { IPv4: fam, IPv6: fam };
  }

  serviceProperties(serviceId: string): PropDict {
    this.#record('serviceProperties', undefined, serviceId);
    const s = this.services_.find((x) => x.path.endsWith(`/${serviceId}`));
    if (!s) throw new ServiceNotFoundError(serviceId);
    return s.props;
  }

  serviceConnect(caller: BusCaller, serviceId: string): void {
    this.#record('serviceConnect', caller, serviceId);
  }

  defaultRoutes(): PropDict[] {
    this.#record('defaultRoutes', undefined);
    return [];
  }

  serviceMove(caller: BusCaller, serviceId: string, target: string, before: boolean): void {
    this.#record('serviceMove', caller, serviceId, target, before);
  }

  setServiceProperty(caller: BusCaller, serviceId: string, name: string, value: RawValue): void {
    this.#record('setServiceProperty', caller, serviceId, name, value);
  }

  serviceDisconnect(caller: BusCaller, serviceId: string): void {
    this.#record('serviceDisconnect', caller, serviceId);
  }

  technologyProperties(type: string): PropDict {
    this.#record('technologyProperties', undefined, type);
    const t = this.technologies_.find((x) => x.path.endsWith(`/${type}`));
    if (!t) throw new TechnologyNotFoundError(type);
    return t.props;
  }

  setTechnologyProperty(caller: BusCaller, type: string, name: string, value: RawValue): void {
    this.#record('setTechnologyProperty', caller, type, name, value);
    if (name !== 'Powered') throw new InvalidPropertyError(name);
  }

  sessionChange(caller: BusCaller, path: string, name: string, value: RawValue): void {
    this.#record('sessionChange', caller, path, name, value);
    const s = this.#owned(caller, path);
    s.request = applySetting(s.request, name, value);
    // As ConnMan: the Update for a Change goes out before the Change reply.
    const key = name as keyof SessionSettings;
    this.#ev().update(s.owner, s.notifier, { [key]: settingProp(key, this.#settings(s)[key]) });
  }

  sessionConnect(caller: BusCaller, path: string): void {
    this.#record('sessionConnect', caller, path);
    this.#owned(caller, path);
  }

  sessionDisconnect(caller: BusCaller, path: string): void {
    this.#record('sessionDisconnect', caller, path);
    this.#owned(caller, path);
  }

  sessionDestroy(caller: BusCaller, path: string): void {
    this.#record('sessionDestroy', caller, path);
    this.#owned(caller, path);
    this.#remove(path);
  }

  hasSession(path: string): boolean {
    return this.sessions.has(path);
  }

  clientGone(sender: string): void {
    this.#record('clientGone', undefined, sender);
    for (const [path, s] of this.sessions) if (s.owner === sender) this.#remove(path);
    for (const key of this.counters) if (key.startsWith(`${sender} `)) this.counters.delete(key);
  }

  async listSessions(caller: BusCaller): Promise<Array<{ path: string; props: PropDict }>> {
    this.#record('listSessions', caller);
    if (caller.uid !== 0) throw new RootOnlyError('list all sessions');
    return [...this.sessions].map(([path, s]) => ({
      path,
      props: {
        Owner: { signature: 's', value: s.owner },
        UID: { signature: 'u', value: s.uid },
        Settings: { signature: 'a{sv}', value: updateDict(fullUpdate(this.#settings(s))) },
        'RX.Bytes': { signature: 't', value: this.stats.rxBytes },
      },
    }));
  }

  async statistics(caller: BusCaller, path: string): Promise<SessionStatistics> {
    this.#record('statistics', caller, path);
    this.#owned(caller, path);
    return this.stats;
  }

  async resetStatistics(caller: BusCaller, path: string): Promise<void> {
    this.#record('resetStatistics', caller, path);
    this.#owned(caller, path);
  }

  /** Checks like the daemon (owner or root, the interval's bounds) and records; the test sends the signals itself. */
  setStatisticsInterval(caller: BusCaller, path: string, seconds: number): void {
    this.#record('setStatisticsInterval', caller, path, seconds);
    this.#owned(caller, path);
    checkStatisticsInterval(seconds);
  }

  async claimCgroup(caller: BusCaller, path: string, cgroup: string): Promise<void> {
    this.#record('claimCgroup', caller, path, cgroup);
    this.#owned(caller, path);
  }

  serviceStatus(): Array<{ path: string; props: PropDict }> {
    return [];
  }

  sessionPolicy(caller: BusCaller, path: string): PropDict {
    this.#record('sessionPolicy', caller, path);
    this.#owned(caller, path);
    return { Group: { signature: 's', value: '' } };
  }

  capabilities(): string[] {
    return ['ListSessions', 'Statistics'];
  }
}

function serviceProps(ifname: string, state: string): PropDict {
  return {
    Type: { signature: 's', value: 'ethernet' },
    State: { signature: 's', value: state },
    Name: { signature: 's', value: ifname },
    Ethernet: {
      signature: 'a{sv}',
      value: { Interface: { signature: 's', value: ifname }, MTU: { signature: 'q', value: 1500 } },
    },
    Nameservers: { signature: 'as', value: ['198.51.100.53'] },
  };
}

function techProps(type: string): PropDict {
  return {
    Name: { signature: 's', value: 'Wired' },
    Type: { signature: 's', value: type },
    Powered: { signature: 'b', value: true },
    Connected: { signature: 'b', value: true },
    Tethering: { signature: 'b', value: false },
  };
}

/**
 * The manager role of {@link MockTransport}: services, technologies, the Manager's properties and
 * switches, and the session list, answered by the mock daemon as netsessiond would.
 */
import type { NetsessionError } from '../errors.js';
import type {
  ManagerProperties,
  ServiceInfo,
  ServicesListener,
  SessionListEntry,
  TechnologyInfo,
  WatchServicesOptions,
} from '../manager-transport.js';
import { type Bearer, errorName, type ManagerState, technologyPath } from '../protocol.js';
import { decodeUpdate, EMPTY_INFO, mergeUpdate } from '../settings.js';
import { type MockDaemon, servicePathOf } from './mock-daemon.js';

const TECH_NAMES: Record<Bearer, string> = {
  ethernet: 'Wired',
  wifi: 'WiFi',
  bluetooth: 'Bluetooth',
  cellular: 'Cellular',
  gadget: 'Gadget',
  vpn: 'VPN',
};

export function services(d: MockDaemon): Promise<readonly ServiceInfo[]> {
  return d.run('GetServices', null, [], () => d.serviceList());
}

export function managerProperties(d: MockDaemon): Promise<ManagerProperties> {
  return d.run('GetProperties', null, [], () => {
    const up = d.enabledUplinks();
    const state: ManagerState = d.offline
      ? 'offline'
      : up.some((u) => (u.state ?? 'online') === 'online')
        ? 'online'
        : up.length
          ? 'ready'
          : 'idle';
    return Object.freeze({ state, offlineMode: d.offline, sessionMode: false });
  });
}

export function setOfflineMode(d: MockDaemon, offline: boolean): Promise<void> {
  return d.run('SetProperty', null, ['OfflineMode', offline], () => {
    d.rootOnly('SetProperty');
    if (d.offline === offline) return;
    d.offline = offline;
    d.uplinksChanged();
  });
}

export function technologies(d: MockDaemon): Promise<readonly TechnologyInfo[]> {
  return d.run('GetTechnologies', null, [], () => {
    const out: TechnologyInfo[] = [];
    for (const u of d.uplinks) {
      if (out.some((t) => t.type === u.bearer)) continue;
      const powered = !d.unpowered.has(u.bearer);
      const connected = powered && !d.offline && d.uplinks.some((x) => x.bearer === u.bearer);
      out.push(
        Object.freeze({
          path: technologyPath(u.bearer),
          type: u.bearer,
          name: TECH_NAMES[u.bearer],
          powered,
          connected,
          tethering: false,
        }),
      );
    }
    return Object.freeze(out);
  });
}

export function setTechnologyPowered(d: MockDaemon, type: string, powered: boolean): Promise<void> {
  return d.run('SetProperty', `/net/connman/technology/${type}`, ['Powered', powered], () => {
    d.rootOnly('SetProperty');
    if (!d.uplinks.some((u) => u.bearer === type))
      throw d.error('SetProperty', 'org.freedesktop.DBus.Error.UnknownObject', `no technology ${type}`);
    if (powered === !d.unpowered.has(type))
      throw d.error(
        'SetProperty',
        errorName(powered ? 'AlreadyEnabled' : 'AlreadyDisabled'),
        `${type} is already ${powered ? 'enabled' : 'disabled'}`,
      );
    if (powered) d.unpowered.delete(type);
    else d.unpowered.add(type);
    d.uplinksChanged();
  });
}

export function listSessions(d: MockDaemon): Promise<readonly SessionListEntry[]> {
  return d.run('ListSessions', null, [], () => {
    d.extension('ListSessions', 'ListSessions');
    d.rootOnly('ListSessions');
    const counted = d.capabilities?.includes('Statistics') ?? false;
    return Object.freeze(
      d.liveSessions.map((s) =>
        Object.freeze({
          path: s.path,
          owner: ':1.1',
          uid: d.uid,
          service: s.settings.Interface ? servicePathOf(s.settings.Interface) : null,
          policyGroup: d.policy?.group ?? null,
          active: s.active,
          cgroups: Object.freeze([...s.cgroups]),
          settings: mergeUpdate(EMPTY_INFO, decodeUpdate(s.settings)).info,
          rxBytes: counted ? s.statistics.rxBytes : null,
          txBytes: counted ? s.statistics.txBytes : null,
        }),
      ),
    );
  });
}

export function watchServices(
  d: MockDaemon,
  listener: ServicesListener,
  onError: ((error: NetsessionError) => void) | undefined,
  options: WatchServicesOptions,
): () => void {
  d.watchers.add(listener);
  const first =
    options.forSession && !d.closed ? Promise.resolve(d.running ? d.serviceList() : Object.freeze([])) : services(d);
  first.then(
    (list) => {
      if (d.watchers.has(listener)) listener(list);
    },
    (err: unknown) => {
      if (d.watchers.has(listener)) onError?.(err as NetsessionError);
    },
  );
  return () => {
    d.watchers.delete(listener);
  };
}

/**
 * ConnMan's wire values and the wire module's Variants: encoding CreateSession/Change values with their
 * exact signatures, decoding Update dicts and GetStatistics. A key whose signature is not
 * ConnMan's is dropped rather than trusted (a strict client, as ConnMan's own tools are).
 */

import type { ManagerProperties, ServiceInfo, SessionListEntry, TechnologyInfo } from '../manager-transport.js';
import {
  BEARERS,
  type Bearer,
  CREATE_SETTING_SIGNATURES,
  type IPv4Settings,
  type IPv6Settings,
  MANAGER_STATES,
  type ManagerState,
  type RequestKey,
  SERVICE_STATES,
  SETTING_SIGNATURES,
  type ServiceState,
  type SessionSettings,
  STATISTICS_KEYS,
  servicePath,
} from '../protocol.js';
import { decodeUpdate, EMPTY_INFO, ipv4Info, ipv6Info, mergeUpdate } from '../settings.js';
import type { SessionRequest, SessionStatistics } from '../transport.js';
import { type ServiceStatusDict, uplinkPropertiesOfService } from '../uplink-props.js';
import { Variant } from './message.js';

/** A D-Bus variant as the wire module reads and writes it. */
export type DBusVariant = Variant;

/** One setting as the Variant CreateSession's dict and Change take. */
export function encodeSetting(key: RequestKey, value: unknown): DBusVariant {
  return new Variant(CREATE_SETTING_SIGNATURES[key], Array.isArray(value) ? [...value] : value);
}

/** CreateSession's `a{sv}`. */
export function encodeRequest(request: SessionRequest): Record<string, DBusVariant> {
  const out: Record<string, DBusVariant> = {};
  for (const [key, value] of Object.entries(request)) {
    if (value !== undefined) out[key] = encodeSetting(key as RequestKey, value);
  }
  return out;
}

function isVariant(v: unknown): v is DBusVariant {
  return v instanceof Variant;
}

function plainDict(v: unknown): Record<string, unknown> | null {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return null;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = isVariant(x) ? x.value : x;
  return out;
}

function valueFits(signature: string, value: unknown): boolean {
  switch (signature) {
    case 's':
      return typeof value === 'string';
    case 'b':
      return typeof value === 'boolean';
    case 'as':
      return Array.isArray(value) && value.every((x) => typeof x === 'string');
    case 'a{sv}':
      return value !== null && typeof value === 'object' && !Array.isArray(value);
    default:
      return false;
  }
}

/** Decodes an Update's `a{sv}`: known keys with ConnMan's signature, nested dicts unwrapped. */
export function decodeSettings(dict: unknown): Partial<SessionSettings> {
  const out: Record<string, unknown> = {};
  if (!dict || typeof dict !== 'object') return out;
  for (const [key, v] of Object.entries(dict as Record<string, unknown>)) {
    if (!Object.hasOwn(SETTING_SIGNATURES, key) || !isVariant(v)) continue;
    const signature = SETTING_SIGNATURES[key as keyof typeof SETTING_SIGNATURES];
    if (v.signature !== signature || !valueFits(signature, v.value)) continue;
    out[key] = signature === 'a{sv}' ? plainDict(v.value) : v.value;
  }
  return out as Partial<SessionSettings>;
}

/** Decodes GetStatistics' `a{sv}` (every value a `t`, i.e. a BigInt); missing counters are 0. */
export function decodeStatistics(dict: unknown): SessionStatistics {
  const d = (dict && typeof dict === 'object' ? dict : {}) as Record<string, unknown>;
  const get = (key: string): bigint => {
    const v = d[key];
    const x = isVariant(v) ? v.value : v;
    return typeof x === 'bigint' ? x : typeof x === 'number' ? BigInt(x) : 0n;
  };
  return {
    rxBytes: get(STATISTICS_KEYS.rxBytes),
    txBytes: get(STATISTICS_KEYS.txBytes),
    rxPackets: get(STATISTICS_KEYS.rxPackets),
    txPackets: get(STATISTICS_KEYS.txPackets),
  };
}

/** A service's property dict with its Variants unwrapped (nested dicts too, one level). */
export type ServiceProps = Record<string, unknown>;

/** Unwraps a Service's `a{sv}` (GetServices, ServicesChanged); anything else gives `{}`. */
export function decodeServiceProps(dict: unknown): ServiceProps {
  const out: ServiceProps = {};
  if (!dict || typeof dict !== 'object' || Array.isArray(dict)) return out;
  for (const [k, v] of Object.entries(dict as Record<string, unknown>)) {
    const x = isVariant(v) ? v.value : v;
    out[k] = x && typeof x === 'object' && !Array.isArray(x) && !Buffer.isBuffer(x) ? plainDict(x) : x;
  }
  return out;
}

/** A nested dict from decodeServiceProps, or `{}` for anything else. */
const dictOf = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

/** The SDK's view of one service from its properties and, from netsessiond, its status dict. */
export function toServiceInfo(path: string, props: ServiceProps, status?: ServiceStatusDict): ServiceInfo {
  const ethernet = props.Ethernet as Record<string, unknown> | null | undefined;
  const ifname =
    ethernet && typeof ethernet.Interface === 'string' && ethernet.Interface !== '' ? ethernet.Interface : null;
  const type = props.Type;
  const state = props.State;
  return Object.freeze({
    path,
    name: typeof props.Name === 'string' ? props.Name : '',
    interface: ifname,
    bearer: BEARERS.includes(type as Bearer) ? (type as Bearer) : null,
    state: SERVICE_STATES.includes(state as ServiceState) ? (state as ServiceState) : 'idle',
    ipv4: ipv4Info(dictOf(props.IPv4) as IPv4Settings),
    ipv6: ipv6Info(dictOf(props.IPv6) as IPv6Settings),
    ...uplinkPropertiesOfService(props, status),
  });
}

/** The Service properties the SDK follows through `PropertyChanged` (the rest comes with ServicesChanged). */
const FOLLOWED_SERVICE_PROPERTIES: ReadonlySet<string> = new Set([
  'Nameservers',
  'Nameservers.Configuration',
  'Roaming',
]);

/**
 * A service's `PropertyChanged(s, v)` applied to a list of services: the new list, or null when
 * it changes nothing the SDK follows (another property, an unknown service, a malformed signal).
 */
export function applyServiceProperty(
  list: ReadonlyArray<[string, ServiceProps]>,
  path: string,
  signature: string | undefined,
  body: readonly unknown[],
): Array<[string, ServiceProps]> | null {
  const [name, value] = body;
  if (signature !== 'sv' || typeof name !== 'string' || !FOLLOWED_SERVICE_PROPERTIES.has(name)) return null;
  const i = list.findIndex(([p]) => p === path);
  if (i < 0) return null;
  const next = [...list];
  next[i] = [path, { ...list[i]![1], ...decodeServiceProps({ [name]: value }) }];
  return next;
}

/** Decodes GetServices' `a(oa{sv})` into paths and property dicts, in the daemon's order. */
export function decodeServiceList(list: unknown): Array<[string, ServiceProps]> {
  if (!Array.isArray(list)) return [];
  const out: Array<[string, ServiceProps]> = [];
  for (const entry of list) {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string') continue;
    out.push([entry[0], decodeServiceProps(entry[1])]);
  }
  return out;
}

/** GetPolicy's `a{sv}`: the `Group` name, `null` when empty or absent. */
export function decodePolicyGroup(dict: unknown): string | null {
  const g = decodeServiceProps(dict).Group;
  return typeof g === 'string' && g !== '' ? g : null;
}

/** Manager.GetProperties' `a{sv}`; unknown values fall back to ConnMan's defaults. */
export function decodeManagerProps(dict: unknown): ManagerProperties {
  const p = decodeServiceProps(dict);
  const state = MANAGER_STATES.includes(p.State as ManagerState) ? (p.State as ManagerState) : 'idle';
  return Object.freeze({ state, offlineMode: p.OfflineMode === true, sessionMode: p.SessionMode === true });
}

/** GetTechnologies' `a(oa{sv})`, in the daemon's order. */
export function decodeTechnologyList(list: unknown): TechnologyInfo[] {
  return decodeServiceList(list).map(([path, p]) =>
    Object.freeze({
      path,
      type: typeof p.Type === 'string' ? p.Type : path.slice(path.lastIndexOf('/') + 1),
      name: typeof p.Name === 'string' ? p.Name : '',
      powered: p.Powered === true,
      connected: p.Connected === true,
      tethering: p.Tethering === true,
    }),
  );
}

function bigintOrNull(v: unknown): bigint | null {
  return typeof v === 'bigint' ? v : typeof v === 'number' ? BigInt(v) : null;
}

/** ListSessions' `a(oa{sv})`: each session's properties, its `Settings` decoded like an Update. */
export function decodeSessionList(list: unknown): SessionListEntry[] {
  if (!Array.isArray(list)) return [];
  const out: SessionListEntry[] = [];
  for (const entry of list) {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string' || !entry[1] || typeof entry[1] !== 'object') continue;
    const raw = entry[1] as Record<string, unknown>;
    const p = decodeServiceProps(raw);
    const settingsVariant = raw.Settings;
    const wire = decodeSettings(isVariant(settingsVariant) ? settingsVariant.value : undefined);
    const cgroups = Array.isArray(p.Cgroups) ? p.Cgroups.filter((c): c is string => typeof c === 'string') : [];
    out.push(
      Object.freeze({
        path: entry[0],
        owner: typeof p.Owner === 'string' ? p.Owner : '',
        uid: typeof p.UID === 'number' ? p.UID : -1,
        service: typeof p.Service === 'string' && p.Service !== '' ? servicePath(p.Service) : null,
        policyGroup: typeof p.PolicyGroup === 'string' && p.PolicyGroup !== '' ? p.PolicyGroup : null,
        active: p.Active === true,
        cgroups: Object.freeze(cgroups),
        settings: mergeUpdate(EMPTY_INFO, decodeUpdate(wire)).info,
        rxBytes: bigintOrNull(p[STATISTICS_KEYS.rxBytes]),
        txBytes: bigintOrNull(p[STATISTICS_KEYS.txBytes]),
      }),
    );
  }
  return out;
}

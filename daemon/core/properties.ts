/**
 * ConnMan property dicts (with D-Bus signatures) for the Manager, Service and Technology
 * objects, and session settings as Update dicts. Pure: the bus adapter only encodes them.
 */
import {
  IPV4_SIGNATURES,
  IPV6_SIGNATURES,
  type ManagerState,
  SETTING_SIGNATURES,
  type SessionSettings,
  type SettingKey,
} from '../../lib/protocol.js';
import type { TechnologyView } from './service-registry.js';
import { ipv4Dict, ipv6Dict, type Service } from './services.js';

/** A ConnMan property value with its D-Bus signature (e.g. `{ signature: 'b', value: true }`). */
export interface Prop {
  signature: string;
  value: unknown;
}

/** A property dict (`a{sv}`), keys in the order they should go on the wire. */
export type PropDict = Record<string, Prop>;

function dictOf(values: Record<string, unknown>, signatures: Record<string, string>): PropDict {
  const out: PropDict = {};
  for (const [k, v] of Object.entries(values))
    if (v !== undefined) out[k] = { signature: signatures[k] ?? 's', value: v };
  return out;
}

/** One session setting as a Prop. */
export function settingProp(key: SettingKey, value: SessionSettings[SettingKey]): Prop {
  if (key === 'IPv4') return { signature: 'a{sv}', value: dictOf(value as Record<string, unknown>, IPV4_SIGNATURES) };
  if (key === 'IPv6') return { signature: 'a{sv}', value: dictOf(value as Record<string, unknown>, IPV6_SIGNATURES) };
  return { signature: SETTING_SIGNATURES[key], value };
}

/** An Update's changes as a PropDict, keeping wire order. */
export function updateDict(changes: ReadonlyMap<SettingKey, SessionSettings[SettingKey]>): PropDict {
  const out: PropDict = {};
  for (const [k, v] of changes) out[k] = settingProp(k, v);
  return out;
}

/** Manager.GetProperties. SessionMode is deprecated in ConnMan and has no effect; it is kept for old clients. */
export function managerProps(state: ManagerState, offlineMode: boolean, sessionMode: boolean): PropDict {
  return {
    State: { signature: 's', value: state },
    OfflineMode: { signature: 'b', value: offlineMode },
    SessionMode: { signature: 'b', value: sessionMode },
  };
}

const EMPTY_DICT: Prop = { signature: 'a{sv}', value: {} };
const EMPTY_LIST: Prop = { signature: 'as', value: [] };

/** Service.GetProperties, with ConnMan's keys and signatures. */
/** `favorite`/`autoConnect`: persisted flags of managed services; observed ones report `connected` for both. */
export function serviceProps(s: Service, favorite: boolean, autoConnect = favorite): PropDict {
  const v4 = ipv4Dict(s);
  const v6 = ipv6Dict(s);
  const props: PropDict = {
    Type: { signature: 's', value: s.bearer },
    Security: EMPTY_LIST,
    State: { signature: 's', value: s.state },
    // ConnMan sends Error only while there is one (and signals '' when it clears).
    ...(s.error ? { Error: { signature: 's', value: s.error } } : {}),
    Favorite: { signature: 'b', value: favorite },
    Immutable: { signature: 'b', value: false },
    AutoConnect: { signature: 'b', value: autoConnect },
    Name: { signature: 's', value: s.ifname },
    Ethernet: {
      signature: 'a{sv}',
      value: {
        Method: { signature: 's', value: 'auto' },
        Interface: { signature: 's', value: s.ifname },
        Address: { signature: 's', value: s.mac.toUpperCase() },
        MTU: { signature: 'q', value: Math.min(s.mtu, 0xffff) },
      },
    },
    IPv4: { signature: 'a{sv}', value: dictOf(v4 as Record<string, unknown>, IPV4_SIGNATURES) },
    'IPv4.Configuration': {
      signature: 'a{sv}',
      value: v4.Method ? { Method: { signature: 's', value: v4.Method === 'dhcp' ? 'dhcp' : 'manual' } } : {},
    },
    IPv6: { signature: 'a{sv}', value: dictOf(v6 as Record<string, unknown>, IPV6_SIGNATURES) },
    'IPv6.Configuration': {
      signature: 'a{sv}',
      value: v6.Method
        ? {
            Method: { signature: 's', value: v6.Method === 'manual' ? 'manual' : 'auto' },
            Privacy: { signature: 's', value: 'disabled' },
          }
        : {},
    },
    Nameservers: { signature: 'as', value: [...s.nameservers] },
    'Nameservers.Configuration': EMPTY_LIST,
    Timeservers: EMPTY_LIST,
    'Timeservers.Configuration': EMPTY_LIST,
    Domains: EMPTY_LIST,
    'Domains.Configuration': EMPTY_LIST,
    Proxy: { signature: 'a{sv}', value: { Method: { signature: 's', value: 'direct' } } },
    'Proxy.Configuration': EMPTY_DICT,
    mDNS: { signature: 'b', value: false },
    'mDNS.Configuration': { signature: 'b', value: false },
    Provider: EMPTY_DICT,
  };
  return props;
}

/** Technology.GetProperties. */
export function technologyProps(t: TechnologyView): PropDict {
  return {
    Name: { signature: 's', value: t.name },
    Type: { signature: 's', value: t.type },
    Powered: { signature: 'b', value: t.powered },
    Connected: { signature: 'b', value: t.connected },
    Tethering: { signature: 'b', value: false },
  };
}

/**
 * Properties whose value differs between two dicts, as PropertyChanged signals carry them. A key
 * that disappeared (ConnMan omits an empty Error) is signalled with its empty value.
 */
export function changedProps(before: PropDict | undefined, after: PropDict): Array<[string, Prop]> {
  if (!before) return [];
  const out: Array<[string, Prop]> = [];
  for (const [k, p] of Object.entries(after)) if (JSON.stringify(before[k]) !== JSON.stringify(p)) out.push([k, p]);
  for (const [k, p] of Object.entries(before))
    if (!(k in after)) out.push([k, { signature: p.signature, value: emptyOf(p.signature) }]);
  return out;
}

function emptyOf(signature: string): unknown {
  if (signature === 's' || signature === 'o') return signature === 's' ? '' : '/';
  if (signature === 'b') return false;
  if (signature.startsWith('a{')) return {};
  if (signature.startsWith('a')) return [];
  return 0;
}

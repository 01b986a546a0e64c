/**
 * The session's settings as apps read them: ConnMan's 11 Update keys under camelCase names, with
 * "nothing" as `null` instead of ConnMan's `""` and `{}`. Decoding and merging Updates is pure
 * and lives here; the Session only holds the result.
 */
import type {
  Bearer,
  ConnectionType,
  IPv4Settings,
  IPv6Settings,
  IpMethod,
  SessionSettings,
  SessionState,
  SettingKey,
} from './protocol.js';
import { NO_UPLINK_PROPERTIES, type UplinkProperties } from './uplink-props.js';

/** The IPv4 configuration of the session's uplink. */
export interface IPv4Info {
  readonly method?: IpMethod;
  /** The uplink's address; sockets bound to it leave through the session's uplink (with `sourceIPRule`). */
  readonly address?: string;
  /** Dotted-quad netmask. */
  readonly netmask?: string;
  readonly gateway?: string;
}

/** The IPv6 configuration of the session's uplink. */
export interface IPv6Info {
  readonly method?: IpMethod;
  readonly address?: string;
  readonly prefixLength?: number;
  readonly gateway?: string;
  /** ConnMan's spelling, `prefered` included. */
  readonly privacy?: 'disabled' | 'enabled' | 'prefered';
}

/**
 * Everything a session knows, always complete. The first six describe the uplink the daemon
 * bound the session to (all `null` while it has none); the next five are the effective settings
 * (after the daemon's policy); the {@link UplinkProperties} (`nameservers`, `metered`, `roaming`,
 * `captivePortal`, `portalUrl`) are the bound uplink's, from the daemon's service list.
 */
export interface SessionInfo extends UplinkProperties {
  /** `disconnected` (no uplink), `connected` (an uplink, internet not verified) or `online`. */
  readonly state: SessionState;
  /** Name of the bound service (netsessiond: the interface name; connmand: SSID, operator, `Wired`). */
  readonly name: string | null;
  /** IPv4 of the bound uplink; `null` when it has none usable. */
  readonly ipv4: IPv4Info | null;
  /** IPv6 of the bound uplink; `null` when it has none usable. */
  readonly ipv6: IPv6Info | null;
  /** Interface name of the bound uplink, e.g. `wwan0`. */
  readonly interface: string | null;
  /** Bearer of the bound uplink. */
  readonly bearer: Bearer | null;
  /** `null` only when connmand reports a type it did not recognise. */
  readonly connectionType: ConnectionType | null;
  /** The effective bearer list (policy applied, `*` expanded). */
  readonly allowedBearers: readonly Bearer[];
  /** The interface the session is restricted to, or `'*'` for any. */
  readonly allowedInterface: string;
  readonly contextIdentifier: string;
  readonly sourceIPRule: boolean;
}

/** Some keys of {@link SessionInfo}: what one Update changed. */
export type SessionUpdate = Partial<SessionInfo>;

/** Each ConnMan Update key's camelCase name. */
export const INFO_KEYS = {
  State: 'state',
  Name: 'name',
  IPv4: 'ipv4',
  IPv6: 'ipv6',
  Interface: 'interface',
  Bearer: 'bearer',
  ConnectionType: 'connectionType',
  AllowedBearers: 'allowedBearers',
  AllowedInterface: 'allowedInterface',
  ContextIdentifier: 'contextIdentifier',
  SourceIPRule: 'sourceIPRule',
} as const satisfies Record<SettingKey, keyof SessionInfo>;

/** What a session reports before its first Update, and after it ended. */
export const EMPTY_INFO: SessionInfo = Object.freeze({
  state: 'disconnected',
  name: null,
  ipv4: null,
  ipv6: null,
  interface: null,
  bearer: null,
  connectionType: 'any',
  allowedBearers: Object.freeze([]) as readonly Bearer[],
  allowedInterface: '*',
  contextIdentifier: '',
  sourceIPRule: false,
  ...NO_UPLINK_PROPERTIES,
});

/** The keys that describe the bound uplink (cleared together when a session ends). */
export const UPLINK_INFO: SessionUpdate = Object.freeze({
  state: 'disconnected',
  name: null,
  ipv4: null,
  ipv6: null,
  interface: null,
  bearer: null,
  ...NO_UPLINK_PROPERTIES,
});

/** ConnMan's `IPv4` dict (a session's or a service's) in the SDK's form; `null` when empty. */
export function ipv4Info(s: IPv4Settings): IPv4Info | null {
  const out: { -readonly [K in keyof IPv4Info]: IPv4Info[K] } = {};
  if (s.Method !== undefined) out.method = s.Method;
  if (s.Address !== undefined) out.address = s.Address;
  if (s.Netmask !== undefined) out.netmask = s.Netmask;
  if (s.Gateway !== undefined) out.gateway = s.Gateway;
  return Object.keys(out).length ? Object.freeze(out) : null;
}

/** ConnMan's `IPv6` dict (a session's or a service's) in the SDK's form; `null` when empty. */
export function ipv6Info(s: IPv6Settings): IPv6Info | null {
  const out: { -readonly [K in keyof IPv6Info]: IPv6Info[K] } = {};
  if (s.Method !== undefined) out.method = s.Method;
  if (s.Address !== undefined) out.address = s.Address;
  if (s.PrefixLength !== undefined) out.prefixLength = s.PrefixLength;
  if (s.Gateway !== undefined) out.gateway = s.Gateway;
  if (s.Privacy !== undefined) out.privacy = s.Privacy;
  return Object.keys(out).length ? Object.freeze(out) : null;
}

const orNull = <T extends string>(s: T | ''): T | null => (s === '' ? null : s);

/** Converts the keys of one Update (wire form) to their camelCase form. */
export function decodeUpdate(wire: Partial<SessionSettings>): SessionUpdate {
  const out: { -readonly [K in keyof SessionInfo]?: SessionInfo[K] } = {};
  if (wire.State !== undefined) out.state = wire.State;
  if (wire.Name !== undefined) out.name = orNull(wire.Name);
  if (wire.IPv4 !== undefined) out.ipv4 = ipv4Info(wire.IPv4);
  if (wire.IPv6 !== undefined) out.ipv6 = ipv6Info(wire.IPv6);
  if (wire.Interface !== undefined) out.interface = orNull(wire.Interface);
  if (wire.Bearer !== undefined) out.bearer = orNull(wire.Bearer);
  if (wire.ConnectionType !== undefined) out.connectionType = orNull(wire.ConnectionType);
  if (wire.AllowedBearers !== undefined) out.allowedBearers = Object.freeze([...wire.AllowedBearers]);
  if (wire.AllowedInterface !== undefined)
    out.allowedInterface = wire.AllowedInterface === '' ? '*' : wire.AllowedInterface;
  if (wire.ContextIdentifier !== undefined) out.contextIdentifier = wire.ContextIdentifier;
  if (wire.SourceIPRule !== undefined) out.sourceIPRule = wire.SourceIPRule;
  return out;
}

function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every(
    (k) => Object.hasOwn(b, k) && same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
  );
}

/**
 * Applies `update` to `info`: returns the new (frozen) info and the keys whose value really
 * changed (ConnMan resends unchanged keys in some cases, e.g. the whole service group on a move).
 */
export function mergeUpdate(info: SessionInfo, update: SessionUpdate): { info: SessionInfo; changed: SessionUpdate } {
  const changed: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(update)) {
    if (value === undefined) continue;
    if (!same((info as unknown as Record<string, unknown>)[key], value)) changed[key] = value;
  }
  if (Object.keys(changed).length === 0) return { info, changed: {} };
  return { info: Object.freeze({ ...info, ...changed }) as SessionInfo, changed: changed as SessionUpdate };
}

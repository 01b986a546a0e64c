/**
 * Update computation: the first Update carries every key in ConnMan's order; later ones carry
 * only the keys whose value changed, in the same order. When the bound service changes
 * (Name, Interface or Bearer differ) the whole service group (Name, IPv4, IPv6, Interface,
 * Bearer) goes out together, as ConnMan does; an address change on the same service sends only
 * IPv4 or IPv6 (ConnMan's IP-only Update).
 *
 * Settings are kept in two halves: the service half (State and the service group, identical
 * for every session bound to one service) and the session's own half. A failover that moves
 * thousands of sessions computes the service-half delta once and shares it.
 */
import { SETTING_KEYS, type SessionSettings, type SettingKey } from '../../lib/protocol.js';

/** Ordered changes: iteration order is wire order. Treat as read-only: it may be shared. */
export type SettingsDelta = ReadonlyMap<SettingKey, SessionSettings[SettingKey]>;

/** The keys that derive from the bound service. */
export type ServicePart = Pick<SessionSettings, 'State' | 'Name' | 'IPv4' | 'IPv6' | 'Interface' | 'Bearer'>;
/** The keys that derive from the session's own settings. */
export type OwnPart = Pick<
  SessionSettings,
  'ConnectionType' | 'AllowedBearers' | 'AllowedInterface' | 'ContextIdentifier' | 'SourceIPRule'
>;

const SERVICE_KEYS = ['State', 'Name', 'IPv4', 'IPv6', 'Interface', 'Bearer'] as const;
const OWN_KEYS = ['ConnectionType', 'AllowedBearers', 'AllowedInterface', 'ContextIdentifier', 'SourceIPRule'] as const;

/** Structural equality for the plain values settings hold (strings, booleans, arrays, flat dicts). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return (
      ka.length === kb.length &&
      ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
    );
  }
  return false;
}

/** Every key, in wire order (the first Update). */
export function fullUpdate(current: SessionSettings): SettingsDelta {
  return fullUpdateOf(current, current);
}

const FROM_SERVICE: ReadonlySet<SettingKey> = new Set(SERVICE_KEYS);

/** {@link fullUpdate} from the two halves, without first merging them into one object (a create's first Update). */
export function fullUpdateOf(service: ServicePart, own: OwnPart): SettingsDelta {
  const out = new Map<SettingKey, SessionSettings[SettingKey]>();
  for (const k of SETTING_KEYS)
    out.set(k, FROM_SERVICE.has(k) ? service[k as keyof ServicePart] : own[k as keyof OwnPart]);
  return out;
}

/** Changed keys of the service half, with the group rule applied. */
export function serviceDelta(
  last: ServicePart,
  current: ServicePart,
): Array<[SettingKey, SessionSettings[SettingKey]]> {
  if (last === current) return [];
  const serviceMoved =
    last.Name !== current.Name || last.Interface !== current.Interface || last.Bearer !== current.Bearer;
  const out: Array<[SettingKey, SessionSettings[SettingKey]]> = [];
  for (const k of SERVICE_KEYS) {
    if ((serviceMoved && k !== 'State') || !sameValue(last[k], current[k])) out.push([k, current[k]]);
  }
  return out;
}

/** Changed keys of the session's own half. */
export function ownDelta(last: OwnPart, current: OwnPart): Array<[SettingKey, SessionSettings[SettingKey]]> {
  if (last === current) return [];
  const out: Array<[SettingKey, SessionSettings[SettingKey]]> = [];
  for (const k of OWN_KEYS) if (!sameValue(last[k], current[k])) out.push([k, current[k]]);
  return out;
}

/** Only what changed since `last`; an empty map means no Update is due. */
export function deltaUpdate(last: SessionSettings, current: SessionSettings): SettingsDelta {
  // Service keys all precede own keys in wire order, so concatenation keeps the order.
  return new Map([...serviceDelta(last, current), ...ownDelta(last, current)]);
}

/**
 * What a session knows of its uplink beyond ConnMan's Update: the nameservers, metered, roaming
 * and captive-portal state of the service it is bound to. ConnMan's Update has no key for them
 * (and strict ConnMan clients reject unknown keys), so the SDK joins the session's `interface`
 * with the daemon's service list: `Nameservers` is ConnMan's own Service property (connmand has
 * it too); metered, roaming and the portal come from netsessiond's service status extension, and
 * are `null` where the daemon does not say. Pure.
 */
import { SERVICE_STATUS_KEYS } from './protocol.js';

/** The uplink keys the SDK adds to a session's info. */
export interface UplinkProperties {
  /**
   * The DNS servers of the uplink (IPv4 and IPv6, as the daemon reports the service's
   * `Nameservers`), `[]` when it has none or the session has no uplink.
   */
  readonly nameservers: readonly string[];
  /** The uplink bills by volume (Android's METERED, Apple's `isExpensive`); `null`: the daemon does not say. */
  readonly metered: boolean | null;
  /** The uplink is roaming; `null`: the daemon does not say. */
  readonly roaming: boolean | null;
  /** The daemon's online check met a captive portal on the uplink; `null`: the daemon does not say. */
  readonly captivePortal: boolean | null;
  /** The portal's URL when known, else `null`. */
  readonly portalUrl: string | null;
}

/** What a session reports with no uplink. */
export const NO_UPLINK_PROPERTIES: UplinkProperties = Object.freeze({
  nameservers: Object.freeze([]) as readonly string[],
  metered: null,
  roaming: null,
  captivePortal: null,
  portalUrl: null,
});

/** The status extension's dict as a service carries it (values unwrapped); absent keys stay unknown. */
export type ServiceStatusDict = Readonly<Record<string, unknown>>;

const strings = (v: unknown): string[] | null =>
  Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : null;
const bool = (v: unknown): boolean | null => (typeof v === 'boolean' ? v : null);

/**
 * A service's uplink properties from its ConnMan properties (`Nameservers`, falling back to
 * `Nameservers.Configuration`; connmand's cellular `Roaming`) and netsessiond's status dict, if any.
 */
export function uplinkPropertiesOfService(
  props: Readonly<Record<string, unknown>>,
  status: ServiceStatusDict | undefined,
): UplinkProperties {
  const K = SERVICE_STATUS_KEYS;
  const inUse = strings(props.Nameservers);
  const configured = strings(props['Nameservers.Configuration']);
  const nameservers = inUse && inUse.length > 0 ? inUse : (configured ?? []);
  const portal = status ? bool(status[K.captivePortal]) : null;
  const url =
    status && typeof status[K.portalUrl] === 'string' && status[K.portalUrl] !== ''
      ? (status[K.portalUrl] as string)
      : null;
  return Object.freeze({
    nameservers: Object.freeze([...nameservers]),
    metered: status ? bool(status[K.metered]) : null,
    roaming: (status ? bool(status[K.roaming]) : null) ?? bool(props.Roaming),
    captivePortal: portal,
    portalUrl: portal ? url : null,
  });
}

/** The uplink properties of the service bound to `iface` (none while the session has no uplink or the service is not listed). */
export function uplinkPropertiesFor(
  services: readonly (UplinkProperties & { readonly interface: string | null })[],
  iface: string | null,
): UplinkProperties {
  if (iface === null) return NO_UPLINK_PROPERTIES;
  const s = services.find((x) => x.interface === iface);
  if (!s) return NO_UPLINK_PROPERTIES;
  return {
    nameservers: s.nameservers,
    metered: s.metered,
    roaming: s.roaming,
    captivePortal: s.captivePortal,
    portalUrl: s.portalUrl,
  };
}

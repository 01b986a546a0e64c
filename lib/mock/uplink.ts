/**
 * Uplinks for the mock daemon, and the daemon's selection rule applied to them: which uplink a
 * session gets for its settings (netsessiond's rule B1 in docs/behaviour.md: the session's
 * bearer order first, then online before connected, then the uplinks' order).
 */
import {
  type Bearer,
  DEFAULT_BEARERS,
  type IPv4Settings,
  type IPv6Settings,
  type SessionSettings,
} from '../protocol.js';

/** An uplink of the mock daemon (what a service is to netsessiond). */
export interface MockUplink {
  /** Interface name, e.g. `wwan0`. */
  interface: string;
  bearer: Bearer;
  /** `online` (default) or `connected` (up, internet not verified). */
  state?: 'online' | 'connected';
  /** Service name; default the interface name (as netsessiond reports it). */
  name?: string;
  /** `'198.51.100.7'`, `'198.51.100.7/24'` (adds the netmask), or ConnMan's dict. */
  ipv4?: string | IPv4Settings;
  /** `'2001:db8::7'`, `'2001:db8::7/64'` (adds the prefix length), or ConnMan's dict. */
  ipv6?: string | IPv6Settings;
  /** Its DNS servers (the service's `Nameservers`); default none. */
  nameservers?: readonly string[];
  /** Bills by volume; default: cellular is metered, the rest is not (netsessiond's rule). */
  metered?: boolean;
  /** Roaming; default false. */
  roaming?: boolean;
  /** The online check met a captive portal; default false. */
  captivePortal?: boolean;
  /** The portal's URL, when `captivePortal`. */
  portalUrl?: string;
}

/** Whether sessions with AvoidMetered count `u` as metered. */
export function isMetered(u: MockUplink): boolean {
  return u.metered ?? u.bearer === 'cellular';
}

/** The Update keys that describe the bound uplink. */
export type UplinkGroup = Pick<SessionSettings, 'State' | 'Name' | 'IPv4' | 'IPv6' | 'Interface' | 'Bearer'>;

/** What a session reports without an uplink. */
export const NO_UPLINK: Readonly<UplinkGroup> = Object.freeze({
  State: 'disconnected',
  Name: '',
  IPv4: {},
  IPv6: {},
  Interface: '',
  Bearer: '',
});

function netmask(prefix: number): string {
  const bits = prefix <= 0 ? 0 : (0xffffffff << (32 - Math.min(prefix, 32))) >>> 0;
  return [24, 16, 8, 0].map((s) => (bits >>> s) & 0xff).join('.');
}

function ipv4Dict(v: string | IPv4Settings | undefined): IPv4Settings {
  if (v === undefined) return {};
  if (typeof v !== 'string') return { ...v };
  const [address = '', prefix] = v.split('/');
  return prefix === undefined
    ? { Method: 'manual', Address: address }
    : { Method: 'manual', Address: address, Netmask: netmask(Number(prefix)) };
}

function ipv6Dict(v: string | IPv6Settings | undefined): IPv6Settings {
  if (v === undefined) return {};
  if (typeof v !== 'string') return { ...v };
  const [address = '', prefix] = v.split('/');
  return prefix === undefined
    ? { Method: 'manual', Address: address }
    : { Method: 'manual', Address: address, PrefixLength: Number(prefix) };
}

/** The Update keys for a session bound to `u`. */
export function uplinkGroup(u: MockUplink): UplinkGroup {
  return {
    State: u.state ?? 'online',
    Name: u.name ?? u.interface,
    IPv4: ipv4Dict(u.ipv4),
    IPv6: ipv6Dict(u.ipv6),
    Interface: u.interface,
    Bearer: u.bearer,
  };
}

/** AllowedBearers as the daemon reports it: `*` expanded in place, duplicates and `""` dropped. */
export function expandBearers(list: readonly string[]): Bearer[] {
  const out: Bearer[] = [];
  const push = (b: Bearer): void => {
    if (!out.includes(b)) out.push(b);
  };
  for (const b of list) {
    if (b === '*') DEFAULT_BEARERS.forEach(push);
    else if (b !== '') push(b as Bearer);
  }
  return out;
}

/** The uplink a session with these settings binds to, or null. */
export function selectUplink(
  settings: Pick<SessionSettings, 'AllowedBearers' | 'AllowedInterface' | 'ConnectionType'>,
  uplinks: readonly MockUplink[],
  avoidMetered = false,
): MockUplink | null {
  if (avoidMetered)
    return (
      pickUplink(
        settings,
        uplinks.filter((u) => !isMetered(u)),
      ) ?? pickUplink(settings, uplinks)
    );
  return pickUplink(settings, uplinks);
}

function pickUplink(
  settings: Pick<SessionSettings, 'AllowedBearers' | 'AllowedInterface' | 'ConnectionType'>,
  uplinks: readonly MockUplink[],
): MockUplink | null {
  const rank = (u: MockUplink) => settings.AllowedBearers.indexOf(u.bearer);
  const eligible = uplinks.filter(
    (u) =>
      rank(u) >= 0 &&
      (settings.AllowedInterface === '*' || settings.AllowedInterface === u.interface) &&
      (settings.ConnectionType !== 'internet' || (u.state ?? 'online') === 'online'),
  );
  const online = (u: MockUplink) => ((u.state ?? 'online') === 'online' ? 0 : 1);
  // Array.prototype.sort is stable: equal ranks keep the uplinks' order.
  eligible.sort((a, b) => rank(a) - rank(b) || online(a) - online(b));
  return eligible[0] ?? null;
}

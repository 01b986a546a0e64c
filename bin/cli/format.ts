/**
 * netsessionctl's output, human and JSON (pure). Human output is aligned tables and `key value`
 * lines for people; JSON keeps the SDK's field names, with byte and packet counts as numbers
 * (exact up to 2^53 bytes, 8 PiB; larger counts become strings rather than lose digits).
 */
import type {
  IPv4Info,
  IPv6Info,
  ManagerProperties,
  ServiceInfo,
  SessionInfo,
  SessionListEntry,
  SessionUpdate,
  TechnologyInfo,
} from '../../lib/index.js';
import {
  addressOf,
  columnTable,
  dash,
  SERVICE_COLUMNS,
  SESSION_COLUMNS,
  type ServiceDetail,
  STATS_COLUMNS,
  type StatsRow,
  TECHNOLOGY_COLUMNS,
  yesNo,
} from './columns.js';

export { humanBytes, prefixOf, type ServiceDetail, type StatsRow, table } from './columns.js';

/** `JSON.stringify` that writes bigints as numbers (strings beyond 2^53). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    typeof v === 'bigint'
      ? v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(v)
        : v.toString()
      : v,
  );
}

/** `state` as text. */
export function formatState(p: ManagerProperties): string {
  return [`State:        ${p.state}`, `OfflineMode:  ${p.offlineMode ? 'on' : 'off'}`].join('\n');
}

/** `services` as a table, in the daemon's order. */
export function formatServices(list: readonly ServiceInfo[]): string {
  return columnTable(SERVICE_COLUMNS, list);
}

/** How a service is named on one line: its interface, else its name, else its path. */
export const serviceLabel = (s: ServiceInfo): string => s.interface ?? (s.name || s.path);

/** The services as one line (monitor without a terminal): `services eth-a=online eth-b=idle`. */
export function servicesLine(list: readonly ServiceInfo[]): string {
  return list.length === 0 ? 'services none' : `services ${list.map((s) => `${serviceLabel(s)}=${s.state}`).join(' ')}`;
}

/** The sessions as one line (monitor without a terminal): `sessions /sessions/…/s1=online/eth-c`. */
export function sessionsLine(list: readonly SessionListEntry[]): string {
  return list.length === 0
    ? 'sessions none'
    : `sessions ${list.map((s) => `${s.path}=${s.settings.state}/${dash(s.settings.interface)}`).join(' ')}`;
}

/** `198.51.100.10/29 via 198.51.100.9 (dhcp)`, `-` without an address. */
function addressLine(a: IPv4Info | IPv6Info | null): string {
  const address = addressOf(a);
  if (!address) return '-';
  return `${address}${a?.gateway ? ` via ${a.gateway}` : ''}${a?.method ? ` (${a.method})` : ''}`;
}

/** One service in detail: `Key:  value` lines. */
export function formatServiceDetail(s: ServiceDetail): string {
  const rows: Array<[string, string]> = [
    ['Service', s.path],
    ['Name', dash(s.name)],
    ['Interface', dash(s.interface)],
    ['Bearer', dash(s.bearer)],
    ['State', s.state],
    ['Online', yesNo(s.state === 'online')],
    ['IPv4', addressLine(s.ipv4)],
    ['IPv6', addressLine(s.ipv6)],
    ['Nameservers', s.nameservers.join(' ') || '-'],
  ];
  // Known only from netsessiond's extension; a real connmand leaves them null, so no row.
  if (s.metered !== null) rows.push(['Metered', yesNo(s.metered)]);
  if (s.roaming !== null) rows.push(['Roaming', yesNo(s.roaming)]);
  if (s.captivePortal !== null) rows.push(['Portal', s.captivePortal ? (s.portalUrl ?? 'yes') : 'no']);
  return rows.map(([k, v]) => `${`${k}:`.padEnd(14)}${v}`).join('\n');
}

/** `technologies` as a table. */
export function formatTechnologies(list: readonly TechnologyInfo[]): string {
  return columnTable(TECHNOLOGY_COLUMNS, list);
}

/** The uplink part of a session's settings on one line: `online eth-c cellular 198.51.100.26 2001:db8:3::2`. */
export function formatUplink(info: SessionInfo): string {
  if (!info.interface) return info.state;
  const addrs = [info.ipv4?.address, info.ipv6?.address].filter((a): a is string => Boolean(a));
  return [info.state, info.interface, dash(info.bearer), ...addrs].join(' ');
}

/** `sessions` as a table (root's view of every session). */
export function formatSessions(list: readonly SessionListEntry[]): string {
  return columnTable(SESSION_COLUMNS, list);
}

/** `stats` as a table. */
export function formatStats(rows: readonly StatsRow[]): string {
  return columnTable(STATS_COLUMNS, rows);
}

function show(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-';
  if (Array.isArray(value)) return value.join(',') || '-';
  if (typeof value === 'object') {
    const o = value as { address?: string; prefixLength?: number; netmask?: string };
    return o.address ? (o.prefixLength !== undefined ? `${o.address}/${o.prefixLength}` : o.address) : '-';
  }
  return String(value);
}

/** The keys of SessionInfo in ConnMan's Update order. */
const INFO_ORDER: ReadonlyArray<keyof SessionInfo> = [
  'state',
  'name',
  'ipv4',
  'ipv6',
  'interface',
  'bearer',
  'connectionType',
  'allowedBearers',
  'allowedInterface',
  'contextIdentifier',
  'sourceIPRule',
];

/** An update as `key=value` pairs in ConnMan's key order: `state=online interface=eth-c ...`. */
export function formatUpdate(changes: SessionUpdate): string {
  return INFO_ORDER.filter((k) => Object.hasOwn(changes, k))
    .map((k) => `${k}=${show(changes[k])}`)
    .join(' ');
}

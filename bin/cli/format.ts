/**
 * netsessionctl's output, human and JSON (pure). Human output is aligned tables and `key value`
 * lines for people; JSON keeps the SDK's field names, with byte and packet counts as numbers
 * (exact up to 2^53 bytes, 8 PiB; larger counts become strings rather than lose digits).
 */
import type { IPv4Info, IPv6Info, ManagerProperties, ServiceInfo, SessionInfo, SessionListEntry, SessionStatistics, SessionUpdate, TechnologyInfo } from '../../lib/index.js';

/** `JSON.stringify` that writes bigints as numbers (strings beyond 2^53). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? (v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString()) : v));
}

/** Columns padded to their widest cell, two spaces apart; no trailing blanks. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** `1536` → `1.5 KiB`; below 1 KiB the exact count (`512 B`). */
export function humanBytes(n: bigint | number | null): string {
  if (n === null) return '-';
  const v = Number(n);
  if (v < 1024) return `${v} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let x = v;
  let u = -1;
  while (x >= 1024 && u < units.length - 1) {
    x /= 1024;
    u++;
  }
  return `${x.toFixed(1)} ${units[u]}`;
}

const yesNo = (b: boolean) => (b ? 'yes' : 'no');
const dash = (s: string | null | undefined) => (s === null || s === undefined || s === '' ? '-' : s);

/** `state` as text. */
export function formatState(p: ManagerProperties): string {
  return [`State:        ${p.state}`, `OfflineMode:  ${p.offlineMode ? 'on' : 'off'}`].join('\n');
}

/** `services` as a table, in the daemon's order. */
export function formatServices(list: readonly ServiceInfo[]): string {
  if (list.length === 0) return 'no services';
  return table(
    ['INTERFACE', 'BEARER', 'STATE', 'NAME', 'PATH'],
    list.map((s) => [dash(s.interface), dash(s.bearer), s.state, dash(s.name), s.path]),
  );
}

/** How a service is named on one line: its interface, else its name, else its path. */
export const serviceLabel = (s: ServiceInfo): string => s.interface ?? (s.name || s.path);

/** The services as one line (monitor without a terminal): `services eth-a=online eth-b=idle`. */
export function servicesLine(list: readonly ServiceInfo[]): string {
  return list.length === 0 ? 'services none' : `services ${list.map((s) => `${serviceLabel(s)}=${s.state}`).join(' ')}`;
}

/** The sessions as one line (monitor without a terminal): `sessions /sessions/…/s1=online/eth-c`. */
export function sessionsLine(list: readonly SessionListEntry[]): string {
  return list.length === 0 ? 'sessions none' : `sessions ${list.map((s) => `${s.path}=${s.settings.state}/${dash(s.settings.interface)}`).join(' ')}`;
}

/**
 * A service as `services SERVICE` shows it. `nameservers` is ConnMan's `Nameservers`, for an SDK
 * whose ServiceInfo carries it: without the field the line is left out rather than shown empty.
 */
export type ServiceDetail = ServiceInfo & { readonly nameservers?: readonly string[] };

/** `255.255.255.248` → 29 (a non-contiguous mask counts its set bits). */
export function prefixOf(netmask: string): number {
  return netmask.split('.').reduce((n, octet) => n + (Number(octet) >>> 0).toString(2).replace(/0/g, '').length, 0);
}

/** `198.51.100.10/29 via 198.51.100.9 (dhcp)`, `-` without an address. */
function addressLine(a: IPv4Info | IPv6Info | null): string {
  if (!a?.address) return '-';
  const prefix = 'prefixLength' in a && a.prefixLength !== undefined ? `/${a.prefixLength}` : 'netmask' in a && a.netmask ? `/${prefixOf(a.netmask)}` : '';
  return `${a.address}${prefix}${a.gateway ? ` via ${a.gateway}` : ''}${a.method ? ` (${a.method})` : ''}`;
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
  ];
  if (s.nameservers !== undefined) rows.push(['Nameservers', s.nameservers.join(' ') || '-']);
  return rows.map(([k, v]) => `${`${k}:`.padEnd(14)}${v}`).join('\n');
}

/** `technologies` as a table. */
export function formatTechnologies(list: readonly TechnologyInfo[]): string {
  if (list.length === 0) return 'no technologies';
  return table(
    ['TYPE', 'NAME', 'POWERED', 'CONNECTED'],
    list.map((t) => [t.type, t.name, yesNo(t.powered), yesNo(t.connected)]),
  );
}

/** The uplink part of a session's settings on one line: `online eth-c cellular 198.51.100.26 2001:db8:3::2`. */
export function formatUplink(info: SessionInfo): string {
  if (!info.interface) return info.state;
  const addrs = [info.ipv4?.address, info.ipv6?.address].filter((a): a is string => Boolean(a));
  return [info.state, info.interface, dash(info.bearer), ...addrs].join(' ');
}

/** `sessions` as a table (root's view of every session). */
export function formatSessions(list: readonly SessionListEntry[]): string {
  if (list.length === 0) return 'no sessions';
  return table(
    ['PATH', 'OWNER', 'UID', 'STATE', 'INTERFACE', 'BEARERS', 'RX', 'TX', 'CGROUPS'],
    list.map((s) => [
      s.path,
      s.owner,
      String(s.uid),
      s.settings.state,
      dash(s.settings.interface),
      s.settings.allowedBearers.join(',') || '-',
      humanBytes(s.rxBytes),
      humanBytes(s.txBytes),
      s.cgroups.join(',') || '-',
    ]),
  );
}

/** One session's counters with its path, as `stats` prints them. */
export interface StatsRow extends SessionStatistics {
  path: string;
}

/** `stats` as a table. */
export function formatStats(rows: readonly StatsRow[]): string {
  if (rows.length === 0) return 'no sessions';
  return table(
    ['PATH', 'RX-BYTES', 'TX-BYTES', 'RX-PACKETS', 'TX-PACKETS'],
    rows.map((r) => [r.path, r.rxBytes.toString(), r.txBytes.toString(), r.rxPackets.toString(), r.txPackets.toString()]),
  );
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
const INFO_ORDER: ReadonlyArray<keyof SessionInfo> = ['state', 'name', 'ipv4', 'ipv6', 'interface', 'bearer', 'connectionType', 'allowedBearers', 'allowedInterface', 'contextIdentifier', 'sourceIPRule'];

/** An update as `key=value` pairs in ConnMan's key order: `state=online interface=eth-c ...`. */
export function formatUpdate(changes: SessionUpdate): string {
  return INFO_ORDER.filter((k) => Object.hasOwn(changes, k))
    .map((k) => `${k}=${show(changes[k])}`)
    .join(' ');
}

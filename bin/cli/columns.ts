/**
 * The columns of the list commands (`services`, `technologies`, `sessions`, `stats`): what `-o`
 * may pick, what the tables show by default, and how one field reads as text and as JSON (pure).
 * One definition serves the default tables, `-o` and its JSON, the usage error for an unknown
 * field, and the shell completion of field names.
 */
import type {
  IPv4Info,
  IPv6Info,
  ServiceInfo,
  SessionListEntry,
  SessionStatistics,
  TechnologyInfo,
} from '../../lib/index.js';

/** One session's counters with its path, as `stats` prints them. */
export interface StatsRow extends SessionStatistics {
  path: string;
}

/** A field of a list: its cell in a table and its value in `--json -o` output. */
export interface Column<Row> {
  text(row: Row): string;
  json(row: Row): unknown;
}

/** A list command's fields, in the order `-o` help lists them, and the ones shown without `-o`. */
export interface ColumnSet<Row> {
  readonly columns: Readonly<Record<string, Column<Row>>>;
  readonly defaults: readonly string[];
  /** What the table says instead of a header alone. */
  readonly empty: string;
}

/** `-` for a missing value. */
export const dash = (s: string | null | undefined): string => (s === null || s === undefined || s === '' ? '-' : s);
export const yesNo = (b: boolean): string => (b ? 'yes' : 'no');
const same = <Row>(get: (row: Row) => string | null): Column<Row> => ({ text: (r) => dash(get(r)), json: get });
const flag = <Row>(get: (row: Row) => boolean): Column<Row> => ({ text: (r) => yesNo(get(r)), json: get });
const count = <Row>(
  get: (row: Row) => bigint | null,
  text: (n: bigint | null) => string = (n) => (n === null ? '-' : n.toString()),
): Column<Row> => ({ text: (r) => text(get(r)), json: get });

/** `198.51.100.10` plus `/29` (from the netmask) or `/64`; null without an address. */
export function addressOf(a: IPv4Info | IPv6Info | null): string | null {
  if (!a?.address) return null;
  if ('prefixLength' in a && a.prefixLength !== undefined) return `${a.address}/${a.prefixLength}`;
  if ('netmask' in a && a.netmask) return `${a.address}/${prefixOf(a.netmask)}`;
  return a.address;
}

/** `255.255.255.248` → 29 (a non-contiguous mask counts its set bits). */
export function prefixOf(netmask: string): number {
  return netmask.split('.').reduce((n, octet) => n + (Number(octet) >>> 0).toString(2).replace(/0/g, '').length, 0);
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

/** A service with ConnMan's `Nameservers`, for an SDK whose ServiceInfo carries them. */
export type ServiceDetail = ServiceInfo;

export const SERVICE_COLUMNS: ColumnSet<ServiceDetail> = {
  columns: {
    interface: same((s) => s.interface),
    bearer: same((s) => s.bearer),
    state: same((s) => s.state),
    name: same((s) => s.name),
    path: same((s) => s.path),
    id: same((s) => s.path.slice(s.path.lastIndexOf('/') + 1)),
    online: flag((s) => s.state === 'online'),
    ipv4: same((s) => addressOf(s.ipv4)),
    ipv6: same((s) => addressOf(s.ipv6)),
    gateway: same((s) => s.ipv4?.gateway ?? null),
    gateway6: same((s) => s.ipv6?.gateway ?? null),
    nameservers: { text: (s) => s.nameservers.join(',') || '-', json: (s) => s.nameservers },
  },
  defaults: ['interface', 'bearer', 'state', 'name', 'path'],
  empty: 'no services',
};

export const TECHNOLOGY_COLUMNS: ColumnSet<TechnologyInfo> = {
  columns: {
    type: same((t) => t.type),
    name: same((t) => t.name),
    powered: flag((t) => t.powered),
    connected: flag((t) => t.connected),
    tethering: flag((t) => t.tethering),
    path: same((t) => t.path),
  },
  defaults: ['type', 'name', 'powered', 'connected'],
  empty: 'no technologies',
};

export const SESSION_COLUMNS: ColumnSet<SessionListEntry> = {
  columns: {
    path: same((s) => s.path),
    owner: same((s) => s.owner),
    uid: { text: (s) => String(s.uid), json: (s) => s.uid },
    state: same((s) => s.settings.state),
    interface: same((s) => s.settings.interface),
    bearers: { text: (s) => s.settings.allowedBearers.join(',') || '-', json: (s) => s.settings.allowedBearers },
    rx: count((s) => s.rxBytes, humanBytes),
    tx: count((s) => s.txBytes, humanBytes),
    cgroups: { text: (s) => s.cgroups.join(',') || '-', json: (s) => s.cgroups },
    service: same((s) => s.service),
    bearer: same((s) => s.settings.bearer),
    type: same((s) => s.settings.connectionType),
    ipv4: same((s) => addressOf(s.settings.ipv4)),
    ipv6: same((s) => addressOf(s.settings.ipv6)),
    context: same((s) => s.settings.contextIdentifier),
  },
  defaults: ['path', 'owner', 'uid', 'state', 'interface', 'bearers', 'rx', 'tx', 'cgroups'],
  empty: 'no sessions',
};

export const STATS_COLUMNS: ColumnSet<StatsRow> = {
  columns: {
    path: same((r) => r.path),
    'rx-bytes': count((r) => r.rxBytes),
    'tx-bytes': count((r) => r.txBytes),
    'rx-packets': count((r) => r.rxPackets),
    'tx-packets': count((r) => r.txPackets),
  },
  defaults: ['path', 'rx-bytes', 'tx-bytes', 'rx-packets', 'tx-packets'],
  empty: 'no sessions',
};

/** The list commands that take `-o`, with their fields (for parsing and completion). */
export const LIST_FIELDS = {
  services: Object.keys(SERVICE_COLUMNS.columns),
  technologies: Object.keys(TECHNOLOGY_COLUMNS.columns),
  sessions: Object.keys(SESSION_COLUMNS.columns),
  stats: Object.keys(STATS_COLUMNS.columns),
} as const;

/** A list command's name. */
export type ListCommand = keyof typeof LIST_FIELDS;

/** The rows of `set` as a table of `fields` (default: the set's defaults), optionally without the header line. */
export function columnTable<Row>(
  set: ColumnSet<Row>,
  rows: readonly Row[],
  fields: readonly string[] = set.defaults,
  headers = true,
): string {
  const cols = fields.map((f) => set.columns[f]!);
  const body = rows.map((r) => cols.map((c) => c.text(r)));
  if (!headers) return table(null, body);
  if (rows.length === 0 && fields === set.defaults) return set.empty;
  return table(
    fields.map((f) => f.toUpperCase()),
    body,
  );
}

/** The rows as JSON objects holding only `fields` (keys as the fields are named). */
export function columnJson<Row>(
  set: ColumnSet<Row>,
  rows: readonly Row[],
  fields: readonly string[],
): Array<Record<string, unknown>> {
  return rows.map((r) => Object.fromEntries(fields.map((f) => [f, set.columns[f]!.json(r)])));
}

/** Columns padded to their widest cell, two spaces apart; no trailing blanks; `header` null: rows only. */
export function table(header: readonly string[] | null, rows: ReadonlyArray<readonly string[]>): string {
  const all = header ? [header, ...rows] : rows;
  const widths = (all[0] ?? []).map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return all.map(line).join('\n');
}

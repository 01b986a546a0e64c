/**
 * The daemon's share of the iptables state as the reconciler sees it: the chains it owns in the
 * `mangle`, `filter` and `nat` tables of one family, the jumps that hook them into the built-in chains, and
 * the NFACCT objects the counting rules name. Both what the desired FirewallState requires
 * (ruleset.ts) and what the kernel holds (readback.ts), so that diff.ts can compare the two.
 *
 * Rules are identified by a fingerprint of their text, stored in the rule as
 * `-m comment --comment "ns:<fingerprint>"`: iptables-save prints rules back in its own
 * normalised form (match order, `0xfff0000` for `0x0fff0000`, `--mask` split into
 * `--nfmask`/`--ctmask`, quoting), so comparing texts would depend on its printer; comparing
 * comments does not. Hooks (the jumps from built-in chains) carry no comment: they are
 * recognised by their target.
 */
import type { Family } from '../../core/services.js';

/** Tables the daemon touches, in the order each restore script names them. */
export const TABLES = ['mangle', 'filter', 'nat'] as const;
export type TableName = (typeof TABLES)[number];

/** Prefix of every chain the daemon owns; any `NS-*` chain in those tables is considered ours. */
export const CHAIN_PREFIX = 'NS-';

/** Prefixes of the NFACCT objects the daemon owns: `ns-tx-<key>` and `ns-rx-<key>`. */
export const NFACCT_TX_PREFIX = 'ns-tx-';
export const NFACCT_RX_PREFIX = 'ns-rx-';

/** The comment that identifies one of our rules: `ns:<fingerprint>`. */
export const COMMENT_PREFIX = 'ns:';

/** One rule in one of our chains. */
export interface RuleModel {
  /** Fingerprint from the rule's comment; null when the rule has none (not written by us). */
  id: string | null;
  /** Arguments after `-A <chain>` as the desired state writes them (comment included). */
  text?: string;
  /** Arguments after `-A <chain>` as iptables-save printed them (read back; used to delete). */
  spec?: string;
}

/** A chain the daemon owns and its rules in order. */
export interface ChainModel {
  name: string;
  rules: RuleModel[];
}

/** A rule in a built-in chain that jumps (or goes) to one of our chains. */
export interface HookModel {
  /** The built-in chain (`OUTPUT`, `POSTROUTING`, ...). */
  chain: string;
  /** Our chain it jumps to. */
  target: string;
  /** Arguments after `-A <chain>` as printed (read back only); `-j <target>` for a plain hook. */
  spec: string;
  /** Exactly `-j <target>`: no match, no goto. Anything else is replaced. */
  plain: boolean;
}

/** Our part of one table of one family. */
export interface TableModel {
  chains: Map<string, ChainModel>;
  hooks: HookModel[];
}

/** Our part of one family (`iptables` or `ip6tables`). */
export interface FamilyModel {
  tables: Record<TableName, TableModel>;
}

/** Everything the daemon owns: both families and the NFACCT objects (which are family-less). */
export interface DatapathModel {
  families: Record<Family, FamilyModel>;
  nfacct: Set<string>;
}

/** One change to one table. Each op is one line of an iptables-restore script. */
export type Op =
  /** `-N <chain>` */
  | { op: 'new-chain'; table: TableName; chain: string }
  /** `-F <chain>` */
  | { op: 'flush-chain'; table: TableName; chain: string }
  /** `-A <chain> <text>` */
  | { op: 'append'; table: TableName; chain: string; text: string }
  /** `-I <chain> <position> <text>` (1-based) */
  | { op: 'insert-rule'; table: TableName; chain: string; position: number; text: string }
  /** `-I <chain> 1 -j <target>` */
  | { op: 'insert-hook'; table: TableName; chain: string; target: string }
  /** `-D <chain> <spec>` */
  | { op: 'delete-rule'; table: TableName; chain: string; spec: string }
  /** `-X <chain>` */
  | { op: 'delete-chain'; table: TableName; chain: string };

/** An empty table model. */
export function emptyTableModel(): TableModel {
  return { chains: new Map(), hooks: [] };
}

/** An empty family model. */
export function emptyFamilyModel(): FamilyModel {
  return { tables: { mangle: emptyTableModel(), filter: emptyTableModel(), nat: emptyTableModel() } };
}

/** Nothing of ours anywhere. */
export function emptyDatapath(): DatapathModel {
  return { families: { 4: emptyFamilyModel(), 6: emptyFamilyModel() }, nfacct: new Set() };
}

/** `0x` and the shortest hex digits, as iptables prints marks. */
export function hex(n: number): string {
  return `0x${(n >>> 0).toString(16)}`;
}

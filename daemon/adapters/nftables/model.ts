/**
 * The shape of the daemon's nftables table as the reconciler sees it: both what the desired
 * FirewallState requires (built by ruleset.ts) and what the kernel holds (parsed by readback.ts),
 * so that diff.ts can compare the two. Plain values only.
 *
 * Rules are identified by a fingerprint of their text, stored as the rule's comment: nft prints
 * rules back in a normalised form that differs from what was written (constants folded, `ct
 * state new` shown as a set lookup, `socket cgroupv2 level` missing from JSON in nft 1.0.6), so
 * comparing expressions would depend on nft's printer; comparing comments does not.
 */

/** Family and table every command names. */
export const NFT_FAMILY = 'inet';

/** A base chain's hook registration. */
export interface BaseChainSpec {
  type: 'filter' | 'route' | 'nat';
  hook: 'prerouting' | 'input' | 'output' | 'postrouting';
  prio: number;
  policy: 'accept' | 'drop';
}

/**
 * What a desired rule does, as plain values: what the netlink encoder (netlink-table.ts) needs
 * to write the same rule that `text` says to nft.
 */
export type RuleSpec =
  | { kind: 'restore'; ours: number; mask: number; map: string }
  | { kind: 'pin'; mask: number }
  | { kind: 'classify-jump'; ours: number; chain: string }
  | { kind: 'count'; tagMask: number; map: string }
  | { kind: 'source-lookup'; family: 4 | 6; map: string; chain: string }
  | { kind: 'cgroup-lookup'; level: number; map: string; chain: string }
  | { kind: 'identity-lookup'; key: 'uid' | 'gid'; map: string; chain: string }
  | { kind: 'service-lookup'; mask: number; map: string }
  | { kind: 'service'; ours: number; mark: number }
  | { kind: 'snat'; mask: number; mark: number; ifname: string; family: 4 | 6; address: string };

/** One rule: `id` is its comment (the fingerprint); `text` and `spec` are known only for desired rules. */
export interface RuleModel {
  id: string | null;
  /** nft text of the rule body, without the comment. */
  text?: string;
  spec?: RuleSpec;
}

/** A chain and its rules in order. */
export interface ChainModel {
  name: string;
  /** null for a regular chain. */
  base: BaseChainSpec | null;
  rules: RuleModel[];
}

/** One element of a map. */
export interface ElementModel {
  /** nft text of the key, or null when it cannot be written back (the map is then flushed). */
  key: string | null;
  /** nft text of the data: `jump svc_x`, `"tx_x"`, a mark `0x00020001`, or '' for a plain set. */
  value: string;
  comment?: string;
}

/** A named map or set with its elements, keyed by a normalised key. */
export interface MapModel {
  name: string;
  kind: 'map' | 'set';
  /** Key type as nft prints it in JSON (`uid`, `ipv4_addr`, `cgroupsv2`, `mark`, ...). */
  type: string;
  /** Data type for maps (`verdict`, `counter`, `mark`), null for sets. */
  data: string | null;
  /**
   * Replace all elements whenever anything differs, instead of deleting single ones: for keys
   * that cannot be written back reliably (cgroup ids, which nft only accepts as paths).
   */
  flushOnChange: boolean;
  elements: Map<string, ElementModel>;
}

/** Any other named object found in the table (quota, limit, flowtable, ...): always removed. */
export interface OtherObject {
  kind: string;
  name: string;
}

/** The whole table. */
export interface TableModel {
  chains: Map<string, ChainModel>;
  maps: Map<string, MapModel>;
  counters: Set<string>;
  others: OtherObject[];
}

/** One change in a batch. */
export type Op =
  | { op: 'add-table' }
  | { op: 'add-counter'; name: string }
  | { op: 'add-map'; name: string; kind: 'map' | 'set'; type: string; data: string | null }
  | { op: 'add-chain'; name: string; base: BaseChainSpec | null }
  | { op: 'flush-chain'; name: string }
  | { op: 'add-rule'; chain: string; text: string; id: string; spec?: RuleSpec }
  | { op: 'delete-elements'; map: string; kind: 'map' | 'set'; keys: string[] }
  | { op: 'flush-map'; map: string; kind: 'map' | 'set' }
  | { op: 'add-elements'; map: string; kind: 'map' | 'set'; elements: ElementModel[] }
  | { op: 'delete-chain'; name: string }
  | { op: 'delete-map'; name: string; kind: 'map' | 'set' }
  | { op: 'delete-counter'; name: string }
  | { op: 'delete-object'; kind: string; name: string };

/** An empty table model. */
export function emptyTable(): TableModel {
  return { chains: new Map(), maps: new Map(), counters: new Set(), others: [] };
}

/** `0x` and eight hex digits, as nft prints marks. */
export function hex32(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}

/** Kernel changes an op list makes: every map element counts once, every other op once. */
export function countChanges(ops: readonly Op[]): number {
  let n = 0;
  for (const o of ops) {
    if (o.op === 'add-elements') n += o.elements.length;
    else if (o.op === 'delete-elements') n += o.keys.length;
    else n += 1;
  }
  return n;
}

/**
 * The fixed names of the daemon's nftables table and the nft text of each rule it holds (one
 * builder per rule kind; ruleset.ts assembles the table from them, delta.ts writes a service's
 * chain with them). Pure.
 */
import type { Family } from '../../core/services.js';
import { fingerprint } from '../firewall/fingerprint.js';
import type { ChainModel, ElementModel } from './model.js';
import { hex32 } from './model.js';

/** Names of the fixed chains and maps. */
export const CHAIN = {
  output: 'output',
  classify: 'classify',
  service: 'service',
  prerouting: 'prerouting',
  input: 'input',
  postrouting: 'postrouting',
} as const;
export const MAP = {
  src4: 'src4',
  src6: 'src6',
  uid: 'uid',
  gid: 'gid',
  svc: 'svc',
  tx: 'tx',
  rx: 'rx',
} as const;

/** Prefixes of per-session counters `tx_<key>` / `rx_<key>`. */
export const TX_PREFIX = 'tx_';
export const RX_PREFIX = 'rx_';
/** Prefix of a service's chain `svc_<mark as 8 hex digits>`. */
export const SERVICE_CHAIN_PREFIX = 'svc_';

/** Name of the data map for cgroups at `level`. */
export function cgroupMapName(level: number): string {
  return `cg${level}`;
}

// ---------------------------------------------------------------------------------------------
// Rule builders. Each returns the rule's nft text.
// ---------------------------------------------------------------------------------------------

/** Name of the chain of the service with `mark`. */
export function serviceChainName(mark: number): string {
  return `${SERVICE_CHAIN_PREFIX}${hex32(mark).slice(2)}`;
}

/** Service chain: `meta mark set meta mark and ~OURS or MARK` (other users' bits kept). */
export function serviceRule(ours: number, mark: number): string {
  return `meta mark set meta mark and ${hex32(~ours)} or ${hex32(mark)}`;
}

/** service: `ct mark and MASK vmap @svc` (the packet's service bits from the conntrack mark). */
export function serviceLookupRule(mask: number): string {
  return `ct mark and ${hex32(mask)} vmap @${MAP.svc}`;
}

/** output/prerouting: `ct mark and OURS != 0 ct mark and MASK vmap @svc` (pinned connection). */
export function restoreRule(ours: number, mask: number): string {
  return `ct mark and ${hex32(ours)} != 0 ct mark and ${hex32(mask)} vmap @${MAP.svc}`;
}

/**
 * output/prerouting, after the restore: `ct mark and MASK != 0 meta mark and MASK == 0 meta mark
 * set ct mark`, for a pinned connection whose service has no chain any more.
 */
export function pinRule(mask: number): string {
  const m = hex32(mask);
  return `ct mark and ${m} != 0 meta mark and ${m} == 0 meta mark set ct mark`;
}

/** output: `ct state new meta mark and OURS == 0 jump classify` (only unmarked new flows). */
export function classifyJumpRule(ours: number): string {
  return `ct state new meta mark and ${hex32(ours)} == 0 jump ${CHAIN.classify}`;
}

/** output/input: `ct mark and TAG != 0 counter name ct mark and TAG map @tx|@rx`. */
export function countRule(tagMask: number, map: string): string {
  const t = hex32(tagMask);
  return `ct mark and ${t} != 0 counter name ct mark and ${t} map @${map}`;
}

/** classify: `ct mark set ip saddr map @src4 goto service` / `ip6 saddr` … `@src6`. */
export function sourceLookupRule(family: Family): string {
  const key = family === 4 ? `ip saddr map @${MAP.src4}` : `ip6 saddr map @${MAP.src6}`;
  return `ct mark set ${key} goto ${CHAIN.service}`;
}

/** classify: `ct mark set socket cgroupv2 level N map @cgN goto service`. */
export function cgroupLookupRule(level: number): string {
  return `ct mark set socket cgroupv2 level ${level} map @${cgroupMapName(level)} goto ${CHAIN.service}`;
}

/** classify: `ct mark set meta skuid map @uid goto service` / `meta skgid` … `@gid`. */
export function identityLookupRule(kind: 'uid' | 'gid'): string {
  const key = kind === 'uid' ? `meta skuid map @${MAP.uid}` : `meta skgid map @${MAP.gid}`;
  return `ct mark set ${key} goto ${CHAIN.service}`;
}

/**
 * postrouting: `meta mark and MASK == MARK oifname "IF" fib saddr type local snat ip to A`
 * (`snat ip6 to A` for v6).
 */
export function snatRule(mask: number, mark: number, ifname: string, family: Family, address: string): string {
  return `meta mark and ${hex32(mask)} == ${hex32(mark)} oifname "${ifname}" fib saddr type local snat ${family === 4 ? 'ip' : 'ip6'} to ${address}`;
}

/** The chain of the service with `mark` (one rule). */
export function serviceChain(ours: number, mark: number): ChainModel {
  return {
    name: serviceChainName(mark),
    base: null,
    rules: [
      {
        id: fingerprint(serviceRule(ours, mark)),
        text: serviceRule(ours, mark),
        spec: { kind: 'service', ours, mark },
      },
    ],
  };
}

/** The `svc` element of the service with `mark`, keyed as readback.ts normalises mark keys. */
export function serviceElement(mark: number): [string, ElementModel] {
  return [String(mark), { key: hex32(mark), value: `jump ${serviceChainName(mark)}` }];
}

/** The data value of a session's classifier elements: its service mark | tag. */
export function sessionValue(mark: number, tag: number): number {
  return (mark | tag) >>> 0;
}

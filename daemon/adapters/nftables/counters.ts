/**
 * `nft -j list counters table inet <name>` output → per-session Counters. Pure.
 *
 * Byte counts can exceed 2^53, where JSON.parse would round them: the numbers are turned into
 * strings before parsing and read as BigInt.
 */
import type { Counters } from '../../core/statistics-schedule.js';
import { NFT_FAMILY } from './model.js';
import { RX_PREFIX, TX_PREFIX } from './ruleset.js';

interface NftCounter {
  family?: string;
  table?: string;
  name?: string;
  packets?: string;
  bytes?: string;
}

function big(s: string | undefined): bigint {
  return s !== undefined && /^\d+$/.test(s) ? BigInt(s) : 0n;
}

/** Session key → counters, from named counters read over netlink (`tx_<key>` / `rx_<key>`). */
export function countersFromNamed(
  list: ReadonlyArray<{ name: string; packets: bigint; bytes: bigint }>,
): Map<string, Counters> {
  const out = new Map<string, Counters>();
  for (const c of list) {
    const tx = c.name.startsWith(TX_PREFIX);
    if (!tx && !c.name.startsWith(RX_PREFIX)) continue;
    const key = c.name.slice(tx ? TX_PREFIX.length : RX_PREFIX.length);
    let e = out.get(key);
    if (!e) {
      e = { rxBytes: 0n, txBytes: 0n, rxPackets: 0n, txPackets: 0n };
      out.set(key, e);
    }
    if (tx) {
      e.txBytes = c.bytes;
      e.txPackets = c.packets;
    } else {
      e.rxBytes = c.bytes;
      e.rxPackets = c.packets;
    }
  }
  return out;
}

/** Session key → counters, from the `tx_<key>` / `rx_<key>` counters of `table`. */
export function parseCounters(json: string, table: string): Map<string, Counters> {
  const exact = json.replace(/"(packets|bytes)":\s*(\d+)/g, '"$1":"$2"');
  const doc = JSON.parse(exact) as { nftables?: Array<{ counter?: NftCounter }> };
  const out = new Map<string, Counters>();
  const entry = (key: string): Counters => {
    let c = out.get(key);
    if (!c) {
      c = { rxBytes: 0n, txBytes: 0n, rxPackets: 0n, txPackets: 0n };
      out.set(key, c);
    }
    return c;
  };
  for (const item of doc.nftables ?? []) {
    const c = item.counter;
    if (!c || c.family !== NFT_FAMILY || c.table !== table || typeof c.name !== 'string') continue;
    if (c.name.startsWith(TX_PREFIX)) {
      const e = entry(c.name.slice(TX_PREFIX.length));
      e.txBytes = big(c.bytes);
      e.txPackets = big(c.packets);
    } else if (c.name.startsWith(RX_PREFIX)) {
      const e = entry(c.name.slice(RX_PREFIX.length));
      e.rxBytes = big(c.bytes);
      e.rxPackets = big(c.packets);
    }
  }
  return out;
}

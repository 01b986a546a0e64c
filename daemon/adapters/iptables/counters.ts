/**
 * NFACCT objects → per-session Counters. Pure. Only objects named `ns-tx-<key>` / `ns-rx-<key>`
 * are ours; other NFACCT users' objects in the namespace are ignored.
 */
import type { Counters } from '../../core/statistics-schedule.js';
import { NFACCT_RX_PREFIX, NFACCT_TX_PREFIX } from './model.js';
import type { NfacctValue } from './nfacct.js';

/** Whether an NFACCT object name is one of ours. */
export function isOurNfacct(name: string): boolean {
  return (
    (name.startsWith(NFACCT_TX_PREFIX) && name.length > NFACCT_TX_PREFIX.length) ||
    (name.startsWith(NFACCT_RX_PREFIX) && name.length > NFACCT_RX_PREFIX.length)
  );
}

/** Session key → counters, from our NFACCT objects. */
export function sessionCounters(objects: ReadonlyMap<string, NfacctValue>): Map<string, Counters> {
  const out = new Map<string, Counters>();
  const entry = (key: string): Counters => {
    let c = out.get(key);
    if (!c) {
      c = { rxBytes: 0n, txBytes: 0n, rxPackets: 0n, txPackets: 0n };
      out.set(key, c);
    }
    return c;
  };
  for (const [name, v] of objects) {
    if (!isOurNfacct(name)) continue;
    if (name.startsWith(NFACCT_TX_PREFIX)) {
      const e = entry(name.slice(NFACCT_TX_PREFIX.length));
      e.txBytes = v.bytes;
      e.txPackets = v.pkts;
    } else {
      const e = entry(name.slice(NFACCT_RX_PREFIX.length));
      e.rxBytes = v.bytes;
      e.rxPackets = v.pkts;
    }
  }
  return out;
}

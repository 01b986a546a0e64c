/**
 * The {@link LinkStats} port: per-link kernel statistics for ConnMan's per-service counters.
 *
 * Primary source: one RTM_GETLINK dump, reading `IFLA_STATS64` (64-bit, so
 * nothing wraps in the kernel's numbers), or `IFLA_STATS` where a kernel lacks it. A dump is one
 * round trip whatever the number of services, and each read uses a socket of its own (as the
 * routing adapter does), so a failed socket never outlives a read.
 *
 * Fallback, used for a read whose netlink request failed: `/sys/class/net/<if>/statistics/*`,
 * which shows the daemon's network namespace because `ip netns exec` remounts /sys. It is one
 * file per value (slower), hence only the fallback.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LINK_COUNTER_FIELDS, type LinkCounters } from '../../core/counters.js';
import type { LinkStats, Logger } from '../../ports.js';
import { openRtnlClient } from './client.js';
import { IFLA } from './messages/constants.js';

/** What a dump yields per link: its index and whichever statistics attribute it carried (raw). */
export interface DumpedLink {
  index: number;
  /** struct rtnl_link_stats64 (u64 fields). */
  stats64?: Buffer;
  /** struct rtnl_link_stats (u32 fields, the same order). */
  stats?: Buffer;
}

/** Options of {@link createLinkStats}. */
export interface LinkStatsOptions {
  log?: Logger;
  /** The RTM_GETLINK dump; replaceable in tests. */
  dump?: () => Promise<DumpedLink[]>;
  /** Where `class/net` lives; default `/sys`. */
  sysfsRoot?: string;
}

/** The leading fields of struct rtnl_link_stats(64), in their order. */
const FIELDS = LINK_COUNTER_FIELDS;
const SYSFS_FILES: Record<keyof LinkCounters, string> = {
  rxPackets: 'rx_packets',
  txPackets: 'tx_packets',
  rxBytes: 'rx_bytes',
  txBytes: 'tx_bytes',
  rxErrors: 'rx_errors',
  txErrors: 'tx_errors',
  rxDropped: 'rx_dropped',
  txDropped: 'tx_dropped',
};
const SOCKET = { rcvbuf: 1 << 20, sndbuf: 64 << 10, timeoutMs: 2_000 };

async function netlinkDump(): Promise<DumpedLink[]> {
  const client = await openRtnlClient(SOCKET);
  try {
    return client.dump('link').flatMap((m) => {
      if (m.kind !== 'link') return [];
      const stats64 = m.attrs.get(IFLA.STATS64);
      const stats = m.attrs.get(IFLA.STATS);
      return [{ index: m.index, ...(stats64 ? { stats64 } : {}), ...(stats ? { stats } : {}) }];
    });
  } finally {
    client.close();
  }
}

/** A statistics attribute as LinkCounters; null when the link carried none (or a short one). */
export function countersFromDump(link: DumpedLink): LinkCounters | null {
  const wide = link.stats64 !== undefined && link.stats64.length >= 8 * FIELDS.length;
  const src = wide ? link.stats64 : link.stats;
  if (!src || (!wide && src.length < 4 * FIELDS.length)) return null;
  const out = {} as LinkCounters;
  FIELDS.forEach((f, i) => {
    out[f] = wide ? src.readBigUInt64LE(8 * i) : BigInt(src.readUInt32LE(4 * i));
  });
  return out;
}

/** Reads the wanted links' statistics from sysfs (`<root>/class/net/*`). */
export function readSysfsStats(root: string, wanted: ReadonlySet<number>): Map<number, LinkCounters> {
  const out = new Map<number, LinkCounters>();
  const base = join(root, 'class/net');
  for (const name of readdirSync(base)) {
    try {
      const ifindex = Number(readFileSync(join(base, name, 'ifindex'), 'utf8').trim());
      if (!wanted.has(ifindex)) continue;
      const c = {} as LinkCounters;
      for (const f of FIELDS)
        c[f] = BigInt(readFileSync(join(base, name, 'statistics', SYSFS_FILES[f]), 'utf8').trim());
      out.set(ifindex, c);
    } catch {
      // The link went away while we read it: absent, as the port says.
    }
  }
  return out;
}

/** Creates the LinkStats adapter (netlink first, sysfs when a netlink read fails). */
export function createLinkStats(opts: LinkStatsOptions = {}): LinkStats {
  const log: Logger = opts.log ?? (() => {});
  const dump = opts.dump ?? netlinkDump;
  const sysfsRoot = opts.sysfsRoot ?? '/sys';
  let fallingBack = false;
  return {
    async read(ifindexes: readonly number[]): Promise<Map<number, LinkCounters>> {
      const wanted = new Set(ifindexes);
      if (wanted.size === 0) return new Map();
      try {
        const out = new Map<number, LinkCounters>();
        for (const link of await dump()) {
          if (!wanted.has(link.index)) continue;
          const c = countersFromDump(link);
          if (c) out.set(link.index, c);
        }
        if (fallingBack) log('info', 'link statistics: netlink works again');
        fallingBack = false;
        return out;
      } catch (err) {
        // Said once per outage, not once per period.
        if (!fallingBack)
          log('warn', `link statistics: netlink dump failed (${(err as Error).message}); reading sysfs instead`);
        fallingBack = true;
        return readSysfsStats(sysfsRoot, wanted);
      }
    },
  };
}

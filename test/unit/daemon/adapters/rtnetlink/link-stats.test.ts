import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  countersFromDump,
  createLinkStats,
  readSysfsStats,
} from '../../../../../daemon/adapters/rtnetlink/link-stats.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fake /sys with links `name -> [ifindex, rx_bytes]`. */
function fakeSysfs(links: Record<string, [number, number]>): string {
  const root = mkdtempSync(join(tmpdir(), 'nsd-sysfs-'));
  dirs.push(root);
  for (const [name, [ifindex, rxBytes]] of Object.entries(links)) {
    const stats = join(root, 'class/net', name, 'statistics');
    mkdirSync(stats, { recursive: true });
    writeFileSync(join(root, 'class/net', name, 'ifindex'), `${ifindex}\n`);
    for (const f of ['rx_packets', 'tx_packets', 'tx_bytes', 'rx_errors', 'tx_errors', 'rx_dropped', 'tx_dropped'])
      writeFileSync(join(stats, f), '1\n');
    writeFileSync(join(stats, 'rx_bytes'), `${rxBytes}\n`);
  }
  return root;
}

/** struct rtnl_link_stats64 / rtnl_link_stats: rx/tx packets, bytes, errors, dropped, then more fields. */
const ORDER = [
  'rxPackets',
  'txPackets',
  'rxBytes',
  'txBytes',
  'rxErrors',
  'txErrors',
  'rxDropped',
  'txDropped',
] as const;
function stats64(v: Partial<Record<(typeof ORDER)[number], bigint>>): Buffer {
  const b = Buffer.alloc(8 * 24);
  ORDER.forEach((f, i) => b.writeBigUInt64LE(v[f] ?? 0n, 8 * i));
  return b;
}
function stats32(v: Partial<Record<(typeof ORDER)[number], number>>): Buffer {
  const b = Buffer.alloc(4 * 24);
  ORDER.forEach((f, i) => b.writeUInt32LE(v[f] ?? 0, 4 * i));
  return b;
}

describe('link statistics adapter', () => {
  it('takes IFLA_STATS64 (bigint) and falls back to IFLA_STATS (number)', () => {
    expect(countersFromDump({ index: 2, stats64: stats64({ rxBytes: 2n ** 40n, txPackets: 3n }) })).toMatchObject({
      rxBytes: 2n ** 40n,
      txPackets: 3n,
      rxErrors: 0n,
    });
    expect(countersFromDump({ index: 2, stats: stats32({ rxBytes: 77, txDropped: 1 }) })).toMatchObject({
      rxBytes: 77n,
      txDropped: 1n,
    });
    expect(countersFromDump({ index: 2 })).toBeNull();
    // A short attribute is no statistics (never read past it).
    expect(countersFromDump({ index: 2, stats: Buffer.alloc(8) })).toBeNull();
  });

  it('returns only the wanted links from the netlink dump', async () => {
    const stats = createLinkStats({
      dump: async () => [
        { index: 1, stats64: stats64({ rxBytes: 1n }) },
        { index: 11, stats64: stats64({ rxBytes: 500n }) },
        { index: 12 },
      ],
    });
    const out = await stats.read([11, 12, 99]);
    expect([...out.keys()]).toEqual([11]);
    expect(out.get(11)!.rxBytes).toBe(500n);
    expect((await stats.read([])).size).toBe(0);
  });

  it('reads sysfs when the netlink dump fails, and says so once', async () => {
    const root = fakeSysfs({ 'eth-a': [11, 4096], 'eth-b': [12, 10], lo: [1, 5] });
    const logs: string[] = [];
    const stats = createLinkStats({
      sysfsRoot: root,
      log: (_l, m) => logs.push(m),
      dump: async () => {
        throw new Error('Request rejected: EPERM');
      },
    });
    const out = await stats.read([11, 12]);
    expect(out.get(11)).toEqual({
      rxPackets: 1n,
      txPackets: 1n,
      rxBytes: 4096n,
      txBytes: 1n,
      rxErrors: 1n,
      txErrors: 1n,
      rxDropped: 1n,
      txDropped: 1n,
    });
    expect(out.get(12)!.rxBytes).toBe(10n);
    expect(out.has(1)).toBe(false);
    await stats.read([11]);
    expect(logs.filter((l) => l.includes('reading sysfs'))).toHaveLength(1);
  });

  it('skips a sysfs link that vanished mid-read', () => {
    const root = fakeSysfs({ 'eth-a': [11, 1] });
    rmSync(join(root, 'class/net/eth-a/statistics/rx_bytes'));
    expect(readSysfsStats(root, new Set([11])).size).toBe(0);
  });
});

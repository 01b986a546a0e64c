/**
 * The nftables side of a router namespace: forwarding counters, an on/off "black hole" for
 * forwarded traffic, and ISP-style source filtering.
 *
 * Source filtering (BCP 38) makes the routers strict like real access networks: a packet that
 * leaves the device through uplink A with uplink B's source address is dropped and counted as
 * `spoofed` instead of being delivered along an asymmetric path. A test therefore only sees
 * traffic succeed when the device's routing picked a consistent uplink.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from './exec.js';
import type { Uplink } from './plan.js';

/** The nft table the harness owns in every router namespace. */
export const ROUTER_TABLE = 'nsh';

/** Packet and byte counters of one router, all for forwarded traffic only. */
export interface RouterCounters {
  /** Packets forwarded from the device towards the internet. */
  fwdOut: number;
  /** Packets forwarded from the internet towards the device. */
  fwdIn: number;
  bytesOut: number;
  bytesIn: number;
  /** Packets dropped while {@link Sandbox.dropTraffic} was on. */
  dropped: number;
  /** Packets from the device whose source address was not from this uplink's subnet. */
  spoofed: number;
}

function nftIn(ns: string, ...args: string[]): Promise<{ stdout: string }> {
  return runCommand(['ip', 'netns', 'exec', ns, 'nft', ...args]);
}

/** Installs the router's table. */
export async function setupRouterNft(u: Uplink, tmpDir: string): Promise<void> {
  const lan = u.routerLan;
  const v6Rule = u.subnet6
    ? `iifname "${lan}" ip6 saddr != ${u.subnet6} counter name "spoofed" drop`
    : `iifname "${lan}" meta nfproto ipv6 counter name "spoofed" drop`;
  const script = `
table inet ${ROUTER_TABLE} {
  counter fwd_out { }
  counter fwd_in { }
  counter dropped { }
  counter spoofed { }
  chain gate { }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "${lan}" ip saddr != ${u.subnet4} counter name "spoofed" drop
    ${v6Rule}
    jump gate
    iifname "${lan}" counter name "fwd_out"
    oifname "${lan}" counter name "fwd_in"
  }
}
`;
  // nft opens /dev/stdin itself, which fails on Node's socketpair stdio: use a file.
  const file = join(tmpDir, `${u.routerNs}.nft`);
  await writeFile(file, script);
  await nftIn(u.routerNs, '-f', file);
}

/** Turns the black hole for forwarded traffic on or off (one atomic nft transaction). */
export async function setRouterDrop(u: Uplink, drop: boolean): Promise<void> {
  const flush = `flush chain inet ${ROUTER_TABLE} gate`;
  await nftIn(u.routerNs, drop ? `${flush}; add rule inet ${ROUTER_TABLE} gate counter name "dropped" drop` : flush);
}

interface NftCounter {
  counter?: { name: string; packets: number; bytes: number };
}

/** Reads the router's counters. */
export async function readRouterCounters(u: Uplink): Promise<RouterCounters> {
  const { stdout } = await nftIn(u.routerNs, '-j', 'list', 'counters', 'table', 'inet', ROUTER_TABLE);
  const parsed = JSON.parse(stdout) as { nftables: NftCounter[] };
  const byName = new Map<string, { packets: number; bytes: number }>();
  for (const item of parsed.nftables) if (item.counter) byName.set(item.counter.name, item.counter);
  const get = (name: string): { packets: number; bytes: number } => {
    const c = byName.get(name);
    if (!c) throw new Error(`router ${u.routerNs} has no counter ${name}`);
    return c;
  };
  return {
    fwdOut: get('fwd_out').packets,
    fwdIn: get('fwd_in').packets,
    bytesOut: get('fwd_out').bytes,
    bytesIn: get('fwd_in').bytes,
    dropped: get('dropped').packets,
    spoofed: get('spoofed').packets,
  };
}

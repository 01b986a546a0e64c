/**
 * Manage mode with DHCP, beside connmand 1.41: a session pinned to a DHCP-configured uplink, the
 * uplink's carrier cut on the router side and given back; how long from carrier back until the
 * session reports `connected` again. Both daemons configure eth-b from the same dnsmasq
 * (test/integration/harness/dhcp-server.ts) and eth-a statically; each runs in its own sandbox.
 *
 * One process makes the link change (one RTM_NEWLINK on a socket opened in the router's
 * namespace, bench/drivers/netns-socket.ts), receives the session's Updates and stamps every
 * step on one clock (`performance.now()`): the kernel's notifications in the device namespace
 * (carrier, address, default route), dnsmasq's log lines and the daemon's own log lines as they
 * arrive. The per-step medians show where the time goes.
 *
 * Figures, not pass/fail. Needs root, `ip netns`, dnsmasq, ethtool and (for the connmand column)
 * connmand; otherwise prints why and returns.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { EventSocket } from '../daemon/adapters/netlink/event-socket.js';
import type { RtnlClient } from '../daemon/adapters/rtnetlink/client.js';
import { RTNLGRP } from '../daemon/adapters/rtnetlink/messages/constants.js';
import { connmandSkipReason, startConnmand } from '../test/integration/harness/connmand.js';
import { startDhcpServer } from '../test/integration/harness/dhcp-server.js';
import {
  createSandbox,
  integrationSkipReason,
  type Sandbox,
  type SandboxProcess,
} from '../test/integration/harness/sandbox.js';
import { startTestDaemon } from '../test/integration/harness/test-daemon.js';
import { ConnmanClient, v } from '../test/integration/support/connman-client.js';
import { eventsIn, NlLink, socketInNamespace } from './drivers/netns-socket.js';
import { twoEthernets } from './manage.js';
import { r3, summarize } from './stats.js';

/** Knobs of {@link runCarrierBackBench}. */
export interface CarrierBackOptions {
  rounds?: number;
  warmup?: number;
  /**
   * Which daemons to measure (default netsessiond and connmand; connmand is skipped with a reason
   * when absent). `netsessiond-udhcpc` is netsessiond with `DhcpClient = udhcpc`, for comparison.
   */
  daemons?: readonly DaemonName[];
  /** Print every round's steps, not only the medians. */
  verbose?: boolean;
}

type DaemonName = 'netsessiond' | 'netsessiond-udhcpc' | 'connmand';

/** One stamped event of a round, in ms after the carrier-up request was sent. */
interface Stamp {
  at: number;
  what: string;
}

interface RoundResult {
  connected: number | null;
  online: number | null;
  steps: Stamp[];
}

const UPLINKS = [
  { name: 'eth-a', v6: false },
  { name: 'eth-b', v6: false },
];

const PROVISIONING = twoEthernets('dhcp');

const RTM_NEWLINK = 16;
const RTM_NEWADDR = 20;
const RTM_NEWROUTE = 24;
const IFF_LOWER_UP = 0x10000;
const RTA_OIF = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Which log lines are steps worth stamping; `once`: only the first of a round. */
const LINE_STEPS: Array<[string, RegExp, 'once'?]> = [
  ['dnsmasq: DHCPDISCOVER', /DHCPDISCOVER\(/],
  ['dnsmasq: DHCPOFFER', /DHCPOFFER\(/],
  ['dnsmasq: DHCPREQUEST', /DHCPREQUEST\(/],
  ['dnsmasq: DHCPNAK', /DHCPNAK\(/],
  ['dnsmasq: DHCPACK', /DHCPACK\(/],
  ['daemon: DHCP client started', /manage: DHCP client started on eth-b/],
  ['daemon: client sends', /dhcp: eth-b: .*(sending|INIT-REBOOT|REQUEST)/i],
  ['daemon: lease reported', /manage: DHCP (bound|renew) /],
  // The session side: the kernel reconcile a session's Update waits for (routing adapter ops).
  ['daemon: first routing op', /netsessiond debug: routing: (?!no sysctls)/, 'once'],
];

/** Kernel notifications in the device namespace: carrier, address and default route of `ifindex`. */
class KernelMonitor {
  readonly seen: Stamp[] = [];

  private constructor(readonly events: EventSocket) {}

  static async open(ns: string, ifindex: number): Promise<KernelMonitor> {
    let mon: KernelMonitor | null = null;
    const events = await eventsIn(ns, [RTNLGRP.LINK, RTNLGRP.IPV4_IFADDR, RTNLGRP.IPV4_ROUTE], (msgs) => {
      const at = performance.now();
      for (const m of msgs) {
        const what = describeKernel(m.type, m.payload, ifindex);
        if (what) mon?.seen.push({ at, what });
      }
    });
    mon = new KernelMonitor(events);
    return mon;
  }
}

function describeKernel(type: number, d: Buffer, ifindex: number): string | null {
  // struct ifinfomsg: family u8, pad u8, type u16, index s32, flags u32, change u32
  if (type === RTM_NEWLINK && d.length >= 12 && d.readInt32LE(4) === ifindex)
    return d.readUInt32LE(8) & IFF_LOWER_UP ? 'kernel: carrier on' : null;
  // struct ifaddrmsg: family, prefixlen, flags, scope u8; index u32
  if (type === RTM_NEWADDR && d.length >= 8 && d[0] === 2 && d.readUInt32LE(4) === ifindex)
    return 'kernel: address added';
  // struct rtmsg (12 bytes): family, dst_len, src_len, tos, table, protocol, scope, type, flags u32
  if (type === RTM_NEWROUTE && d.length >= 12 && d[0] === 2 && d[1] === 0) {
    for (let off = 12; off + 4 <= d.length; ) {
      const len = d.readUInt16LE(off);
      if (len < 4) break;
      if (d.readUInt16LE(off + 2) === RTA_OIF && len >= 8 && d.readUInt32LE(off + 4) === ifindex)
        return 'kernel: default route added';
      off += (len + 3) & ~3;
    }
  }
  return null;
}

/** Stamps the lines of `proc` (daemon or dnsmasq) as they arrive. */
function stampLines(proc: SandboxProcess, out: Stamp[]): void {
  proc.onLine((line) => {
    const at = performance.now();
    for (const [what, re, once] of LINE_STEPS)
      if (re.test(line) && !(once && out.some((x) => x.what === what))) out.push({ at, what });
  });
}

/** Starts `daemon` in manage mode on a fresh sandbox; resolves with its process and the sandbox. */
async function startWorld(daemon: DaemonName): Promise<{ sb: Sandbox; proc: SandboxProcess; dnsmasq: SandboxProcess }> {
  // The open bus policy for both: the client's connect-time Peer.Ping to the bus must pass.
  const sb = await createSandbox({ uplinks: UPLINKS, dbus: true });
  try {
    for (const u of sb.uplinks) await sb.bareUplink(u.name);
    const dhcp = await startDhcpServer(sb, 'eth-b');
    if (daemon === 'connmand') {
      const cm = await startConnmand(sb, { dhcp: ['eth-b'] });
      return { sb, proc: cm.process, dnsmasq: dhcp.proc };
    }
    const prov = join(sb.tmpDir, 'provisioning');
    mkdirSync(prov, { recursive: true });
    writeFileSync(join(prov, 'bench.config'), PROVISIONING);
    const td = await startTestDaemon(sb, {
      args: ['--debug'],
      general: [
        'ManageInterfaces = eth-*',
        `ProvisioningDir = ${prov}`,
        ...(daemon === 'netsessiond-udhcpc' ? ['DhcpClient = udhcpc'] : []),
      ],
      bearers: { 'eth-a': 'ethernet', 'eth-b': 'ethernet' },
    });
    return { sb, proc: td.daemon, dnsmasq: dhcp.proc };
  } catch (err) {
    await sb.destroy();
    throw err;
  }
}

async function measureDaemon(daemon: DaemonName, rounds: number, warmup: number): Promise<RoundResult[]> {
  const { sb, proc, dnsmasq } = await startWorld(daemon);
  const client = await ConnmanClient.connect(sb.dbusAddress!);
  const sockets: Array<RtnlClient | EventSocket> = [];
  const open = async (ns: string): Promise<RtnlClient> => {
    const sock = await socketInNamespace(ns);
    sockets.push(sock);
    return sock;
  };
  try {
    const b = sb.uplink('eth-b');
    const router = NlLink.open(await open(b.routerNs), b.routerLan);
    const kernel = await KernelMonitor.open(sb.devNs, b.ifindex);
    sockets.push(kernel.events);
    const lines: Stamp[] = [];
    stampLines(proc, lines);
    stampLines(dnsmasq, lines);
    const { path, n } = await client.createSession({ AllowedInterface: v.s('eth-b') }, '/bench/carrier/n1');
    const up = (s: Record<string, unknown>) =>
      s.Interface === 'eth-b' && (s.State === 'connected' || s.State === 'online');
    await n.waitFor(up, 30_000, `${daemon}: session connected on eth-b`);
    const out: RoundResult[] = [];
    for (let i = 0; i < warmup + rounds; i++) {
      // Settled: online (or as far as it gets), then the cut.
      await sleep(300);
      const k = n.updates.length;
      await router.set(false);
      await n.waitFor(
        () => n.updates.slice(k).some((u) => u.values.State === 'disconnected'),
        10_000,
        `${daemon}: disconnected in round ${i}`,
      );
      // Let the daemon finish its reaction to the loss (the DHCP client stopped, addresses removed).
      await sleep(300);
      const k2 = n.updates.length;
      kernel.seen.length = 0;
      lines.length = 0;
      const { t0 } = await router.set(true);
      await n.waitFor(
        () =>
          n.updates
            .slice(k2)
            .some((u) => up(u.values) || u.values.State === 'connected' || u.values.State === 'online'),
        30_000,
        `${daemon}: back in round ${i}`,
      );
      // Late steps (the online check, the route) still land in the buffers.
      await sleep(200);
      if (i < warmup) continue;
      const ups = n.updates.slice(k2);
      const c = ups.find((u) => u.values.State === 'connected' || u.values.State === 'online');
      const o = ups.find((u) => u.values.State === 'online');
      const steps = [...kernel.seen, ...lines].filter((s) => s.at >= t0).map((s) => ({ at: s.at - t0, what: s.what }));
      // First occurrence of each step only.
      const first = new Map<string, number>();
      for (const s of steps.sort((x, y) => x.at - y.at)) {
        let w = s.what;
        for (let j = 2; first.has(w); j++) w = `${s.what} #${j}`;
        first.set(w, s.at);
      }
      if (c) first.set('session: Update connected', c.at - t0);
      out.push({
        connected: c ? c.at - t0 : null,
        online: o ? o.at - t0 : null,
        steps: [...first].map(([what, at]) => ({ what, at })).sort((x, y) => x.at - y.at),
      });
    }
    await client.session(path).destroy();
    return out;
  } finally {
    // Closed before their namespaces go: a socket left in a deleted namespace errors out.
    for (const sock of sockets) sock.close();
    client.disconnect();
    await sb.destroy();
  }
}

/** Median time of each step over the rounds, in the order of their medians. */
function stepMedians(rounds: RoundResult[]): Array<{ step: string; n: number; 'median ms': number | null }> {
  const by = new Map<string, number[]>();
  for (const r of rounds) for (const s of r.steps) by.set(s.what, [...(by.get(s.what) ?? []), s.at]);
  return [...by]
    .map(([step, xs]) => ({ step, n: xs.length, 'median ms': r3(summarize(xs)?.median) }))
    .sort((a, b) => (a['median ms'] ?? 0) - (b['median ms'] ?? 0));
}

/** The row's name as the bench prints it. */
export const CARRIER_BACK_ROW = "pinned uplink's carrier back → session connected (manage mode, DHCP)";

export async function runCarrierBackBench(opts: CarrierBackOptions = {}): Promise<void> {
  const skip = integrationSkipReason();
  if (skip) {
    console.log(`# carrier-back benchmark skipped: ${skip}`);
    return;
  }
  const rounds = opts.rounds ?? 10;
  const warmup = opts.warmup ?? 2;
  const results = new Map<DaemonName, RoundResult[]>();
  for (const d of opts.daemons ?? ['netsessiond', 'connmand']) {
    if (d === 'connmand') {
      const why = connmandSkipReason();
      if (why) {
        console.log(`(connmand column skipped: ${why})`);
        continue;
      }
    }
    results.set(d, await measureDaemon(d, rounds, warmup));
  }
  const med = (d: DaemonName, k: 'connected' | 'online') =>
    summarize((results.get(d) ?? []).flatMap((r) => (r[k] === null ? [] : [r[k]])));
  const ours = med('netsessiond', 'connected');
  const theirs = med('connmand', 'connected');
  console.table([
    {
      measurement: CARRIER_BACK_ROW,
      n: ours?.n ?? 0,
      'netsessiond median ms': r3(ours?.median),
      'p90 ms': r3(ours?.p90),
      'connmand median ms': r3(theirs?.median),
      'connmand p90 ms': r3(theirs?.p90),
      ratio: ours && theirs ? r3(ours.median / theirs.median) : null,
      target: '≤ 0.5',
    },
    {
      measurement: '… → session online (after the online check)',
      n: med('netsessiond', 'online')?.n ?? 0,
      'netsessiond median ms': r3(med('netsessiond', 'online')?.median),
      'p90 ms': r3(med('netsessiond', 'online')?.p90),
      'connmand median ms': r3(med('connmand', 'online')?.median),
      'connmand p90 ms': r3(med('connmand', 'online')?.p90),
      ratio: null,
      target: '',
    },
  ]);
  const udhcpc = med('netsessiond-udhcpc', 'connected');
  if (udhcpc)
    console.log(`(netsessiond with DhcpClient = udhcpc: median ${r3(udhcpc.median)} ms, p90 ${r3(udhcpc.p90)} ms)`);
  for (const [d, rs] of results) {
    console.log(`\n## ${d}: where the time goes (ms after the router-side link-up request, medians per step)`);
    console.table(stepMedians(rs));
    if (opts.verbose) for (const r of rs) console.log(r.steps.map((s) => `${s.what} @${s.at.toFixed(2)}`).join(' | '));
  }
}

// `node --import tsx bench/carrier-back.ts [rounds] [daemon,daemon…]` runs this alone (daemons:
// netsessiond, netsessiond-udhcpc, connmand; default netsessiond,connmand).
if (import.meta.url === `file://${process.argv[1]}`) {
  const rounds = Number(process.argv[2] ?? 10);
  const only = process.argv[3]?.split(',') as DaemonName[] | undefined;
  await runCarrierBackBench({ rounds, verbose: true, ...(only ? { daemons: only } : {}) });
}

/**
 * SourceIPRule sessions, netsessiond beside connmand 1.41, both run here, one after the other,
 * each in a fresh sandbox of network namespaces on a private system bus, each driven by the same
 * clients in this process, one after the other: the lib/dbus FastClient (near a C client's
 * cost, so the rows show the daemons) as the SDK reaches each daemon (netsessiond's private
 * socket, connmand's bus; the targets are read from these rows) and on the bus, and the test
 * suite's dbus-next client (the rows of earlier runs, kept for continuity). Figures, not pass/fail; the
 * ratio column is netsessiond / connmand (targets: first Update ≤ 1.0×, 200 pairs ≤ 0.5×,
 * CPU ≤ 1.0×).
 *
 * (a) CreateSession(AllowedInterface=eth-b, SourceIPRule=true) → first Update (netsessiond sends
 *     it once the source rules are in the kernel), N samples after warm-up, 20 ms apart as the
 *     connmand reference was taken; each session destroyed before the pause.
 * (b) 200 sequential pairs: CreateSession → first Update → Destroy, back to back; wall time.
 * (c) Daemon CPU per 1,000 such pairs: utime + stime of the daemon (and of any child it waited
 *     for, e.g. a spawned nft) from /proc/<pid>/stat, in seconds.
 *
 * netsessiond runs compiled (as installed, see daemon-latency.ts) with its default datapath
 * (rtnetlink routing + nftables over netlink). Raw samples go to .bench-out/source-ip-rule.json.
 * Needs root, `ip netns` and connmand; otherwise prints why and returns.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { CONNMAN_BUS_POLICY, connmandSkipReason, startConnmand } from '../test/integration/harness/connmand.js';
import { REPO_ROOT } from '../test/integration/harness/daemon.js';
import { createSandbox, integrationSkipReason, type Sandbox } from '../test/integration/harness/sandbox.js';
import { ConnmanClient, v } from '../test/integration/support/connman-client.js';
import {
  BENCH_BUS_POLICY,
  buildDaemon,
  shippedDaemon,
  startDaemon,
  untilSteady,
  writeConfig,
} from './daemon-latency.js';
import { type BenchClient, type ClientKind, connectBenchClient } from './drivers/bench-clients.js';
import { WARM_PAIRS, warmUp } from './drivers/warm-up.js';
import { r3, summarize } from './stats.js';

/** Knobs of {@link runSourceIpRuleBench}. */
export interface SourceIpRuleBenchOptions {
  samples?: number;
  warmup?: number;
  pairs?: number;
  cpuPairs?: number;
}

interface DaemonFigures {
  firstUpdateMs: number[];
  pairsSeconds: number;
  cpuSecondsPer1000: number;
}

const OUT_DIR = join(REPO_ROOT, '.bench-out');
const SETTINGS = { AllowedInterface: v.s('eth-b'), SourceIPRule: v.b(true) };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let seq = 0;

/** CPU seconds of a process and its waited-for children (utime, stime, cutime, cstime). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14-17 of proc(5), counted from after the command name (field 3 is index 0).
  const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  return ticks / 100; // USER_HZ is 100 on Linux
}

/**
 * The clients, the SDK's path first (the targets are read from its rows): lib/dbus as the SDK
 * reaches each daemon (netsessiond's private socket; connmand has none, so the bus), then
 * lib/dbus and dbus-next on the bus, as every ConnMan client calls.
 */
const CLIENTS: readonly ClientKind[] = ['lib/dbus direct', 'lib/dbus', 'dbus-next'];

async function pair(client: BenchClient): Promise<number> {
  const np = `/bench/sip/n${++seq}`;
  const t0 = performance.now();
  const { path, firstUpdate } = await client.create(SETTINGS, np);
  const first = await firstUpdate(10_000);
  await client.destroy(path);
  return first - t0;
}

/** (a)-(c) with each client in turn, on one running daemon. */
async function measureBoth(
  address: string,
  daemon: keyof typeof WARM_PAIRS,
  pid: number,
  o: Required<SourceIpRuleBenchOptions>,
): Promise<Record<ClientKind, DaemonFigures>> {
  const out = {} as Record<ClientKind, DaemonFigures>;
  // As in call-path.ts: the first client must not meet a netsessiond whose code V8 has not tiered up.
  const warm = await connectBenchClient('lib/dbus', address);
  try {
    await warmUp(() => pair(warm), WARM_PAIRS[daemon], `${daemon}, SourceIPRule pairs on the bus`);
  } finally {
    warm.close();
  }
  for (const kind of CLIENTS) {
    const client = await connectBenchClient(kind, address);
    try {
      out[kind] = await measure(client, pid, o);
    } finally {
      client.close();
    }
  }
  return out;
}

async function measure(
  client: BenchClient,
  pid: number,
  o: Required<SourceIpRuleBenchOptions>,
): Promise<DaemonFigures> {
  const firstUpdateMs: number[] = [];
  for (let i = 0; i < o.warmup + o.samples; i++) {
    const ms = await pair(client);
    if (i >= o.warmup) firstUpdateMs.push(ms);
    await sleep(20);
  }
  const t0 = performance.now();
  for (let i = 0; i < o.pairs; i++) await pair(client);
  const pairsSeconds = (performance.now() - t0) / 1000;
  await sleep(200);
  const c0 = cpuSeconds(pid);
  for (let i = 0; i < o.cpuPairs; i++) await pair(client);
  await sleep(200); // let the last reconcile finish inside the measured window
  const cpuSecondsPer1000 = ((cpuSeconds(pid) - c0) * 1000) / o.cpuPairs;
  return { firstUpdateMs, pairsSeconds, cpuSecondsPer1000 };
}

async function withSandbox<T>(fn: (sb: Sandbox) => Promise<T>): Promise<T> {
  // As daemon-latency.ts: the system policy, both daemons' own, and the client's Peer.Ping to the bus.
  const extra = join(OUT_DIR, 'bench-dbus.conf');
  writeFileSync(extra, BENCH_BUS_POLICY);
  const sb = await createSandbox({
    dbus: { policy: 'system', include: [join(REPO_ROOT, 'daemon/netsession-dbus.conf'), CONNMAN_BUS_POLICY, extra] },
  });
  try {
    return await fn(sb);
  } finally {
    await sb.destroy();
  }
}

/** Runs (a)-(c) for both daemons and prints one table of ratios; see the module comment. */
export async function runSourceIpRuleBench(opts: SourceIpRuleBenchOptions = {}): Promise<void> {
  const skip = integrationSkipReason() ?? connmandSkipReason();
  if (skip) {
    console.log(`(skipped: ${skip})`);
    return;
  }
  const o: Required<SourceIpRuleBenchOptions> = {
    samples: opts.samples ?? 100,
    warmup: opts.warmup ?? 10,
    pairs: opts.pairs ?? 200,
    cpuPairs: opts.cpuPairs ?? 1000,
  };
  mkdirSync(OUT_DIR, { recursive: true });
  const load = readFileSync('/proc/loadavg', 'utf8').trim();

  const connmand = await withSandbox(async (sb) => {
    const cm = await startConnmand(sb, { onlineCheck: false });
    try {
      return await measureBoth(sb.dbusAddress!, 'connmand', cm.pid, o);
    } finally {
      await cm.stop();
    }
  });

  const entry = buildDaemon();
  const ours = await withSandbox(async (sb) => {
    const conf = writeConfig(sb, 4096);
    const daemon = await startDaemon(sb, conf, shippedDaemon(entry));
    const client = await ConnmanClient.connect(sb.dbusAddress!);
    try {
      const deadline = Date.now() + 15_000;
      while ((await client.services()).filter((s) => s.props.State === 'online').length < 3) {
        if (Date.now() > deadline) throw new Error('services never all online');
        await sleep(50);
      }
      await untilSteady(daemon);
      return await measureBoth(sb.dbusAddress!, 'netsessiond', daemon.pid, o);
    } finally {
      client.disconnect();
      await daemon.proc.kill('SIGTERM', 3000);
    }
  });

  const med = (xs: number[]) => summarize(xs)?.median ?? NaN;
  const rows = CLIENTS.flatMap((kind) => {
    const a = ours[kind];
    const b = connmand[kind];
    const target = (t: string) => (kind === CLIENTS[0] ? t : '');
    return [
      {
        client: kind,
        measurement: `CreateSession(AllowedInterface, SourceIPRule) → first Update, median of ${o.samples} (ms)`,
        netsessiond: r3(med(a.firstUpdateMs)),
        connmand: r3(med(b.firstUpdateMs)),
        ratio: r3(med(a.firstUpdateMs) / med(b.firstUpdateMs)),
        target: target('≤ 1.0×'),
      },
      {
        client: kind,
        measurement: `${o.pairs} sequential SourceIPRule pairs (s)`,
        netsessiond: r3(a.pairsSeconds),
        connmand: r3(b.pairsSeconds),
        ratio: r3(a.pairsSeconds / b.pairsSeconds),
        target: target('≤ 0.5×'),
      },
      {
        client: kind,
        measurement: 'daemon CPU per 1,000 SourceIPRule pairs (s)',
        netsessiond: r3(a.cpuSecondsPer1000),
        connmand: r3(b.cpuSecondsPer1000),
        ratio: r3(a.cpuSecondsPer1000 / b.cpuSecondsPer1000),
        target: target('≤ 1.0×'),
      },
    ];
  });
  console.table(rows);
  console.log(`(load average at start: ${load}; compare only low-load runs)`);
  writeFileSync(
    join(OUT_DIR, 'source-ip-rule.json'),
    `${JSON.stringify({ date: new Date().toISOString(), load, options: o, netsessiond: ours, connmand }, null, 1)}\n`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // `node --import tsx bench/source-ip-rule.ts`; SIP_QUICK=1 for a short run.
  const quick = process.env.SIP_QUICK === '1';
  await runSourceIpRuleBench(quick ? { samples: 20, warmup: 5, pairs: 50, cpuPairs: 100 } : {});
}

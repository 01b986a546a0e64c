/**
 * The daemon's footprint on a device, in one table beside connmand 1.41 and a bare Node process:
 * idle VmRSS and RssAnon (3 services online), VmRSS with 1,000 and 10,000 live sessions and after
 * destroying them, VmRSS after 500 and after 10,000 create/destroy cycles, and exec → READY=1
 * (3 services, a policy dir of 10 files; median of several starts). netsessiond runs as it
 * ships: the bundle (`npm run build` or the integration setup builds dist/netsessiond.cjs) with
 * its shebang's Node options. connmand has no sd_notify: its start is exec → net.connman owned
 * and its 3 services ready (harness/connmand.ts), the bare process's exec → its first line.
 * Memory figures are medians of 10 samples 100 ms apart, taken 2 s after each phase.
 *
 * Needs root and `ip netns` (connmand optional); otherwise prints why and returns.
 * Run alone: `node --import tsx bench/footprint.ts`. It bundles the working tree's sources on every
 * run, so an A/B of two versions swaps sources (git stash, a checkout), not the built bundle.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
// @ts-expect-error: a plain .mjs build script without type declarations
import { bundleDaemon } from '../scripts/bundle-daemon.mjs';
import { CONNMAN_BUS_POLICY, connmandSkipReason, startConnmand } from '../test/integration/harness/connmand.js';
import { DAEMON_BUNDLE, daemonCommand } from '../test/integration/harness/daemon.js';
import { integrationSkipReason, type Sandbox } from '../test/integration/harness/sandbox.js';
import { ConnmanClient } from '../test/integration/support/connman-client.js';
import { NotifyListener } from '../test/integration/support/notify-listener.js';
import { bareNodeRss, createBenchSandbox, type MemStatus, memSamples, nodePid, writeConfig } from './daemon-latency.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Targets for a quiet machine (kB or ms). */
const TARGETS = {
  idleRss: '≤ 55 MB',
  idleAnon: '≤ 12 MB',
  s1000: '≤ 60 MB',
  s10000: '≤ 100 MB',
  afterDestroy: 'within 10 MB of idle',
  cycles: 'within 5 MB of after-500',
  ready: '≤ 150 ms median',
};

export interface Footprint {
  idle: MemStatus;
  s1000: MemStatus | null;
  s10000: MemStatus | null;
  afterDestroy: MemStatus | null;
  after500: MemStatus | null;
  after10000: MemStatus | null;
  readyMs: number[];
  /** Mean µs per create → first Update → destroy cycle over the 9,500 cycles (32 in flight). */
  cycleUs?: number;
}

async function settleAndSample(pid: number): Promise<MemStatus> {
  await sleep(2000);
  return memSamples(pid, 10, 100);
}

/** Creates `count` sessions, `window` calls in flight, each until its first Update. */
async function createMany(client: ConnmanClient, count: number, tag: string, window = 64): Promise<string[]> {
  const paths: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const np = `/fp/${tag}/n${next++}`;
      const { path, n } = await client.createSession({}, np);
      await n.waitCount(1, 30_000);
      paths.push(path);
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
  return paths;
}

async function destroyMany(client: ConnmanClient, paths: string[], window = 64): Promise<void> {
  const todo = [...paths];
  const worker = async () => {
    for (let p = todo.pop(); p !== undefined; p = todo.pop()) await client.session(p).destroy();
  };
  await Promise.all(Array.from({ length: window }, worker));
}

/** `cycles` create → first Update → destroy cycles, `window` in flight. */
async function cycle(client: ConnmanClient, cycles: number, tag: string, window = 32): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < cycles) {
      const { path, n } = await client.createSession({}, `/fp/${tag}/c${next++}`);
      await n.waitCount(1, 30_000);
      await client.session(path).destroy();
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
}

/** The memory phases, on a server already idle with 3 services. */
async function measureSessions(
  client: ConnmanClient,
  pid: number,
  tag: string,
  maxLive: number,
): Promise<Omit<Footprint, 'idle' | 'readyMs' | 'cycleUs'> & { cycleUs: number }> {
  const first = await createMany(client, Math.min(1000, maxLive), `${tag}a`);
  const s1000 = await settleAndSample(pid);
  let s10000: MemStatus | null = null;
  let rest: string[] = [];
  if (maxLive >= 10_000) {
    rest = await createMany(client, 9000, `${tag}b`);
    s10000 = await settleAndSample(pid);
  }
  await destroyMany(client, [...first, ...rest]);
  const afterDestroy = await settleAndSample(pid);
  await cycle(client, 500, `${tag}c`);
  const after500 = await settleAndSample(pid);
  const t0 = performance.now();
  await cycle(client, 9500, `${tag}d`);
  const cycleUs = ((performance.now() - t0) * 1000) / 9500;
  const after10000 = await settleAndSample(pid);
  return { s1000, s10000, afterDestroy, after500, after10000, cycleUs };
}

async function measureNetsessiond(sb: Sandbox, starts: number): Promise<Footprint> {
  const conf = writeConfig(sb, 20_000);
  const policyDir = join(sb.tmpDir, 'fp-policy');
  mkdirSync(policyDir, { recursive: true });
  for (let i = 0; i < 10; i++)
    writeFileSync(join(policyDir, `p${i}.policy`), `[policy_${i}]\nuid = nobody\nAllowedBearers = ethernet wifi\n`);
  const args = [
    '--config',
    conf,
    '--state-dir',
    join(sb.tmpDir, 'fp-state'),
    '--policy-dir',
    policyDir,
    '--online-check-url',
    sb.inet.onlineUrl4,
    '--online-check-url6',
    sb.inet.onlineUrl6,
    '--peer-socket',
    join(sb.tmpDir, 'fp-private'),
  ];
  const readyMs: number[] = [];
  for (let i = 0; ; i++) {
    const listener = new NotifyListener(join(sb.tmpDir, `fp-notify-${i}`));
    try {
      const t0 = performance.now();
      // FP_NODE_ARGS / FP_ENV: extra Node options and environment, to compare settings.
      const extraArgs = (process.env.FP_NODE_ARGS ?? '').split(' ').filter((x) => x !== '');
      const extraEnv = Object.fromEntries(
        (process.env.FP_ENV ?? '')
          .split(' ')
          .filter((x) => x.includes('='))
          .map((x) => [x.slice(0, x.indexOf('=')), x.slice(x.indexOf('=') + 1)]),
      );
      const proc = sb.spawn(sb.devNs, daemonCommand(args, extraArgs), {
        env: { ...extraEnv, NOTIFY_SOCKET: listener.address },
      });
      const ready = await listener.waitFor((m) => m.fields.READY === '1', 20_000, 'READY=1');
      readyMs.push(ready.at - t0);
      if (i < starts - 1) {
        await proc.kill('SIGTERM', 5000);
        continue;
      }
      const pid = nodePid(proc.pid);
      const client = await ConnmanClient.connect(sb.dbusAddress!);
      try {
        const deadline = Date.now() + 15_000;
        while ((await client.services()).filter((s) => s.props.State === 'online').length < 3) {
          if (Date.now() > deadline) throw new Error('services never all online');
          await sleep(50);
        }
        const idle = await settleAndSample(pid);
        return { idle, readyMs, ...(await measureSessions(client, pid, 'ns', 10_000)) };
      } finally {
        client.disconnect();
        await proc.kill('SIGTERM', 5000);
      }
    } finally {
      listener.close();
    }
  }
}

async function measureConnmand(sb: Sandbox, starts: number): Promise<Footprint> {
  const readyMs: number[] = [];
  for (let i = 0; ; i++) {
    const t0 = performance.now();
    const cm = await startConnmand(sb, { onlineCheck: true });
    readyMs.push(performance.now() - t0);
    if (i < starts - 1) {
      await cm.stop();
      continue;
    }
    const client = await ConnmanClient.connect(sb.dbusAddress!);
    try {
      const idle = await settleAndSample(cm.pid);
      return { idle, readyMs, ...(await measureSessions(client, cm.pid, 'cm', 10_000)) };
    } finally {
      client.disconnect();
      await cm.stop();
    }
  }
}

async function bareNode(sb: Sandbox, starts: number): Promise<Footprint> {
  const readyMs: number[] = [];
  for (let i = 0; i < starts; i++) {
    const t0 = performance.now();
    const proc = sb.spawn(sb.devNs, [process.execPath, '-e', 'console.log("up")']);
    await proc.waitForLine('up', { stream: 'stdout' });
    readyMs.push(performance.now() - t0);
    await proc.exited;
  }
  return {
    idle: await bareNodeRss(sb),
    s1000: null,
    s10000: null,
    afterDestroy: null,
    after500: null,
    after10000: null,
    readyMs,
  };
}

const mb = (kB: number | undefined) => (kB === undefined ? null : `${(kB / 1024).toFixed(1)} MB`);

/** Prints the table; returns the figures (also written to .bench-out/footprint.json). */
export async function runFootprintBench(
  opts: { starts?: number; connmand?: boolean } = {},
): Promise<Record<string, Footprint | null> | null> {
  const skip = integrationSkipReason();
  if (skip) {
    console.log(`# footprint skipped: ${skip}`);
    return null;
  }
  const starts = opts.starts ?? 7;
  await (bundleDaemon as () => Promise<unknown>)();
  const connmandSkip = opts.connmand === false ? 'not asked for' : connmandSkipReason();
  const sb = await createBenchSandbox(connmandSkip ? [] : [CONNMAN_BUS_POLICY]);
  const load0 = readFileSync('/proc/loadavg', 'utf8').trim();
  const out: Record<string, Footprint | null> = { netsessiond: null, connmand: null, node: null };
  try {
    out.netsessiond = await measureNetsessiond(sb, starts);
    if (!process.env.FP_ONLY_DAEMON) out.node = await bareNode(sb, starts);
    if (!connmandSkip) {
      try {
        out.connmand = await measureConnmand(sb, Math.min(starts, 3));
      } catch (err) {
        console.log(`(connmand not measured: ${(err as Error).message.split('\n')[0]})`);
      }
    }
  } finally {
    await sb.destroy();
  }
  const n = out.netsessiond!;
  const c = out.connmand;
  const b = out.node ?? {
    idle: { VmRSS: 0, RssAnon: 0 } as MemStatus,
    s1000: null,
    s10000: null,
    afterDestroy: null,
    after500: null,
    after10000: null,
    readyMs: [0],
  };
  const row = (what: string, pick: (f: Footprint) => string | null, target: string) => ({
    measurement: what,
    netsessiond: pick(n),
    connmand: c ? pick(c) : null,
    'bare node': pick(b),
    target,
  });
  const delta = (x: MemStatus | null, y: MemStatus | null) =>
    x && y ? `${((x.VmRSS - y.VmRSS) / 1024).toFixed(1)} MB` : null;
  console.log(
    `\n# footprint: netsessiond (${DAEMON_BUNDLE.replace(/.*\//, '')}, shebang options) beside connmand 1.41 and a bare node process (load at start ${load0}, at end ${readFileSync('/proc/loadavg', 'utf8').trim()})`,
  );
  if (connmandSkip) console.log(`(connmand not run: ${connmandSkip})`);
  console.table([
    row('idle VmRSS, 3 services', (f) => mb(f.idle.VmRSS), TARGETS.idleRss),
    row('idle RssAnon', (f) => mb(f.idle.RssAnon), TARGETS.idleAnon),
    row('VmRSS, 1,000 live sessions', (f) => mb(f.s1000?.VmRSS), TARGETS.s1000),
    row('VmRSS, 10,000 live sessions', (f) => mb(f.s10000?.VmRSS), TARGETS.s10000),
    row(
      'VmRSS after destroying them (Δ idle)',
      (f) => (f.afterDestroy ? `${mb(f.afterDestroy.VmRSS)} (${delta(f.afterDestroy, f.idle)})` : null),
      TARGETS.afterDestroy,
    ),
    row('VmRSS after 500 create/destroy cycles', (f) => mb(f.after500?.VmRSS), ''),
    row(
      'VmRSS after 10,000 cycles (Δ after-500)',
      (f) => (f.after10000 ? `${mb(f.after10000.VmRSS)} (${delta(f.after10000, f.after500)})` : null),
      TARGETS.cycles,
    ),
    row(
      'create → first Update → destroy, µs per cycle (32 in flight, throughput)',
      (f) => (f.cycleUs === undefined ? null : `${f.cycleUs.toFixed(0)} µs`),
      'speed check for the V8 flags',
    ),
    row(
      `exec → ready, median of ${starts} (min–max)`,
      (f) =>
        `${median(f.readyMs).toFixed(0)} ms (${Math.min(...f.readyMs).toFixed(0)}–${Math.max(...f.readyMs).toFixed(0)})`,
      TARGETS.ready,
    ),
  ]);
  console.log(
    'ready = READY=1 on NOTIFY_SOCKET (netsessiond), net.connman owned with 3 services ready (connmand, harness poll), first line printed (bare node).',
  );
  mkdirSync('.bench-out', { recursive: true });
  writeFileSync('.bench-out/footprint.json', `${JSON.stringify(out, null, 1)}\n`);
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`)
  await runFootprintBench({
    connmand: process.argv.includes('--no-connmand') ? false : undefined,
    starts: Number(process.env.STARTS ?? 7),
  });

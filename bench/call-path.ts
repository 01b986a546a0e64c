/**
 * The D-Bus call path beside connmand, measured live in one sandbox with one client (the test
 * suite's independent ConnMan client): CreateSession({}) → first Update and → reply, the Destroy
 * round trip, 200 sequential Create+Destroy pairs, the daemon's CPU per 1,000 pairs (utime+stime
 * from /proc), and carrier loss → Update (the failover driver), each with the ratio to connmand.
 * Then a second netsessiond runs 1,000 pairs under `node --cpu-prof` and the profile's top
 * self-time entries are printed, so the next person sees where the time goes.
 *
 * netsessiond runs first (connmand takes the devices over and flushes their addresses), connmand
 * last. Needs root, `ip netns` and connmand 1.41; without connmand the ratios are left out.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CONNMAN_BUS_POLICY, connmandSkipReason, startConnmand } from '../test/integration/harness/connmand.js';
import { REPO_ROOT } from '../test/integration/harness/daemon.js';
import { integrationSkipReason, type Sandbox } from '../test/integration/harness/sandbox.js';
import { ConnmanClient } from '../test/integration/support/connman-client.js';
import { buildDaemon, createBenchSandbox, runFailoverDriver, startDaemon, writeConfig } from './daemon-latency.js';
import { r3, summarize } from './stats.js';

const OUT_DIR = join(REPO_ROOT, '.bench-out');
/** The profile recorded on dbus-next, before the call-path cuts. */
const BASELINE = join(REPO_ROOT, 'bench/baselines/call-path-profile-dbus-next.json');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CLK_TCK = 100;
/** The failover driver's scenario for the carrier-loss row. */
const CARRIER_LOSS = 'unpinned on eth-a, router-side carrier loss';

/** Knobs of {@link runCallPathBench}. */
export interface CallPathOptions {
  /** CreateSession rounds (after 20 warm-up), 20 ms apart. */
  rounds?: number;
  /** Pairs for the CPU figure and the profile. */
  cpuPairs?: number;
  /** Failover rounds (0: skip carrier loss). */
  failoverRounds?: number;
  /** Skip connmand even if installed. */
  noConnmand?: boolean;
  /** Profile only (no latency rows): for before/after comparisons while changing the daemon. */
  profileOnly?: boolean;
  /** Extra daemon arguments (e.g. `--firewall none`, to see what the firewall costs). */
  daemonArgs?: string[];
}

/**
 * connmand 1.41's carrier loss → Update for the same scenario (connmand-harness RESULTS.md), used
 * when the live connmand run fails.
 */
const CONNMAND_CARRIER_LOSS_MS = 2.58;

/** The figures of one daemon. */
export interface CallPathFigures {
  firstUpdate: number | null;
  reply: number | null;
  destroy: number | null;
  seq200: number | null;
  cpuPer1000: number | null;
  carrierLoss: number | null;
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 (utime, stime), counted from after the command name.
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

async function pair(client: ConnmanClient, np: string): Promise<void> {
  const { path } = await client.createSession({}, np);
  await client.session(path).destroy();
}

let seq = 0;

async function measure(
  sb: Sandbox,
  pid: number,
  opts: { rounds: number; cpuPairs: number; failoverRounds: number },
): Promise<CallPathFigures> {
  const client = await ConnmanClient.connect(sb.dbusAddress!);
  try {
    const first: number[] = [];
    const reply: number[] = [];
    const destroy: number[] = [];
    for (let i = 0; i < 20 + opts.rounds; i++) {
      const np = `/bench/cp/n${++seq}`;
      const n = client.notifier(np);
      const t0 = performance.now();
      const { path, repliedAt } = await client.createSession({}, np);
      const u = await n.waitCount(1, 5_000);
      const td = performance.now();
      await client.session(path).destroy();
      const te = performance.now();
      await sleep(20);
      if (i < 20) continue;
      first.push(u.at - t0);
      reply.push(repliedAt - t0);
      destroy.push(te - td);
    }
    const seqRuns: number[] = [];
    for (let r = 0; r < 5; r++) {
      const t0 = performance.now();
      for (let i = 0; i < 200; i++) await pair(client, `/bench/cp/s${++seq}`);
      seqRuns.push((performance.now() - t0) / 1000);
      await sleep(200);
    }
    const c0 = cpuSeconds(pid);
    for (let i = 0; i < opts.cpuPairs; i++) await pair(client, `/bench/cp/c${++seq}`);
    const cpu = ((cpuSeconds(pid) - c0) * 1000) / opts.cpuPairs;
    let carrierLoss: number | null = null;
    if (opts.failoverRounds > 0) {
      try {
        // Both daemons cut the uplink their unpinned session is on: connmand places it by its own
        // order (eth-b, eth-c) rather than on its default service eth-a, so a run waiting for eth-a
        // timed out against connmand after passing against netsessiond.
        const out = await runFailoverDriver(sb, opts.failoverRounds, 2, {
          only: [CARRIER_LOSS],
          backWhenConnected: true,
          followSession: true,
        });
        const s = out.scenarios.find((x) => x.name === CARRIER_LOSS);
        carrierLoss = summarize(s?.firstUpdate.filter((x): x is number => x !== null) ?? [])?.median ?? null;
      } catch (err) {
        console.log(`(carrier loss not measured: ${(err as Error).message.split('\n')[0]})`);
      }
    }
    return {
      firstUpdate: summarize(first)?.median ?? null,
      reply: summarize(reply)?.median ?? null,
      destroy: summarize(destroy)?.median ?? null,
      seq200: summarize(seqRuns)?.median ?? null,
      cpuPer1000: cpu,
      carrierLoss,
    };
  } finally {
    client.disconnect();
  }
}

/** One row of a CPU profile's self time. */
export interface ProfileEntry {
  what: string;
  selfMs: number;
  share: number;
}

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }>;
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Now on the clock V8's profiles use (CLOCK_MONOTONIC, µs), which every process shares. */
const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

/**
 * Self time per function (idle excluded), largest first; `share` is of the non-idle time. Only
 * samples inside `window` (monotonic µs) count, so start-up does not pass for per-call work.
 */
export function topEntries(
  file: string,
  n = 15,
  window: [number, number] = [0, Infinity],
): { total: number; entries: ProfileEntry[]; groups: ProfileEntry[] } {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((x) => [x.id, x]));
  const self = new Map<string, number>();
  const groups = new Map<string, number>();
  let total = 0;
  let at = prof.startTime;
  for (let i = 0; i < prof.samples.length; i++) {
    at += prof.timeDeltas[i] ?? 0;
    const node = byId.get(prof.samples[i]!);
    const dt = (prof.timeDeltas[i + 1] ?? prof.timeDeltas[i] ?? 0) / 1000;
    if (at < window[0] || at > window[1]) continue;
    if (!node || node.callFrame.functionName === '(idle)') continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const short = url
      .replace(/^file:\/\//, '')
      .replace(`${REPO_ROOT}`, '')
      .replace(/^.*node_modules\//, 'node_modules/');
    const key = `${functionName || '(anonymous)'}${short ? ` ${short}:${lineNumber + 1}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    const group = !url
      ? functionName
      : url.startsWith('node:')
        ? 'Node core (node:*)'
        : url.includes('node_modules/')
          ? `node_modules/${url.split('node_modules/')[1]!.split('/')[0]}`
          : short.startsWith('.bench-out/build/lib/dbus')
            ? 'lib/dbus (wire module)'
            : short.startsWith('.bench-out/build/daemon/adapters/dbus')
              ? 'daemon/adapters/dbus'
              : short.startsWith('.bench-out/build/daemon')
                ? 'daemon (other)'
                : short.startsWith('.bench-out/build/lib')
                  ? 'lib (other)'
                  : 'other';
    groups.set(group, (groups.get(group) ?? 0) + dt);
    total += dt;
  }
  const sorted = (m: Map<string, number>, k: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(([what, ms]) => ({ what, selfMs: ms, share: total ? ms / total : 0 }));
  return { total, entries: sorted(self, n), groups: sorted(groups, 12) };
}

/** 1,000 pairs against a netsessiond under `--cpu-prof`; returns the profile file and the pairs' time window. */
async function profileDaemon(
  sb: Sandbox,
  conf: string,
  entry: string,
  pairs: number,
  daemonArgs: string[] = [],
): Promise<{ file: string; window: [number, number] }> {
  const dir = join(OUT_DIR, 'cpuprof');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const d = await startDaemon(
    sb,
    conf,
    [process.execPath, '--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=200', entry],
    daemonArgs,
  );
  const client = await ConnmanClient.connect(sb.dbusAddress!);
  const window: [number, number] = [0, 0];
  try {
    await sleep(2000);
    for (let i = 0; i < 100; i++) await pair(client, `/bench/cp/w${++seq}`);
    window[0] = monotonicUs();
    for (let i = 0; i < pairs; i++) await pair(client, `/bench/cp/p${++seq}`);
    window[1] = monotonicUs();
  } finally {
    client.disconnect();
    await d.proc.kill('SIGTERM', 5000);
  }
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no CPU profile in ${dir}`);
  return { file: join(dir, file), window };
}

const ratio = (a: number | null, b: number | null) =>
  a !== null && b !== null && b > 0 ? `${(a / b).toFixed(2)}×` : '–';

/** Prints the call-path rows beside connmand and the daemon's CPU profile. */
export async function runCallPathBench(options: CallPathOptions = {}): Promise<void> {
  const skip = integrationSkipReason();
  if (skip) {
    console.log(`# call-path benchmark skipped: ${skip}`);
    return;
  }
  const opts = {
    rounds: options.rounds ?? 200,
    cpuPairs: options.cpuPairs ?? 1000,
    failoverRounds: options.failoverRounds ?? 20,
  };
  const connmandSkip = options.noConnmand ? 'not asked for' : connmandSkipReason();
  const entry = buildDaemon();
  mkdirSync(OUT_DIR, { recursive: true });
  // connmand's own bus policy file, as on a real machine, when it runs beside us.
  const sb = await createBenchSandbox(connmandSkip ? [] : [CONNMAN_BUS_POLICY]);
  try {
    const conf = writeConfig(sb, 4096);
    let ours: CallPathFigures | null = null;
    if (!options.profileOnly) {
      const d = await startDaemon(sb, conf, [process.execPath, entry], options.daemonArgs);
      try {
        await sleep(2000);
        ours = await measure(sb, d.pid, opts);
      } finally {
        await d.proc.kill('SIGTERM', 5000);
      }
    }
    const prof = await profileDaemon(sb, conf, entry, opts.cpuPairs, options.daemonArgs);
    const profile = topEntries(prof.file, 15, prof.window);
    let theirs: CallPathFigures | null = null;
    if (!options.profileOnly && !connmandSkip) {
      const c = await startConnmand(sb, { onlineCheck: true });
      try {
        await sleep(1000);
        theirs = await measure(sb, c.pid, opts);
      } catch (err) {
        console.log(`(connmand not measured: ${(err as Error).message.split('\n')[0]})`);
      } finally {
        await c.stop();
      }
      if (theirs && theirs.carrierLoss === null) {
        theirs.carrierLoss = CONNMAND_CARRIER_LOSS_MS;
        console.log(
          `(connmand's carrier loss → Update: ${CONNMAND_CARRIER_LOSS_MS} ms from the connmand-harness RESULTS.md, not this run)`,
        );
      }
    }
    if (ours) {
      console.log(
        `\n# call path: netsessiond beside connmand 1.41, same sandbox, same client (medians; load ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]})`,
      );
      if (connmandSkip) console.log(`(connmand not run: ${connmandSkip})`);
      const row = (what: string, unit: string, k: keyof CallPathFigures, target: string) => ({
        measurement: what,
        netsessiond: ours![k] === null ? null : `${r3(ours![k]!)} ${unit}`,
        connmand: theirs?.[k] == null ? null : `${r3(theirs[k]!)} ${unit}`,
        ratio: ratio(ours![k], theirs?.[k] ?? null),
        target,
      });
      console.table([
        row('CreateSession({}) → first Update', 'ms', 'firstUpdate', '≤ 0.5×'),
        row('CreateSession({}) → reply', 'ms', 'reply', ''),
        row('Destroy round trip', 'ms', 'destroy', ''),
        row('200 sequential {} pairs (Create; Destroy)', 's', 'seq200', '≤ 0.5×'),
        row(`daemon CPU per 1000 {} pairs`, 's', 'cpuPer1000', '≤ 1.0×'),
        row('carrier loss → Update (unpinned, router side)', 'ms', 'carrierLoss', '≤ 0.6×'),
      ]);
    }
    console.log(
      `\n# netsessiond CPU profile over ${opts.cpuPairs} sequential {} pairs (node --cpu-prof, 200 µs sampling; ${r3(profile.total)} ms busy = ${r3((1000 * profile.total) / opts.cpuPairs)} µs per pair, idle excluded)`,
    );
    const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
    console.table(profile.groups.map((e) => ({ where: e.what, 'self ms': r3(e.selfMs), share: pct(e.share) })));
    console.table(profile.entries.map((e) => ({ function: e.what, 'self ms': r3(e.selfMs), share: pct(e.share) })));
    const before = JSON.parse(readFileSync(BASELINE, 'utf8')) as {
      note: string;
      pairs: number;
      busyMs: number;
      groups: ProfileEntry[];
      entries: ProfileEntry[];
    };
    console.log(
      `\n# for comparison, the profile before (${before.note}): ${r3(before.busyMs)} ms busy over ${before.pairs} pairs`,
    );
    console.table(before.groups.map((e) => ({ where: e.what, 'self ms': r3(e.selfMs), share: pct(e.share) })));
    console.table(before.entries.map((e) => ({ function: e.what, 'self ms': r3(e.selfMs), share: pct(e.share) })));
  } finally {
    await sb.destroy();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const profileOnly = process.argv.includes('--profile-only');
  const daemonArgs = process.argv.includes('--no-firewall') ? ['--firewall', 'none'] : [];
  await runCallPathBench({ profileOnly, daemonArgs, noConnmand: process.argv.includes('--no-connmand') });
}

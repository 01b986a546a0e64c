/**
 * Where a SourceIPRule session's time goes in netsessiond: the profiling driver behind the
 * routing section of docs/architecture.md. netsessiond only (connmand's figures are
 * bench/source-ip-rule.ts's), one sandbox, one client, the same pairs as that bench:
 * CreateSession(AllowedInterface=eth-b, SourceIPRule=true) → first Update → Destroy.
 *
 * 1. Figures, daemon run plainly: first Update (median of 50, 20 ms apart), reply → Update,
 *    200 sequential pairs (wall), daemon CPU per 1,000 pairs (utime + stime from /proc).
 * 2. The same daemon again under `node --cpu-prof` (50 µs sampling): the top self-time entries
 *    over 1,000 pairs, and the timeline of a few paced creates (what ran between the client's
 *    CreateSession and the Update it received, sample by sample, merged into runs).
 *
 * `node --import tsx bench/source-ip-rule-profile.ts [--no-prof] [--no-firewall]`. Needs root and
 * `ip netns`; otherwise prints why and returns.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../test/integration/harness/daemon.js';
import { integrationSkipReason, type Sandbox } from '../test/integration/harness/sandbox.js';
import { ConnmanClient, v } from '../test/integration/support/connman-client.js';
import {
  buildDaemon,
  createBenchSandbox,
  shippedDaemon,
  startDaemon,
  startProfiledDaemon,
  untilSteady,
  writeConfig,
} from './daemon-latency.js';
import { topEntries } from './drivers/cpu-profile.js';
import { r3, summarize } from './stats.js';

const OUT_DIR = join(REPO_ROOT, '.bench-out');
const SETTINGS = { AllowedInterface: v.s('eth-b'), SourceIPRule: v.b(true) };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);
/** performance.now() (ms since this process's origin) as monotonic µs, the profile's clock. */
const toMono = (perfMs: number): number => monotonicUs() - (performance.now() - perfMs) * 1000;
let seq = 0;

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(x[11]) + Number(x[12])) / 100;
}

interface PairTimes {
  t0: number;
  reply: number;
  update: number;
}

async function pair(client: ConnmanClient): Promise<PairTimes> {
  const np = `/bench/sipp/n${++seq}`;
  const t0 = performance.now();
  const { path, n, repliedAt } = await client.createSession(SETTINGS, np);
  const first = await n.waitCount(1, 10_000);
  await client.session(path).destroy();
  return { t0, reply: repliedAt, update: first.at };
}

async function waitOnline(client: ConnmanClient): Promise<void> {
  const deadline = Date.now() + 15_000;
  while ((await client.services()).filter((s) => s.props.State === 'online').length < 3) {
    if (Date.now() > deadline) throw new Error('services never all online');
    await sleep(50);
  }
}

/** Figures of one plain run. */
export interface SipFigures {
  firstUpdateMs: number;
  replyToUpdateMs: number;
  pairs200Seconds: number;
  cpuSecondsPer1000: number;
}

async function figures(client: ConnmanClient, pid: number): Promise<SipFigures> {
  const first: number[] = [];
  const gap: number[] = [];
  for (let i = 0; i < 60; i++) {
    const t = await pair(client);
    if (i >= 10) {
      first.push(t.update - t.t0);
      gap.push(t.update - t.reply);
    }
    await sleep(20);
  }
  const t0 = performance.now();
  for (let i = 0; i < 200; i++) await pair(client);
  const pairs200Seconds = (performance.now() - t0) / 1000;
  await sleep(200);
  const c0 = cpuSeconds(pid);
  for (let i = 0; i < 1000; i++) await pair(client);
  await sleep(200);
  return {
    firstUpdateMs: summarize(first)!.median,
    replyToUpdateMs: summarize(gap)!.median,
    pairs200Seconds,
    cpuSecondsPer1000: cpuSeconds(pid) - c0,
  };
}

interface ProfNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** The samples between `from` and `to` (monotonic µs) as runs of "frame < caller in daemon/lib". */
function timeline(file: string, from: number, to: number): string[] {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: ProfNode[];
    startTime: number;
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const short = (n: ProfNode) => {
    const u = n.callFrame.url.replace(/^file:\/\//, '').replace(`${REPO_ROOT}/.bench-out/build/`, '');
    return `${n.callFrame.functionName || '(anon)'}${u ? ` ${u.replace(/^.*node_modules\//, '')}:${n.callFrame.lineNumber + 1}` : ''}`;
  };
  const label = (id: number): string => {
    const leaf = byId.get(id)!;
    let ours: ProfNode | undefined;
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
      const n = byId.get(x)!;
      if (n.callFrame.url.includes('.bench-out/build/')) {
        ours = n;
        break;
      }
    }
    return ours && ours !== leaf ? `${short(leaf)} < ${short(ours)}` : short(leaf);
  };
  const runs: Array<{ what: string; start: number; us: number }> = [];
  let at = prof.startTime;
  for (let i = 0; i < prof.samples.length; i++) {
    at += prof.timeDeltas[i] ?? 0;
    if (at < from || at > to) continue;
    const what = label(prof.samples[i]!);
    const last = runs.at(-1);
    const dt = prof.timeDeltas[i + 1] ?? 0;
    if (last && last.what === what) last.us += dt;
    else runs.push({ what, start: at - from, us: dt });
  }
  return runs.map(
    (r) => `${(r.start / 1000).toFixed(3).padStart(7)} ms  ${String(Math.round(r.us)).padStart(5)} µs  ${r.what}`,
  );
}

async function profiled(sb: Sandbox, conf: string, entry: string, args: string[]): Promise<void> {
  const d = await startProfiledDaemon(sb, conf, entry, join(OUT_DIR, 'cpuprof-sip'), 50, args);
  const client = await ConnmanClient.connect(sb.dbusAddress!);
  const traces: PairTimes[] = [];
  const window: [number, number] = [0, 0];
  try {
    await waitOnline(client);
    await untilSteady(d);
    for (let i = 0; i < 1000; i++) await pair(client);
    for (let i = 0; i < 5; i++) {
      await sleep(20);
      const t = await pair(client);
      traces.push({ t0: toMono(t.t0), reply: toMono(t.reply), update: toMono(t.update) });
    }
    window[0] = monotonicUs();
    for (let i = 0; i < 1000; i++) await pair(client);
    window[1] = monotonicUs();
  } finally {
    client.disconnect();
    await d.proc.kill('SIGTERM', 5000);
  }
  const path = d.profileFile();
  const prof = topEntries(path, 25, window);
  console.log(`\n# CPU profile over 1,000 pairs: ${r3(prof.total)} ms busy = ${r3(prof.total)} µs per pair`);
  console.table(prof.groups.map((e) => ({ where: e.what, 'self ms': r3(e.selfMs) })));
  console.table(prof.entries.map((e) => ({ function: e.what, 'self ms': r3(e.selfMs) })));
  for (const t of traces.slice(2)) {
    console.log(
      `\n# one paced create: reply at ${r3((t.reply - t.t0) / 1000)} ms, Update at ${r3((t.update - t.t0) / 1000)} ms (client clock); daemon samples since the call:`,
    );
    for (const line of timeline(path, t.t0, t.update)) console.log(line);
  }
}

/** Runs the figures and (unless `profile` is false) the profile; see the module comment. */
export async function runSourceIpRuleProfile(opts: { profile?: boolean; daemonArgs?: string[] } = {}): Promise<void> {
  const skip = integrationSkipReason();
  if (skip) {
    console.log(`(skipped: ${skip})`);
    return;
  }
  const entry = buildDaemon();
  const args = opts.daemonArgs ?? [];
  const sb = await createBenchSandbox();
  try {
    const conf = writeConfig(sb, 4096);
    const load = readFileSync('/proc/loadavg', 'utf8').trim();
    const d = await startDaemon(sb, conf, shippedDaemon(entry), args);
    const client = await ConnmanClient.connect(sb.dbusAddress!);
    let f: SipFigures;
    try {
      await waitOnline(client);
      await untilSteady(d);
      for (let i = 0; i < 1000; i++) await pair(client);
      f = await figures(client, d.pid);
    } finally {
      client.disconnect();
      await d.proc.kill('SIGTERM', 5000);
    }
    console.log(
      `\n# netsessiond, SourceIPRule pairs${args.length ? ` (${args.join(' ')})` : ''}; load at start ${load}`,
    );
    console.table([
      { measurement: 'CreateSession → first Update, median of 50 (ms)', value: r3(f.firstUpdateMs) },
      { measurement: 'reply → first Update, median of 50 (ms)', value: r3(f.replyToUpdateMs) },
      { measurement: '200 sequential pairs (s)', value: r3(f.pairs200Seconds) },
      { measurement: 'daemon CPU per 1,000 pairs (s)', value: r3(f.cpuSecondsPer1000) },
    ]);
    console.log(`(load at end ${readFileSync('/proc/loadavg', 'utf8').trim()})`);
    if (opts.profile !== false) await profiled(sb, conf, entry, args);
  } finally {
    await sb.destroy();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await runSourceIpRuleProfile({
    profile: !process.argv.includes('--no-prof'),
    daemonArgs: process.argv.includes('--no-firewall') ? ['--firewall', 'none'] : [],
  });
}

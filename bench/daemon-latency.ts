/**
 * Daemon benchmarks: netsessiond on a private bus in a sandbox of network namespaces (the
 * integration harness), measured the way the connmand 1.41 reference was (the connmand
 * harness's bench.py in the project's research notes), with connmand's figures printed beside
 * ours. Figures, not pass/fail. Targets: both latencies under 1 ms; RSS as low as Node allows.
 *
 * (a) CreateSession call → first Update on the client's notifier (and → method reply, and the
 *     Destroy round trip), per settings variant, N samples after warm-up, 20 ms apart as in
 *     bench.py. The client is a plain dbus-next connection in this process (`performance.now()`).
 *     Floors: a no-op method round trip with the same pause. The pause matters: after 20 ms of
 *     idle, a no-op round trip takes ~3× as long as back to back (cold caches, sleeping vCPUs),
 *     so one variant is also measured back to back.
 * (b) Link change → Update, by bench/drivers/failover-driver.ts running inside the device
 *     namespace (one process makes the change and receives the Update: one clock), with the
 *     moment the kernel's notification reaches a listener, to split kernel from daemon time.
 * (c) VmRSS/RssAnon/RssFile of the daemon process: fresh and idle with 3 services, with 1,000
 *     live sessions, after destroying them; the live JS heap per session from heap snapshots
 *     (RSS growth is mostly V8 headroom and garbage); the same daemon with size-favouring V8
 *     flags; a bare `node` process and the daemon under tsx for context.
 *
 * The daemon under test is the compiled JavaScript (tsc into .bench-out/build), run by plain
 * `node` as the installed `netsessiond` is — not under tsx, whose loader thread and esbuild
 * service inflate the RSS — with its default kernel datapath (rtnetlink routing + nftables).
 * Raw samples go to .bench-out/daemon.json.
 *
 * Needs root and `ip netns`; otherwise prints why and returns.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { REPO_ROOT, shebangNodeFlags, startNetsessiond } from '../test/integration/harness/daemon.js';
import { devAddressCommands, devRouteCommands } from '../test/integration/harness/netns.js';
import {
  createSandbox,
  integrationSkipReason,
  type Sandbox,
  type SandboxProcess,
} from '../test/integration/harness/sandbox.js';
import { sandboxDaemonArgs, testConfig } from '../test/integration/harness/test-daemon.js';
import { ConnmanClient, v } from '../test/integration/support/connman-client.js';
import type { DriverInput, DriverOutput, ScenarioResult } from './drivers/failover-driver.js';
import { r3, type Summary, summarize } from './stats.js';

/** Knobs of {@link runDaemonBench}. */
export interface DaemonBenchOptions {
  /** Samples per CreateSession variant (after warm-up). */
  createRounds?: number;
  createWarmup?: number;
  /** Pause between CreateSession rounds (default 20 ms, as the connmand harness). */
  createGapMs?: number;
  /** Extra daemon arguments (e.g. `--firewall none`). */
  daemonArgs?: string[];
  /** Rounds per failover scenario (after warm-up). */
  failoverRounds?: number;
  failoverWarmup?: number;
  /** Live sessions for the RSS figure. */
  rssSessions?: number;
  /** Which parts to run (default all). */
  phases?: ReadonlyArray<'memory' | 'create' | 'failover' | 'context'>;
  /** Extra node options for the daemon under test (e.g. `--cpu-prof` when profiling). */
  daemonNodeArgs?: string[];
}

const OUT_DIR = join(REPO_ROOT, '.bench-out');
const BUILD_DIR = join(OUT_DIR, 'build');
/** Settings of a CreateSession call, as the test client takes them. */
type SessionSettings = Parameters<ConnmanClient['createSession']>[0];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** connmand 1.41 on this machine (RESULTS.md), in ms or kB. */
const CONNMAND = {
  create: {
    '{}': { firstUpdate: 1.11, reply: 0.6, destroy: 0.49 },
    'AllowedBearers=[ethernet]': { firstUpdate: 1.23, reply: 0.7, destroy: null },
    'ConnectionType=internet': { firstUpdate: 1.22, reply: 0.76, destroy: null },
    'AllowedInterface=eth-b, SourceIPRule': { firstUpdate: 1.76, reply: 0.78, destroy: 0.78 },
  } as Record<string, { firstUpdate: number; reply: number; destroy: number | null }>,
  failover: {
    'pinned eth-b, dev-side admin down': { disconnected: 2.47 },
    'pinned eth-b, router-side carrier loss': { disconnected: 2.77, upToBack: 7.5 },
    'unpinned on eth-a, router-side carrier loss': { firstUpdate: 2.58, newInterface: 2.85 },
  } as Record<string, Partial<Record<'firstUpdate' | 'disconnected' | 'newInterface' | 'upToBack', number>>>,
  rss: { idle: 8036, idleAnon: 924, idleFile: 7112, with200: 8480, perSessionBytes: 2220 },
};

export const BENCH_BUS_POLICY = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Peer"/>
  </policy>
</busconfig>
`;

type Row = Record<string, string | number | null>;

function latencyRow(what: string, s: Summary | null, connmand: number | null | undefined): Row {
  return {
    measurement: what,
    n: s?.n ?? 0,
    'median ms': r3(s?.median),
    'min ms': r3(s?.min),
    'p90 ms': r3(s?.p90),
    'max ms': r3(s?.max),
    'connmand median ms': connmand ?? null,
  };
}

// ---------------------------------------------------------------- process memory

export interface MemStatus {
  VmRSS: number;
  RssAnon: number;
  RssFile: number;
  RssShmem: number;
  VmHWM: number;
  Threads: number;
}

function memStatus(pid: number): MemStatus {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return {
    VmRSS: field('VmRSS'),
    RssAnon: field('RssAnon'),
    RssFile: field('RssFile'),
    RssShmem: field('RssShmem'),
    VmHWM: field('VmHWM'),
    Threads: field('Threads'),
  };
}

/** Median of `n` samples `gapMs` apart of each field (kB), like bench.py's rss_samples. */
export async function memSamples(pid: number, n = 20, gapMs = 50): Promise<MemStatus & { samples: number[] }> {
  const xs: MemStatus[] = [];
  for (let i = 0; i < n; i++) {
    xs.push(memStatus(pid));
    await sleep(gapMs);
  }
  const med = (k: keyof MemStatus) => summarize(xs.map((x) => x[k]))!.median;
  return {
    VmRSS: med('VmRSS'),
    RssAnon: med('RssAnon'),
    RssFile: med('RssFile'),
    RssShmem: med('RssShmem'),
    VmHWM: Math.max(...xs.map((x) => x.VmHWM)),
    Threads: med('Threads'),
    samples: xs.map((x) => x.VmRSS),
  };
}

/** Where the RSS is (kB): the node binary's pages, other files, brk heap, other anonymous memory. */
export function rssByMapping(pid: number): { nodeBinary: number; otherFiles: number; brkHeap: number; anon: number } {
  const node = realpathSync(process.execPath);
  const out = { nodeBinary: 0, otherFiles: 0, brkHeap: 0, anon: 0 };
  let kind: keyof typeof out = 'anon';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const name = head[1] ?? '';
      kind =
        name === node ? 'nodeBinary' : name === '[heap]' ? 'brkHeap' : name.startsWith('/') ? 'otherFiles' : 'anon';
      continue;
    }
    const rss = /^Rss:\s+(\d+)/.exec(line);
    if (rss) out[kind] += Number(rss[1]);
  }
  return out;
}

/**
 * The node process behind a harness process. `ip netns exec` execs its command (it forks only in
 * batch mode), so the tracked pid normally IS node; otherwise walk the children to find it.
 */
export function nodePid(pid: number): number {
  const node = realpathSync(process.execPath);
  const isNode = (p: number) => {
    try {
      return realpathSync(`/proc/${p}/exe`) === node;
    } catch {
      return false;
    }
  };
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift()!;
    if (isNode(p)) return p;
    try {
      for (const c of readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/))
        if (c) queue.push(Number(c));
    } catch {
      // gone
    }
  }
  throw new Error(`no node process at or under pid ${pid}`);
}

// ---------------------------------------------------------------- sandbox and daemon

/** Compiles the daemon to plain JS (tsc emits even if an unrelated file fails to typecheck). */
export function buildDaemon(): string {
  const main = join(BUILD_DIR, 'daemon', 'main.js');
  const r = spawnSync(
    process.execPath,
    [
      join(REPO_ROOT, 'node_modules/typescript/bin/tsc'),
      '-p',
      'tsconfig.build.json',
      '--outDir',
      BUILD_DIR,
      '--declaration',
      'false',
      '--sourceMap',
      'false',
    ],
    {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    },
  );
  if (!existsSync(main)) throw new Error(`tsc did not produce ${main}: ${r.stdout}${r.stderr}`);
  if (r.status !== 0)
    console.log(`(tsc reported errors but emitted; benchmarking what it emitted)\n${r.stdout.slice(0, 2000)}`);
  return main;
}

/**
 * The sandbox: Debian's system-bus policy plus the daemon's own, as connmand had (system.conf +
 * its policy file); one extra hole lets the test client's connect-time Peer.Ping to the bus through.
 */
export async function createBenchSandbox(moreIncludes: string[] = []): Promise<Sandbox> {
  mkdirSync(OUT_DIR, { recursive: true });
  const extra = join(OUT_DIR, 'bench-dbus.conf');
  writeFileSync(extra, BENCH_BUS_POLICY);
  return createSandbox({
    dbus: { policy: 'system', include: [join(REPO_ROOT, 'daemon/netsession-dbus.conf'), extra, ...moreIncludes] },
  });
}

export function writeConfig(sb: Sandbox, maxSessions: number): string {
  const conf = join(sb.tmpDir, 'netsessiond.conf');
  writeFileSync(conf, testConfig([`MaxSessionsPerClient = ${maxSessions}`, `MaxSessionsPerUid = ${maxSessions}`]));
  return conf;
}

/**
 * argv that runs the compiled daemon at `entry` with the Node options it ships with (the #! line
 * of daemon/main.ts: no optimizing compiler, a small young generation, a heap limit), plus
 * `nodeArgs` (diagnostics). Every netsessiond row is measured this way: without those options
 * V8's optimizing compiler runs and the daemon answers ~0.6 ms sooner per SourceIPRule session,
 * which is not what an installed daemon does (docs/architecture.md, "Memory and start-up").
 */
export function shippedDaemon(entry: string, nodeArgs: readonly string[] = []): string[] {
  return [process.execPath, ...shebangNodeFlags(join(REPO_ROOT, 'daemon/main.ts')), ...nodeArgs, entry];
}

/**
 * ms after READY=1 by which the daemon's start-up transient is over: the memory returns at 1 s
 * and 10 s drop the code not running then (adapters/system/memory-return.ts), so until then the
 * hot paths are compiled again. Latency rows are taken after it, as a long-running daemon answers.
 */
const START_UP_MS = 11_000;

/** Waits until the daemon started at `readyAt` (performance.now()) is past its start-up transient. */
export async function untilSteady(d: { readyAt: number }): Promise<void> {
  const left = d.readyAt + START_UP_MS - performance.now();
  if (left > 0) await sleep(left);
}

/**
 * The shipped daemon under `node --cpu-prof` (sampling every `intervalUs`), writing into `dir`
 * (emptied first); `profileFile()` names the profile once the daemon has exited.
 */
export async function startProfiledDaemon(
  sb: Sandbox,
  conf: string,
  entry: string,
  dir: string,
  intervalUs: number,
  extraArgs: string[] = [],
): Promise<Awaited<ReturnType<typeof startDaemon>> & { profileFile(): string }> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const node = ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-interval=${intervalUs}`];
  const d = await startDaemon(sb, conf, shippedDaemon(entry, node), extraArgs);
  return {
    ...d,
    profileFile: () => {
      const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
      if (!file) throw new Error(`no CPU profile in ${dir}`);
      return join(dir, file);
    },
  };
}

export async function startDaemon(
  sb: Sandbox,
  conf: string,
  command: string[],
  extraArgs: string[] = [],
): Promise<{ proc: SandboxProcess; pid: number; readyMs: number; readyAt: number }> {
  const t0 = performance.now();
  mkdirSync(join(sb.tmpDir, 'policy'), { recursive: true });
  const args = sandboxDaemonArgs(sb, conf);
  const proc = await startNetsessiond(sb, { command: [...command, ...args, ...extraArgs] });
  await proc.waitForLine(/ready:/, { timeoutMs: 15_000 });
  return { proc, pid: nodePid(proc.pid), readyMs: performance.now() - t0, readyAt: performance.now() };
}

async function waitAllOnline(client: ConnmanClient): Promise<void> {
  const deadline = Date.now() + 15_000;
  while ((await client.services()).filter((s) => s.props.State === 'online').length < 3) {
    if (Date.now() > deadline) throw new Error(`services never all online: ${JSON.stringify(await client.services())}`);
    await sleep(50);
  }
}

// ---------------------------------------------------------------- (a) CreateSession

const CREATE_VARIANTS: Array<[string, SessionSettings]> = [
  ['{}', {}],
  ['AllowedBearers=[ethernet]', { AllowedBearers: v.as(['ethernet']) }],
  ['ConnectionType=internet', { ConnectionType: v.s('internet') }],
  ['AllowedInterface=eth-b, SourceIPRule', { AllowedInterface: v.s('eth-b'), SourceIPRule: v.b(true) }],
];

const BACK_TO_BACK = '{} back to back (1 ms pause, not 20)';

interface CreateRaw {
  firstUpdate: number[];
  reply: number[];
  replyToUpdate: number[];
  destroy: number[];
  firstStates: string[];
}

let seq = 0;

async function measureCreate(
  client: ConnmanClient,
  settings: SessionSettings,
  rounds: number,
  warmup: number,
  gapMs: number,
): Promise<CreateRaw> {
  const out: CreateRaw = { firstUpdate: [], reply: [], replyToUpdate: [], destroy: [], firstStates: [] };
  for (let i = 0; i < warmup + rounds; i++) {
    const np = `/bench/create/n${++seq}`;
    const n = client.notifier(np);
    const t0 = performance.now();
    const { path, repliedAt } = await client.createSession(settings, np);
    const first = await n.waitCount(1, 5_000);
    const td0 = performance.now();
    await client.session(path).destroy();
    const td1 = performance.now();
    // Let the Destroy's last Update land and the daemon's kernel reconcile (an nft run) finish,
    // as the connmand harness did (20 ms): otherwise the next call measures that work too.
    await sleep(gapMs);
    if (i < warmup) continue;
    out.firstUpdate.push(first.at - t0);
    out.reply.push(repliedAt - t0);
    out.replyToUpdate.push(first.at - repliedAt);
    out.destroy.push(td1 - td0);
    out.firstStates.push(String(first.values.State));
  }
  return out;
}

/** Round trips of a method with no daemon work, for the floor the bus and dbus-next set. */
async function measureRoundTrips(
  client: ConnmanClient,
  rounds: number,
  gapMs: number,
): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = { 'Peer.Ping': [], 'Manager.GetProperties': [] };
  const calls: Record<string, () => Promise<unknown>> = {
    'Peer.Ping': () => client.call('/', 'org.freedesktop.DBus.Peer', 'Ping', '', []),
    'Manager.GetProperties': () => client.managerProperties(),
  };
  for (const [name, call] of Object.entries(calls)) {
    for (let i = 0; i < rounds + 20; i++) {
      const t0 = performance.now();
      await call();
      if (i >= 20) out[name]!.push(performance.now() - t0);
      // Same pause as between CreateSession rounds: an idle machine answers slower than a busy one.
      await sleep(gapMs);
    }
  }
  return out;
}

// ---------------------------------------------------------------- (b) failover

export async function runFailoverDriver(
  sb: Sandbox,
  rounds: number,
  warmup: number,
  extra: Pick<DriverInput, 'only' | 'backWhenConnected' | 'followSession' | 'direct'> = {},
): Promise<DriverOutput> {
  const input: DriverInput = {
    ...extra,
    rounds,
    warmup,
    settleMs: 100,
    uplinks: sb.uplinks.map((u) => ({
      name: u.name,
      routerNs: u.routerNs,
      routerLan: u.routerLan,
      restore: [...devAddressCommands(u), ...devRouteCommands(u)].map((line) => line.split(' ')),
    })),
  };
  const proc = sb.spawn(
    sb.devNs,
    [process.execPath, '--import', 'tsx', join(REPO_ROOT, 'bench/drivers/failover-driver.ts'), JSON.stringify(input)],
    { cwd: REPO_ROOT },
  );
  proc.onLine((line, stream) => {
    if (stream === 'stderr') console.log(`  ${line}`);
  });
  const timer = setTimeout(() => void proc.kill('SIGKILL', 0), 240_000);
  const exit = await proc.exited;
  clearTimeout(timer);
  const last = proc.stdout.trim().split('\n').pop() ?? '';
  if (exit.code !== 0 || !last.startsWith('{'))
    throw new Error(`failover driver failed (${JSON.stringify(exit)}): ${proc.stderr.slice(-3000)}`);
  return JSON.parse(last) as DriverOutput;
}

// ---------------------------------------------------------------- (c) memory

interface MemoryResult {
  idle: MemStatus;
  idleByMapping: ReturnType<typeof rssByMapping>;
  withSessions: MemStatus;
  afterDestroy: MemStatus;
  sessions: number;
  createSeconds: number;
  destroySeconds: number;
}

/** Live JS heap (bytes, after a full GC) of a warmed-up daemon around `sessions` sessions. */
interface HeapResult {
  before: number;
  withSessions: number;
  afterDestroy: number;
  sessions: number;
}

interface MemoryContext {
  bareNode: MemStatus;
  tsxDaemonIdle: MemStatus;
  /** The same daemon run by plain `node`, without its #! options (the optimizing compiler on). */
  plain: MemoryResult;
}

/**
 * Bytes of live JS heap in the daemon: SIGUSR2 makes it write a heap snapshot (node
 * --heapsnapshot-signal), which V8 takes after a full GC; the sum of the nodes' self sizes is the
 * live heap. RSS alone cannot tell retained state from garbage a lazy GC has not collected yet.
 */
async function liveHeapBytes(pid: number, dir: string): Promise<number> {
  const before = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + 60_000;
  for (;;) {
    await sleep(200);
    if (Date.now() > deadline) throw new Error(`no heap snapshot from pid ${pid} in ${dir}`);
    const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (!file) continue;
    let snap: { snapshot: { meta: { node_fields: string[] } }; nodes: number[] };
    try {
      // Written synchronously by the daemon; a partial file does not parse yet.
      snap = JSON.parse(readFileSync(join(dir, file), 'utf8')) as typeof snap;
    } catch {
      continue;
    }
    rmSync(join(dir, file), { force: true });
    const fields = snap.snapshot.meta.node_fields;
    const at = fields.indexOf('self_size');
    let total = 0;
    for (let i = at; i < snap.nodes.length; i += fields.length) total += snap.nodes[i]!;
    return total;
  }
}

/** (c) RSS of one daemon: idle, with `sessions` live sessions, after destroying them. */
async function measureMemory(client: ConnmanClient, pid: number, sessions: number): Promise<MemoryResult> {
  await sleep(2000);
  const idle = await memSamples(pid);
  const idleByMapping = rssByMapping(pid);
  const many = await createMany(client, sessions);
  await sleep(1000);
  const withSessions = await memSamples(pid);
  const destroySeconds = await destroyMany(client, many.paths);
  await sleep(1000);
  const afterDestroy = await memSamples(pid);
  return { idle, idleByMapping, withSessions, afterDestroy, sessions, createSeconds: many.seconds, destroySeconds };
}

/**
 * (c) live heap around `sessions` sessions. Run last in a daemon's life: a heap snapshot leaves
 * the allocator holding tens of MB, which would spoil any later RSS figure. The daemon is warm
 * by then, so JIT code and grown tables do not pass for per-session state.
 */
async function measureHeap(client: ConnmanClient, pid: number, sessions: number, diagDir: string): Promise<HeapResult> {
  // One cycle at full size first: code for that scale and grown tables are not session state.
  await destroyMany(client, (await createMany(client, sessions)).paths);
  const before = await liveHeapBytes(pid, diagDir);
  const many = await createMany(client, sessions);
  const withSessions = await liveHeapBytes(pid, diagDir);
  await destroyMany(client, many.paths);
  const afterDestroy = await liveHeapBytes(pid, diagDir);
  return { before, withSessions, afterDestroy, sessions };
}

async function createMany(
  client: ConnmanClient,
  count: number,
  window = 64,
): Promise<{ paths: string[]; seconds: number }> {
  const paths: string[] = [];
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const np = `/bench/rss/n${++seq}`;
      next++;
      const { path, n } = await client.createSession({}, np);
      await n.waitCount(1, 10_000);
      paths.push(path);
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
  return { paths, seconds: (performance.now() - t0) / 1000 };
}

async function destroyMany(client: ConnmanClient, paths: string[], window = 64): Promise<number> {
  const t0 = performance.now();
  const todo = [...paths];
  const worker = async () => {
    for (let p = todo.pop(); p !== undefined; p = todo.pop()) await client.session(p).destroy();
  };
  await Promise.all(Array.from({ length: window }, worker));
  return (performance.now() - t0) / 1000;
}

/** RSS of a node process that does nothing, for the floor Node itself sets. */
export async function bareNodeRss(sb: Sandbox): Promise<MemStatus> {
  const proc = sb.spawn(sb.devNs, [process.execPath, '-e', 'setInterval(() => {}, 1 << 30); console.log("up")']);
  await proc.waitForLine('up', { stream: 'stdout' });
  await sleep(1000);
  const m = await memSamples(nodePid(proc.pid), 10);
  await proc.kill('SIGTERM', 2000);
  return m;
}

// ---------------------------------------------------------------- the run

/** Latencies on a busy machine are not comparable with connmand's (taken at load 0.05–0.9). */
function warnIfBusy(when: string): void {
  const load = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  if (load > 1)
    console.log(
      `(warning: load average ${load} ${when}; connmand's figures were taken at 0.05–0.9, and RESULTS.md says to compare only low-load runs)`,
    );
}

/** Runs every daemon benchmark, prints its tables and writes `.bench-out/daemon.json`. */
export async function runDaemonBench(opts: DaemonBenchOptions = {}): Promise<void> {
  const skip = integrationSkipReason();
  if (skip) {
    console.log(`# daemon benchmarks skipped: ${skip}`);
    return;
  }
  const createRounds = opts.createRounds ?? 200;
  const createWarmup = opts.createWarmup ?? 20;
  const failoverRounds = opts.failoverRounds ?? 30;
  const failoverWarmup = opts.failoverWarmup ?? 3;
  const rssSessions = opts.rssSessions ?? 1000;
  const wall0 = performance.now();
  warnIfBusy('at start');
  const raw: Record<string, unknown> = {
    date: new Date().toISOString(),
    node: process.version,
    loadavg: { start: readFileSync('/proc/loadavg', 'utf8').trim() },
  };

  const tb = performance.now();
  const entry = buildDaemon();
  raw.buildSeconds = (performance.now() - tb) / 1000;

  const sb = await createBenchSandbox();
  let client: ConnmanClient | null = null;
  const phases = new Set(opts.phases ?? ['memory', 'create', 'failover', 'context']);
  try {
    const conf = writeConfig(sb, Math.max(2 * rssSessions, 256));
    // The heap-snapshot signal costs nothing until sent; it lets (c) weigh the live heap.
    const diagDir = join(sb.tmpDir, 'diag');
    mkdirSync(diagDir, { recursive: true });
    const snapshotArgs = ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${diagDir}`];
    const daemon = await startDaemon(
      sb,
      conf,
      shippedDaemon(entry, [...snapshotArgs, ...(opts.daemonNodeArgs ?? [])]),
      opts.daemonArgs,
    );
    client = await ConnmanClient.connect(sb.dbusAddress!);
    await waitAllOnline(client);
    raw.daemon = {
      pid: daemon.pid,
      harnessPid: daemon.proc.pid,
      startToReadyMs: daemon.readyMs,
      argv: daemon.proc.argv,
    };

    // ---- (c) memory first, so the idle figure is a fresh daemon's (as connmand's was).
    let memory: MemoryResult | null = null;
    if (phases.has('memory')) {
      memory = await measureMemory(client, daemon.pid, rssSessions);
      raw.memory = memory;
    }

    // ---- (a) CreateSession → first Update.
    let create: Record<string, CreateRaw> | null = null;
    let roundTrips: Record<string, number[]> = {};
    if (phases.has('create')) {
      await untilSteady(daemon);
      create = {};
      for (const [name, settings] of CREATE_VARIANTS)
        create[name] = await measureCreate(client, settings, createRounds, createWarmup, opts.createGapMs ?? 20);
      // The same without the pause: a machine that is busy anyway answers faster than an idle one.
      create[BACK_TO_BACK] = await measureCreate(client, {}, createRounds, createWarmup, 1);
      raw.create = create;
      roundTrips = await measureRoundTrips(client, createRounds, opts.createGapMs ?? 20);
      raw.roundTrips = roundTrips;
    }

    // ---- (b) failover, from inside the device namespace.
    let failover: DriverOutput | null = null;
    if (phases.has('failover')) {
      failover = await runFailoverDriver(sb, failoverRounds, failoverWarmup);
      raw.failover = failover;
    }
    raw.loadavg = { ...(raw.loadavg as object), afterLatency: readFileSync('/proc/loadavg', 'utf8').trim() };

    let heap: HeapResult | null = null;
    if (phases.has('memory')) {
      heap = await measureHeap(client, daemon.pid, rssSessions, diagDir);
      raw.heap = heap;
    }

    client.disconnect();
    client = null;
    await daemon.proc.kill('SIGTERM', 3000);

    // ---- context: Node's floor, and the daemon as the tests run it (under tsx).
    let context: MemoryContext | null = null;
    if (phases.has('context')) {
      const bareNode = await bareNodeRss(sb);
      const tsxDaemon = await startDaemon(sb, conf, [
        process.execPath,
        '--import',
        'tsx',
        join(REPO_ROOT, 'daemon/main.ts'),
      ]);
      await sleep(2000);
      const tsxDaemonIdle = await memSamples(tsxDaemon.pid, 10);
      await tsxDaemon.proc.kill('SIGTERM', 3000);
      // The same daemon without its #! options: what they save (the optimizing compiler's code
      // pages above all).
      const plain = await startDaemon(sb, conf, [process.execPath, entry]);
      const plainClient = await ConnmanClient.connect(sb.dbusAddress!);
      await waitAllOnline(plainClient);
      const plainMemory = await measureMemory(plainClient, plain.pid, rssSessions);
      plainClient.disconnect();
      await plain.proc.kill('SIGTERM', 3000);
      context = { bareNode, tsxDaemonIdle, plain: plainMemory };
      raw.context = context;
    }
    raw.wallSeconds = (performance.now() - wall0) / 1000;

    if (create) printCreate(create, roundTrips, createRounds);
    if (failover) printFailover(failover.scenarios);
    if (memory) printMemory(memory, heap, context);
    writeFileSync(join(OUT_DIR, 'daemon.json'), `${JSON.stringify(raw, null, 1)}\n`);
    warnIfBusy('at the end');
    console.log(
      `(raw samples: .bench-out/daemon.json; daemon benches took ${(raw.wallSeconds as number).toFixed(0)} s; loadavg ${JSON.stringify(raw.loadavg)})`,
    );
  } finally {
    client?.disconnect();
    await sb.destroy();
  }
}

function printCreate(create: Record<string, CreateRaw>, roundTrips: Record<string, number[]>, rounds: number): void {
  console.log(
    `\n# daemon (a): CreateSession → first Update, N=${rounds} per variant after warm-up, 20 ms pause between rounds as for connmand (target < 1 ms; connmand 1.41 beside)`,
  );
  const rows: Row[] = [];
  for (const [name, r] of Object.entries(create)) {
    const c = CONNMAND.create[name];
    rows.push(latencyRow(`${name}: call → first Update`, summarize(r.firstUpdate), c?.firstUpdate));
    rows.push(latencyRow(`${name}: call → reply`, summarize(r.reply), c?.reply));
    rows.push(latencyRow(`${name}: Destroy round trip`, summarize(r.destroy), c?.destroy));
  }
  for (const [name, xs] of Object.entries(roundTrips))
    rows.push(latencyRow(`floor: ${name} round trip (no session work, same pause)`, summarize(xs), null));
  console.table(rows);
  console.log(
    `first Update State per variant: ${Object.entries(create)
      .map(([k, r]) => `${k} → ${[...new Set(r.firstStates)].join('/')}`)
      .join('; ')}`,
  );
}

function printFailover(scenarios: ScenarioResult[]): void {
  console.log(
    '\n# daemon (b): link change (one RTM_NEWLINK from inside the namespace) → session Update (target < 1 ms; connmand 1.41 beside)',
  );
  const rows: Row[] = [];
  for (const s of scenarios) {
    const c = CONNMAND.failover[s.name] ?? {};
    rows.push(
      latencyRow(
        `${s.name}: → first Update`,
        summarize(s.firstUpdate),
        c.firstUpdate ?? (s.newInterface.some((x) => x !== null) ? undefined : c.disconnected),
      ),
    );
    if (s.disconnected.some((x) => x !== null) && s.newInterface.every((x) => x === null)) {
      // Pinned: the first Update is the disconnected one; say so only if they differ.
      if (s.disconnected.some((x, i) => x !== s.firstUpdate[i]))
        rows.push(latencyRow(`${s.name}: → State=disconnected`, summarize(s.disconnected), c.disconnected));
    }
    if (s.newInterface.some((x) => x !== null))
      rows.push(latencyRow(`${s.name}: → Update with the new Interface`, summarize(s.newInterface), c.newInterface));
    rows.push(latencyRow(`${s.name}: netlink ACK of the change`, summarize(s.netlinkAck), null));
    rows.push(latencyRow(`${s.name}: kernel event reaches a listener`, summarize(s.kernelEvent), null));
    const share = s.firstUpdate.map((u, i) => (s.kernelEvent[i] == null ? null : u - s.kernelEvent[i]!));
    rows.push(latencyRow(`${s.name}: event → first Update (daemon + D-Bus)`, summarize(share), null));
    if (s.upToBack.some((x) => x !== null))
      rows.push(latencyRow(`${s.name}: link up → back on the uplink`, summarize(s.upToBack), c.upToBack));
    if (s.upToOnline.some((x) => x !== null))
      rows.push(latencyRow(`${s.name}: link up → State=online (incl. online check)`, summarize(s.upToOnline), null));
  }
  console.table(rows);
  console.log(
    `first Update keys: ${scenarios.map((s) => `${s.name} → {${[...new Set(s.firstUpdateKeys)].join(' | ')}}`).join('; ')}`,
  );
}

function printMemory(m: MemoryResult, heap: HeapResult | null, context: MemoryContext | null): void {
  console.log(
    `\n# daemon (c): memory of the daemon process (kB, median of 20 samples over 1 s; target: as low as Node allows; connmand 1.41 beside)`,
  );
  const row = (what: string, x: MemStatus, connmand: string | null): Row => ({
    state: what,
    'VmRSS kB': x.VmRSS,
    'RssAnon kB': x.RssAnon,
    'RssFile kB': x.RssFile,
    'VmHWM kB': x.VmHWM,
    threads: x.Threads,
    connmand,
  });
  const c = CONNMAND.rss;
  const rows = [
    row('idle, fresh daemon, 3 services', m.idle, `${c.idle} (anon ${c.idleAnon}, file ${c.idleFile})`),
    row(`${m.sessions} live sessions {}`, m.withSessions, `${c.with200} with 200 sessions`),
    row('after destroying them', m.afterDestroy, null),
  ];
  if (context) {
    const t = context.plain;
    rows.push(row('plain node (no #! options): idle', t.idle, null));
    rows.push(row(`plain node: ${t.sessions} live sessions`, t.withSessions, null));
    rows.push(row('plain node: after destroying them', t.afterDestroy, null));
    rows.push(row('context: bare `node -e setInterval` process', context.bareNode, null));
    rows.push(row('context: daemon under tsx (as the tests run it), idle', context.tsxDaemonIdle, null));
  }
  console.table(rows);
  const perRss = (a: MemStatus, b: MemStatus, n: number) =>
    `${(((b.VmRSS - a.VmRSS) * 1024) / n).toFixed(0)} (RssAnon ${(((b.RssAnon - a.RssAnon) * 1024) / n).toFixed(0)})`;
  console.log(
    `VmRSS growth per live session: ${perRss(m.idle, m.withSessions, m.sessions)} bytes` +
      (context
        ? `; plain node: ${perRss(context.plain.idle, context.plain.withSessions, context.plain.sessions)}`
        : '') +
      ` — connmand ≈${CONNMAND.rss.perSessionBytes} (+444 kB for 200). RSS growth is mostly V8 heap headroom and uncollected garbage, hence:`,
  );
  if (heap) {
    const kB = (b: number) => (b / 1024).toFixed(0);
    console.log(
      `live JS heap (full GC, heap snapshot; warmed-up daemon): ${kB(heap.before)} kB → ${kB(heap.withSessions)} kB with ${heap.sessions} sessions ` +
        `= ${((heap.withSessions - heap.before) / heap.sessions).toFixed(0)} bytes per live session; after destroying them ${kB(heap.afterDestroy)} kB ` +
        `(${((heap.afterDestroy - heap.before) / heap.sessions).toFixed(0)} bytes/session left: JIT code and the FIFO of released session tags, ≈33 bytes each, ` +
        'bounded by the 65,535 tags; connmand 1.41 leaks ≈830 bytes of RSS per created session).',
    );
  }
  const b = m.idleByMapping;
  console.log(
    `idle VmRSS by mapping: node binary ${b.nodeBinary} kB (file pages, shared with every node process), other files ${b.otherFiles} kB, ` +
      `malloc brk heap ${b.brkHeap} kB, other anonymous (V8 heap spaces, malloc arenas, stacks) ${b.anon} kB.` +
      (context ? ` Daemon minus bare node, idle: ${m.idle.VmRSS - context.bareNode.VmRSS} kB VmRSS.` : ''),
  );
  console.log(
    `${m.sessions} CreateSession pipelined (64 in flight) until all replies and first Updates: ${m.createSeconds.toFixed(3)} s; ${m.sessions} Destroy: ${m.destroySeconds.toFixed(3)} s` +
      ' (connmand: 200 in 0.104 s / 0.044 s).',
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runDaemonBench();
}

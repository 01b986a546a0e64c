/**
 * Kernel datapath benchmarks, THROUGH the daemon: netsessiond (under tsx, `--firewall nftables`)
 * in a sandbox of network namespaces, sessions created over D-Bus on a private bus. Figures,
 * not pass/fail.
 *
 * (a) `ip rule` count as sessions grow (1, 10, 100, 1,000 live SourceIPRule sessions spread over
 *     the three uplinks): must stay proportional to services (2 fwmark + 2 source rules per
 *     service, v4 and v6), not sessions; per-session objects live in nftables (2 counters, their
 *     counter-map elements and the data elements of its claims; no chain or rule).
 * (b) At 1,000 and at 10,000 live sessions (each time from empty: the previous bulk client
 *     leaves the bus first): the time to apply them — N CreateSession calls over D-Bus from one
 *     root client on the SDK's wire module (drivers/fast-client.ts: a client whose own cost per
 *     call is a few µs, so the figure is the daemon's, not dbus-next's; 64 in flight; AllowedInterface spread over eth-b and eth-c, SourceIPRule, so each
 *     session claims its uplink's source address and has kernel objects), from the first call
 *     until the kernel holds all N+1 sessions (the tx counter map's elements; polled);
 * (c) at the same sizes, per-session operations: move one session (its owner calls
 *     Change(AllowedInterface), eth-b <-> eth-c, measured until `nft monitor` reports the
 *     session's uid element with its new mark; the reply too, which for a session with an
 *     identity claim comes once the kernel holds the new state); create one more
 *     (CreateSession(AllowedInterface, SourceIPRule) until `nft monitor` reports its tx counter
 *     element); GetStatistics of one session (round trip, beside a Peer.Ping floor). The table
 *     shows how each grows from the first size to the last.
 * (d) Per-packet cost of classification: tight loops in the device namespace (a node child) —
 *     N sequential TCP connects, N UDP sends each opening a new flow (distinct destination ports:
 *     every one is classified), N UDP sends on one connected flow (restore + count only) — as
 *     the classified uid with 10,000 sessions installed (via eth-b, SNAT), as an unclassified
 *     uid with the same table (lookups miss, main table), and with no table (before the daemon
 *     starts and after it stops; main table). Reported per operation and as a ratio to "table
 *     absent". TCP loops close with RST so TIME_WAIT never crowds the port space between runs.
 *
 * Raw numbers go to .bench-out/datapath.json. Needs root and `ip netns`; otherwise prints why
 * and returns. Creates one system user (removed afterwards).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { DEFAULT_CORE_CONFIG } from '../daemon/core/config.js';
import { NETSESSION_INTERFACE } from '../lib/protocol.js';
import { REPO_ROOT } from '../test/integration/harness/daemon.js';
import { waitFor } from '../test/integration/harness/exec.js';
import {
  createSandbox,
  integrationSkipReason,
  type RunAs,
  type Sandbox,
  type SandboxProcess,
} from '../test/integration/harness/sandbox.js';
import { startTestDaemon } from '../test/integration/harness/test-daemon.js';
import { ConnmanClient, v } from '../test/integration/support/connman-client.js';
import { Holder } from '../test/integration/support/session-holder.js';
import { createTestUsers, removeTestUsers } from '../test/integration/support/test-users.js';
import { FastClient } from './drivers/fast-client.js';
import { r3, summarize } from './stats.js';

/** Knobs of {@link runDatapathBench}. */
export interface DatapathBenchOptions {
  /** Live sessions for (b)-(d) (default 10,000). */
  sessions?: number;
  /** Session counts for (a) (default 1, 10, 100, 1,000). */
  growth?: number[];
  /** Moves measured in (c) (default 10). */
  moves?: number;
  /** Operations per traffic loop in (d), and loops per configuration (median reported). */
  tcpConnects?: number;
  udpFlows?: number;
  udpPackets?: number;
  rounds?: number;
  /** Live-session counts at which (b)/(c) are measured (default 1,000 and `sessions`). */
  sizes?: number[];
}

const OUT_DIR = join(REPO_ROOT, '.bench-out');
const UPLINKS = ['eth-a', 'eth-b', 'eth-c'] as const;
const PRIORITIES = DEFAULT_CORE_CONFIG.priorityRange;
const IN_FLIGHT = 64;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A traffic loop run inside the device namespace; prints `{ totalMs, perOpUs }`. */
const LOOP = `
const net = require('node:net'), dgram = require('node:dgram');
const [mode, n, host] = [process.argv[1], Number(process.argv[2]), process.argv[3]];
const t0 = process.hrtime.bigint();
const done = () => { const ms = Number(process.hrtime.bigint() - t0) / 1e6; console.log(JSON.stringify({ totalMs: ms, perOpUs: (ms * 1000) / n })); process.exit(0); };
const fail = (e) => { console.log(JSON.stringify({ error: String(e && e.message || e) })); process.exit(1); };
if (mode === 'tcp') {
  // RST instead of FIN: no TIME_WAIT, so thousands of connects do not crowd the port space.
  const next = (i) => { if (i >= n) return done(); const s = net.connect(80, host, () => { s.resetAndDestroy(); next(i + 1); }); s.on('error', fail); };
  next(0);
} else if (mode === 'udp-new') {
  const s = dgram.createSocket('udp4'); const b = Buffer.alloc(64);
  const next = (i) => { if (i >= n) return done(); s.send(b, 20000 + (i % 40000), host, (e) => e ? fail(e) : next(i + 1)); };
  next(0);
} else {
  const s = dgram.createSocket('udp4'); const b = Buffer.alloc(64);
  s.on('error', () => {}); // ICMP port unreachable on a connected socket: ignore
  s.connect(9, host, () => { const next = (i) => { if (i >= n) return done(); s.send(b, () => next(i + 1)); }; next(0); });
}`;

type Row = Record<string, string | number | null>;

async function ipRules(sb: Sandbox): Promise<{ ours: number; total: number }> {
  let ours = 0;
  let total = 0;
  for (const fam of ['-4', '-6']) {
    const list = JSON.parse((await sb.run(sb.devNs, ['ip', '-j', fam, 'rule', 'list'])).stdout) as Array<{
      priority: number;
    }>;
    total += list.length;
    ours += list.filter((r) => r.priority >= PRIORITIES.start && r.priority <= PRIORITIES.end).length;
  }
  return { ours, total };
}

/** Sessions the kernel holds: elements of the tx counter map (one per session). */
async function kernelSessions(sb: Sandbox): Promise<number> {
  const r = await sb.run(sb.devNs, ['nft', '-j', 'list', 'map', 'inet', 'netsession', 'tx'], {
    allowFail: true,
    timeoutMs: 60_000,
  });
  if (r.code !== 0) return -1;
  const map = (JSON.parse(r.stdout) as { nftables: Array<{ map?: { elem?: unknown[] } }> }).nftables.find(
    (i) => i.map,
  )?.map;
  return map?.elem?.length ?? 0;
}

async function nftObjects(sb: Sandbox): Promise<{ chains: number; counters: number }> {
  const r = await sb.run(sb.devNs, ['nft', '-j', 'list', 'table', 'inet', 'netsession'], { timeoutMs: 60_000 });
  const items = (JSON.parse(r.stdout) as { nftables: Array<Record<string, unknown>> }).nftables;
  return { chains: items.filter((i) => i.chain).length, counters: items.filter((i) => i.counter).length };
}

/** Creates `count` sessions on `client`, `IN_FLIGHT` at a time; returns the paths. */
async function createMany(
  client: ConnmanClient,
  count: number,
  prefix: string,
  settings: (i: number) => Parameters<ConnmanClient['createSession']>[0],
): Promise<string[]> {
  const paths: string[] = new Array<string>(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      paths[i] = (await client.createSession(settings(i), `${prefix}/${i}`)).path;
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, count) }, worker));
  return paths;
}

async function waitKernelSessions(sb: Sandbox, want: number, timeoutMs: number): Promise<number> {
  let seen = -2;
  await waitFor(
    `${want} sessions in the kernel`,
    async () => {
      seen = await kernelSessions(sb);
      return seen === want ? true : undefined;
    },
    { timeoutMs, intervalMs: 100 },
  );
  return seen;
}

/** `p`, or a clear error after `ms` (a call on a connection the bus dropped would never settle). */
function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)),
  );
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Resolves on the next stdout line (from now on) that matches. */
function nextLine(proc: SandboxProcess, re: RegExp, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(
        new Error(`no line matching ${String(re)} within ${timeoutMs} ms (last output: ${proc.stdout.slice(-300)})`),
      );
    }, timeoutMs);
    const off = proc.onLine((line, stream) => {
      if (stream !== 'stdout' || !re.test(line)) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

async function loop(
  sb: Sandbox,
  user: RunAs | undefined,
  mode: 'tcp' | 'udp-new' | 'udp-same',
  n: number,
): Promise<number> {
  const r = await sb.run(sb.devNs, [process.execPath, '-e', LOOP, mode, String(n), sb.inet.addr4], {
    timeoutMs: 300_000,
    ...(user ? { user } : {}),
  });
  const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { perOpUs?: number; error?: string };
  if (out.perOpUs === undefined) throw new Error(`traffic loop ${mode} failed: ${out.error ?? r.stdout}`);
  return out.perOpUs;
}

/** Runs the datapath benchmarks and prints their tables; see the module comment. */
export async function runDatapathBench(opts: DatapathBenchOptions = {}): Promise<void> {
  const skip = integrationSkipReason();
  if (skip) {
    console.log(`(skipped: ${skip})`);
    return;
  }
  const total = opts.sessions ?? 10_000;
  const growth = opts.growth ?? [1, 10, 100, 1000];
  const moves = opts.moves ?? 10;
  const rounds = opts.rounds ?? 5;
  const counts = {
    tcp: opts.tcpConnects ?? 2000,
    'udp-new': opts.udpFlows ?? 5000,
    'udp-same': opts.udpPackets ?? 20_000,
  };
  mkdirSync(OUT_DIR, { recursive: true });

  const user = `nsb${randomBytes(3).toString('hex')}`;
  const created: string[] = [];
  const [classified] = createTestUsers([user], created) as [RunAs];
  const unclassified: RunAs = { uid: 65534, gid: 65534 };
  let sb: Sandbox | null = null;
  let client: ConnmanClient | null = null;
  const raw: Record<string, unknown> = { sessions: total, growth, moves, rounds, counts };
  try {
    sb = await createSandbox();
    const policyDir = join(sb.tmpDir, 'policy');
    mkdirSync(policyDir, { recursive: true });
    writeFileSync(join(policyDir, 'bench.policy'), `[policy_bench]\nuid = ${user}\nAllowedBearers = wifi cellular\n`);
    const max = 2 * total + 100;
    const s0 = sb;
    const measure = async (who: RunAs | undefined) => {
      const out: Record<string, number[]> = { tcp: [], 'udp-new': [], 'udp-same': [] };
      for (const mode of ['tcp', 'udp-new', 'udp-same'] as const) {
        await loop(s0, who, mode, Math.ceil(counts[mode] / 10)); // warm-up
        for (let r = 0; r < rounds; r++) out[mode]!.push(await loop(s0, who, mode, counts[mode]));
      }
      return out;
    };
    // (d), first part: no daemon yet, so no table (measured again after the daemon stops).
    const absentBefore = await measure(classified);

    const { daemon } = await startTestDaemon(sb, {
      general: ['ReconcileInterval = 0', `MaxSessionsPerClient = ${max}`, `MaxSessionsPerUid = ${max}`],
      args: ['--firewall', 'nftables'],
    });
    client = await ConnmanClient.connect(sb.dbusAddress!);
    const c = client;
    await waitFor(
      'three uplinks online',
      async () => ((await c.services()).filter((s) => s.props.State === 'online').length === 3 ? true : undefined),
      { timeoutMs: 20_000, intervalMs: 100 },
    );

    // (a) ip rule count as sessions grow.
    const growthRows: Row[] = [];
    // A fwmark rule per service and family before anything is measured.
    const rules0 = await waitFor(
      'fwmark rules of three services',
      async () => {
        const r = await ipRules(s0);
        return r.ours === 6 ? r : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    growthRows.push({
      'live sessions': 0,
      'ip rules (ours, v4+v6)': rules0.ours,
      'ip rules (all)': rules0.total,
      'nft chains': (await nftObjects(sb)).chains,
      'nft counters': 0,
      'apply ms': null,
    });
    const grower = await ConnmanClient.connect(sb.dbusAddress!);
    let live = 0;
    for (const n of growth) {
      const t0 = performance.now();
      await createMany(grower, n - live, `/grow${n}`, (i) => ({
        AllowedInterface: v.s(UPLINKS[(live + i) % 3]!),
        SourceIPRule: v.b(true),
      }));
      live = n;
      await waitKernelSessions(sb, n, 120_000);
      const ms = performance.now() - t0;
      const r = await ipRules(sb);
      const o = await nftObjects(sb);
      growthRows.push({
        'live sessions': n,
        'ip rules (ours, v4+v6)': r.ours,
        'ip rules (all)': r.total,
        'nft chains': o.chains,
        'nft counters': o.counters,
        'apply ms': r3(ms),
      });
    }
    grower.disconnect();
    await waitKernelSessions(sb, 0, 120_000);
    raw.growth = growthRows;
    console.log(
      '\n## (a) ip rules vs sessions (SourceIPRule sessions over 3 uplinks; expected: 2 fwmark + 2 source rules per service, whatever the session count)',
    );
    console.table(growthRows);

    console.log('  starting the classified session');
    // The classified session, owned by a process running as the policy's uid.
    const holder = await Holder.start(sb, 'bench', { user: classified });
    const notifier = '/bench/classified';
    const path = await holder.create(notifier);
    await holder.waitFor(notifier, (s) => s.Interface === 'eth-b', 'classified session on eth-b');
    // Its uid element (value: its mark | tag) is what a move rewrites; nft prints the uid as a number.
    const uidElement = new RegExp(`^add element inet netsession uid \\{ (?:${classified.uid}|${user}) : `);
    await waitFor(`uid classifier of ${user}`, async () => {
      const out = (await s0.run(s0.devNs, ['nft', '-j', 'list', 'map', 'inet', 'netsession', 'uid'])).stdout;
      return out.includes(`[${classified.uid}, `) ? true : undefined;
    });

    // The loops below only mean something if the classified uid really is marked for eth-b.
    const check = `/bench-check-${randomBytes(3).toString('hex')}`;
    await sb.httpRequest(sb.devNs, `http://${sb.inet.addr4}${check}`, { user: classified });
    const seenFrom = (await sb.httpLog()).find((e) => e.path === check)?.client;
    if (seenFrom !== sb.uplink('eth-b').devAddr4)
      throw new Error(`the classified uid's traffic did not leave through eth-b (server saw ${String(seenFrom)})`);

    // (b)/(c) at each size: apply from empty, move one, create one more, read one session's statistics.
    const sizes = [...new Set([...(opts.sizes ?? [1000, total]).filter((n) => n <= total), total])].sort(
      (a, b) => a - b,
    );
    const perSize: Row[] = [];
    const rawSizes: Record<string, unknown> = {};
    let bulk: FastClient | null = null;
    let movesDone = 0;
    for (const size of sizes)
      try {
        bulk?.close();
        await waitKernelSessions(sb, 1, 600_000);
        bulk = await FastClient.connect(sb.dbusAddress!);
        const b = bulk;
        const t0 = performance.now();
        await b.createMany(size, IN_FLIGHT, `/bulk${size}`, (i) => ({
          // eth-b and eth-c only: a SourceIPRule session on eth-a (the main table's uplink) would claim
          // the source address the kernel picks for the classified uid's unbound sockets, and
          // classification by source comes first, so (d) would no longer measure the uid path.
          AllowedInterface: v.s(UPLINKS[1 + (i % 2)]!),
          SourceIPRule: v.b(true),
        }));
        const repliedMs = performance.now() - t0;
        await waitKernelSessions(sb, size + 1, 600_000);
        const appliedMs = performance.now() - t0;
        console.log(
          `  ${size} sessions applied from empty in ${r3(appliedMs)} ms; measuring moves, creates, statistics`,
        );
        // Started after the bulk apply: thousands of events at once overrun nft monitor's socket.
        // It listens only once it has read the ruleset (seconds at 10,000 sessions): an element of
        // a scratch table tells when it does.
        const monitor = sb.spawn(sb.devNs, ['nft', 'monitor', 'elements']);
        await waitFor(
          'nft monitor listening',
          async () => {
            const ready = nextLine(monitor, /^add element inet nsbenchprobe /, 1000);
            await s0.run(s0.devNs, [
              'nft',
              'add table inet nsbenchprobe; add set inet nsbenchprobe s { type mark; }; add element inet nsbenchprobe s { 1 }',
            ]);
            const ok = await ready.then(
              () => true,
              () => undefined,
            );
            await s0.run(s0.devNs, ['nft', 'delete table inet nsbenchprobe']);
            return ok;
          },
          { timeoutMs: 120_000, intervalMs: 100 },
        );

        // Move one: Change by the classified session's owner until `nft monitor` shows its uid element's new mark.
        const moveMs: number[] = [];
        const replyMs: number[] = [];
        for (let i = 0; i < moves; i++) {
          // Alternates across sizes too: a Change to where the session already is changes nothing.
          const toC = movesDone++ % 2 === 0;
          const to = toC ? 'eth-c' : '*';
          const expect = toC ? 'eth-c' : 'eth-b';
          const seen = nextLine(monitor, uidElement, 60_000);
          const m0 = performance.now();
          await holder.change(path, 'AllowedInterface', 's', to);
          replyMs.push(performance.now() - m0);
          await seen;
          moveMs.push(performance.now() - m0);
          await holder.waitFor(notifier, (st) => st.Interface === expect, `moved to ${expect}`);
        }

        // Create one more: CreateSession until `nft monitor` shows the new session's tx counter
        // element, from a client of its own (connected now, so nothing of the bulk phase is queued
        // for it). SourceIPRule gives it a claim, so it has kernel objects.
        const txElement = /^add element inet netsession tx /;
        const one = await ConnmanClient.connect(sb.dbusAddress!);
        const createMs: number[] = [];
        for (let i = 0; i < moves; i++) {
          const seen = nextLine(monitor, txElement, 20_000);
          seen.catch(() => undefined); // awaited below; a timeout must not be an unhandled rejection meanwhile
          const c0 = performance.now();
          const { path: extra } = await within(
            20_000,
            'CreateSession',
            one.createSession({ AllowedInterface: v.s('eth-b'), SourceIPRule: v.b(true) }, `/onemore${size}/${i}`),
          );
          await seen;
          createMs.push(performance.now() - c0);
          await within(20_000, 'Destroy', one.session(extra).destroy());
          await sleep(50);
        }

        // Statistics of one session (the daemon reads that session's two counters).
        const statsMs: number[] = [];
        for (let i = 0; i < 3 * moves; i++) {
          const s0t = performance.now();
          await within(20_000, 'GetStatistics', one.call(path, NETSESSION_INTERFACE, 'GetStatistics', '', []));
          statsMs.push(performance.now() - s0t);
        }
        const floorMs: number[] = [];
        for (let i = 0; i < 3 * moves; i++) {
          const f0 = performance.now();
          await within(20_000, 'Peer.Ping', one.call('/', 'org.freedesktop.DBus.Peer', 'Ping', '', []));
          floorMs.push(performance.now() - f0);
        }
        one.disconnect();
        await monitor.kill('SIGTERM', 1000);
        const med = (xs: number[]) => r3(summarize(xs)?.median);
        rawSizes[size] = { repliedMs, appliedMs, moveMs, replyMs, createMs, statsMs, floorMs };
        perSize.push({
          'live sessions': size + 1,
          'apply the N sessions from empty, until the kernel holds them (ms)': r3(appliedMs),
          'CreateSession ×N, all replied (ms)': r3(repliedMs),
          'move one: Change → element in the kernel (median ms)': med(moveMs),
          'move one: Change → reply (median ms)': med(replyMs),
          'create one more: CreateSession → element in the kernel (median ms)': med(createMs),
          'GetStatistics of one session, round trip (median ms)': med(statsMs),
          'floor: Peer.Ping round trip (median ms)': med(floorMs),
        });
      } catch (err) {
        writeFileSync(
          join(OUT_DIR, 'datapath-failure.log'),
          `${(err as Error).stack}\n--- daemon log\n${daemon.stderr}`,
        );
        throw new Error(`${(err as Error).message}; daemon log: ${daemon.stderr.slice(-2000)}`);
      }
    raw.sizes = rawSizes;
    const objects = await nftObjects(sb);
    const rulesAt = await ipRules(sb);
    raw.apply = { nftChains: objects.chains, nftCounters: objects.counters, ipRules: rulesAt };
    console.log(
      `\n## (b)/(c) per-session operations at ${sizes.join(' and ')} live sessions (targets at 10,000: move < 10 ms, create < 5 ms, apply 10,000 < 2 s, statistics read < 1 ms; ` +
        `a per-session figure must not grow with the count) — nft at the end: ${objects.chains} chains, ${objects.counters} counters; ip rules of ours: ${rulesAt.ours}`,
    );
    const keys = Object.keys(perSize[0] ?? {}).filter((k) => k !== 'live sessions');
    console.table(
      keys.map((k) => {
        const row: Row = { measurement: k };
        for (const r of perSize) row[`${String(r['live sessions'])} live`] = r[k] ?? null;
        if (perSize.length > 1) row['last / first'] = r3(Number(perSize.at(-1)?.[k]) / Number(perSize[0]?.[k]));
        return row;
      }),
    );

    // (d) per-packet cost.
    const withTable = await measure(classified);
    const missing = await measure(unclassified);
    holder.close();
    bulk?.close();
    const stopped = await daemon.kill('SIGTERM', 60_000);
    if (stopped.code !== 0) throw new Error(`daemon did not stop cleanly: ${JSON.stringify(stopped)}`);
    const gone = await sb.run(sb.devNs, ['nft', 'list', 'tables']);
    if (/netsession/.test(gone.stdout)) throw new Error('the nft table is still there after SIGTERM');
    const absentAfter = await measure(classified);
    const absent = Object.fromEntries(
      (['tcp', 'udp-new', 'udp-same'] as const).map((m) => [m, [...absentBefore[m]!, ...absentAfter[m]!]]),
    );
    raw.perPacket = {
      withTable,
      unclassifiedWithTable: missing,
      tableAbsentBeforeStart: absentBefore,
      tableAbsentAfterStop: absentAfter,
    };
    const med = (xs: number[]) => summarize(xs)?.median ?? NaN;
    const perPacketRows: Row[] = (['tcp', 'udp-new', 'udp-same'] as const).map((mode) => ({
      loop: {
        tcp: `TCP connect+close ×${counts.tcp}`,
        'udp-new': `UDP send, new flow each ×${counts['udp-new']}`,
        'udp-same': `UDP send, one flow ×${counts['udp-same']}`,
      }[mode],
      'table absent µs/op': r3(med(absent[mode]!)),
      [`classified uid, ${total + 1} sessions µs/op`]: r3(med(withTable[mode]!)),
      'ratio classified/absent': r3(med(withTable[mode]!) / med(absent[mode]!)),
      [`unclassified uid, ${total + 1} sessions µs/op`]: r3(med(missing[mode]!)),
      'ratio unclassified/absent': r3(med(missing[mode]!) / med(absent[mode]!)),
    }));
    console.log(
      `\n## (d) per-operation cost from the device namespace (median of ${rounds} loops; absent: ${2 * rounds}, before the daemon started and after it stopped; ` +
        'classified = marked for eth-b + SNAT; unclassified and absent = main table, eth-a)',
    );
    console.table(perPacketRows);
    raw.perPacketRows = perPacketRows;

    const file = join(OUT_DIR, 'datapath.json');
    writeFileSync(file, `${JSON.stringify(raw, null, 2)}\n`);
    console.log(`raw numbers: ${file}`);
  } finally {
    client?.disconnect();
    await sb?.destroy().catch((err: unknown) => console.log(`sandbox cleanup: ${(err as Error).message}`));
    removeTestUsers(created);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // `node --import tsx bench/datapath.ts`; DATAPATH_SESSIONS=1000 for a quick run.
  const n = Number(process.env.DATAPATH_SESSIONS ?? '') || undefined;
  await runDatapathBench(n ? { sessions: n, growth: [1, 10, 100, Math.min(1000, n)] } : {});
}

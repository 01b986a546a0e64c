/**
 * The D-Bus call path beside connmand, measured live in one sandbox, each daemon driven by three
 * clients one after the other: the lib/dbus FastClient (the SDK's wire module, near what a C
 * client costs, so the rows show the daemons) reaching each daemon as the SDK does (netsessiond
 * on its private socket, connmand on the bus: it has no other way in), the same client on the
 * bus (the path of every ConnMan client), and the test suite's dbus-next ConnmanClient on the
 * bus (the rows of earlier runs, kept for continuity; its own per-message cost is several hundred µs).
 * Rows: CreateSession({}) → first Update and → reply, the Destroy round trip, 200 sequential
 * Create+Destroy pairs, the daemon's CPU per 1,000 pairs (utime+stime from /proc), and carrier
 * loss → Update (the failover driver), each with the ratio to connmand. Then the floor:
 * Peer.Ping, paced and back to back, to the bus itself, to a bare Node process on lib/dbus, and
 * to each daemon, so the first-Update target can be read against what any Node daemon reaches
 * through this bus. Last, a second netsessiond runs 1,000 pairs under `node --cpu-prof` and the
 * profile's top self-time entries are printed, so the next person sees where the time goes.
 *
 * netsessiond runs first (connmand takes the devices over and flushes their addresses), connmand
 * last. Needs root, `ip netns` and connmand 1.41; without connmand the ratios are left out.
 * `--no-firewall` runs netsessiond with `--firewall none`, `--no-connmand` skips connmand,
 * `--profile-only` prints only the profile, `--quick` takes fewer samples.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DBUS_NAME } from '../lib/dbus/bus-socket.js';
import { BUS_NAME } from '../lib/protocol.js';
import { CONNMAN_BUS_POLICY, connmandSkipReason, startConnmand } from '../test/integration/harness/connmand.js';
import { REPO_ROOT } from '../test/integration/harness/daemon.js';
import { integrationSkipReason, type Sandbox } from '../test/integration/harness/sandbox.js';
import {
  buildDaemon,
  createBenchSandbox,
  runFailoverDriver,
  shippedDaemon,
  startDaemon,
  startProfiledDaemon,
  untilSteady,
  writeConfig,
} from './daemon-latency.js';
import {
  type BenchClient,
  type ClientKind,
  connectBenchClient,
  type PingFloor,
  pingFloor,
} from './drivers/bench-clients.js';
import { monotonicUs, printProfile, topEntries } from './drivers/cpu-profile.js';
import { FastClient, RESPONDER_NAME, startResponder, writeFloorPolicy } from './drivers/fast-client.js';
import { WARM_PAIRS, warmUp } from './drivers/warm-up.js';
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
}

/**
 * The clients, the SDK's path first (its rows are the ones the targets are read from): lib/dbus
 * as the SDK reaches each daemon (netsessiond's private socket; connmand has none, so the bus),
 * then lib/dbus and dbus-next on the bus, the path of every ConnMan client.
 */
const CLIENTS: readonly ClientKind[] = ['lib/dbus direct', 'lib/dbus', 'dbus-next'];

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 (utime, stime), counted from after the command name.
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

async function pair(client: BenchClient, np: string): Promise<void> {
  const { path } = await client.create({}, np);
  await client.destroy(path);
}

let seq = 0;

/** The latency rows with one client (carrier loss is the failover driver's, measured apart). */
async function measureWith(
  kind: ClientKind,
  address: string,
  pid: number,
  opts: { rounds: number; cpuPairs: number },
): Promise<CallPathFigures> {
  const client = await connectBenchClient(kind, address);
  try {
    const first: number[] = [];
    const reply: number[] = [];
    const destroy: number[] = [];
    for (let i = 0; i < 20 + opts.rounds; i++) {
      const np = `/bench/cp/n${++seq}`;
      const t0 = performance.now();
      const { path, repliedAt, firstUpdate } = await client.create({}, np);
      const u = await firstUpdate(5_000);
      const td = performance.now();
      await client.destroy(path);
      const te = performance.now();
      await sleep(20);
      if (i < 20) continue;
      first.push(u - t0);
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
    return {
      firstUpdate: summarize(first)?.median ?? null,
      reply: summarize(reply)?.median ?? null,
      destroy: summarize(destroy)?.median ?? null,
      seq200: summarize(seqRuns)?.median ?? null,
      cpuPer1000: cpu,
    };
  } finally {
    client.close();
  }
}

/** Everything measured against one daemon: both clients' rows, the Ping floors, carrier loss. */
interface DaemonRun {
  byClient: Record<ClientKind, CallPathFigures>;
  /** Peer.Ping to this daemon, through the bus. */
  ping: PingFloor;
  /** Peer.Ping on its private socket (null: it has none). */
  pingDirect: PingFloor | null;
  carrierLoss: number | null;
  /** The same with the session on lib/dbus as the SDK reaches the daemon (private socket where offered). */
  carrierLossDirect: number | null;
}

async function measure(
  sb: Sandbox,
  daemon: keyof typeof WARM_PAIRS,
  pid: number,
  opts: { rounds: number; cpuPairs: number; failoverRounds: number },
): Promise<DaemonRun> {
  const address = sb.dbusAddress!;
  const byClient = {} as Record<ClientKind, CallPathFigures>;
  // A daemon that has run for a while: Node's JIT tiers code up by use, so without this the
  // first client's paced rows would catch netsessiond half-compiled and the second's not.
  const warm = await connectBenchClient('lib/dbus', address);
  try {
    await warmUp(() => pair(warm, `/bench/cp/w${++seq}`), WARM_PAIRS[daemon], `${daemon}, {} pairs on the bus`);
  } finally {
    warm.close();
  }
  for (const kind of CLIENTS) byClient[kind] = await measureWith(kind, address, pid, opts);
  const fast = await FastClient.connect(address);
  let ping: PingFloor;
  try {
    ping = await pingFloor(fast, BUS_NAME, { paced: opts.rounds });
  } finally {
    fast.close();
  }
  let pingDirect: PingFloor | null = null;
  const direct = await FastClient.connectDirect(address);
  try {
    if (direct.direct) pingDirect = await pingFloor(direct.client, BUS_NAME, { paced: opts.rounds });
  } finally {
    direct.client.close();
  }
  const carrierLossWith = async (direct: boolean): Promise<number | null> => {
    if (opts.failoverRounds <= 0) return null;
    try {
      // Both daemons cut the uplink their unpinned session is on: connmand places it by its own
      // order (eth-b, eth-c) rather than on its default service eth-a, so a run waiting for eth-a
      // timed out against connmand after passing against netsessiond.
      const out = await runFailoverDriver(sb, opts.failoverRounds, 2, {
        only: [CARRIER_LOSS],
        backWhenConnected: true,
        followSession: true,
        direct,
      });
      const s = out.scenarios.find((x) => x.name === CARRIER_LOSS);
      return summarize(s?.firstUpdate.filter((x): x is number => x !== null) ?? [])?.median ?? null;
    } catch (err) {
      console.log(`(carrier loss${direct ? ', direct,' : ''} not measured: ${(err as Error).message.split('\n')[0]})`);
      return null;
    }
  };
  const carrierLoss = await carrierLossWith(false);
  const carrierLossDirect = await carrierLossWith(true);
  return { byClient, ping, pingDirect, carrierLoss, carrierLossDirect };
}

/**
 * The floors that do not depend on which daemon runs: Peer.Ping to the bus itself, and to a bare
 * Node process on lib/dbus that does nothing else.
 */
async function measureFloors(
  sb: Sandbox,
  buildDir: string,
  rounds: number,
): Promise<{ bus: PingFloor; bare: PingFloor }> {
  const fast = await FastClient.connect(sb.dbusAddress!);
  const responder = await startResponder(buildDir, sb.dbusAddress!);
  try {
    const bus = await pingFloor(fast, DBUS_NAME, { paced: rounds });
    const bare = await pingFloor(fast, RESPONDER_NAME, { paced: rounds });
    return { bus, bare };
  } finally {
    fast.close();
    await responder.stop();
  }
}

/** 1,000 pairs against a netsessiond under `--cpu-prof`; returns the profile file and the pairs' time window. */
async function profileDaemon(
  sb: Sandbox,
  conf: string,
  entry: string,
  pairs: number,
  daemonArgs: string[] = [],
): Promise<{ file: string; window: [number, number] }> {
  const d = await startProfiledDaemon(sb, conf, entry, join(OUT_DIR, 'cpuprof'), 200, daemonArgs);
  // The lib/dbus client on the private socket, as the SDK reaches the daemon (the path the
  // targets are read from); it also keeps the run short.
  const client = await connectBenchClient('lib/dbus direct', sb.dbusAddress!);
  const window: [number, number] = [0, 0];
  try {
    await untilSteady(d);
    for (let i = 0; i < 100; i++) await pair(client, `/bench/cp/w${++seq}`);
    window[0] = monotonicUs();
    for (let i = 0; i < pairs; i++) await pair(client, `/bench/cp/p${++seq}`);
    window[1] = monotonicUs();
  } finally {
    client.close();
    await d.proc.kill('SIGTERM', 5000);
  }
  return { file: d.profileFile(), window };
}

const ratio = (a: number | null, b: number | null) =>
  a !== null && b !== null && b > 0 ? `${(a / b).toFixed(2)}×` : '–';

const ms = (x: number | null | undefined, unit = 'ms') => (x == null ? null : `${r3(x)} ${unit}`);

/** The rows of both clients beside connmand, then the Ping floors beside the first-Update target. */
function printRows(
  ours: DaemonRun,
  theirs: DaemonRun | null,
  floors: { bus: PingFloor; bare: PingFloor },
  connmandSkip: string | null,
  daemonArgs: readonly string[],
): void {
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  console.log(
    `\n# call path: netsessiond${daemonArgs.length ? ` (${daemonArgs.join(' ')})` : ''} beside connmand 1.41, same sandbox, each client against both (medians; load ${load})`,
  );
  if (connmandSkip) console.log(`(connmand not run: ${connmandSkip})`);
  const rows: Array<Record<string, string | null>> = [];
  for (const kind of CLIENTS) {
    const a = ours.byClient[kind];
    const b = theirs?.byClient[kind] ?? null;
    const row = (what: string, unit: string, k: keyof CallPathFigures, target: string) =>
      rows.push({
        client: kind,
        measurement: what,
        netsessiond: ms(a[k], unit),
        connmand: b ? ms(b[k], unit) : null,
        ratio: ratio(a[k], b?.[k] ?? null),
        target: kind === CLIENTS[0] ? target : '',
      });
    row('CreateSession({}) → first Update', 'ms', 'firstUpdate', '≤ 0.5×');
    row('CreateSession({}) → reply', 'ms', 'reply', '');
    row('Destroy round trip', 'ms', 'destroy', '');
    row('200 sequential {} pairs (Create; Destroy)', 's', 'seq200', '≤ 0.5×');
    row('daemon CPU per 1000 {} pairs', 's', 'cpuPer1000', '≤ 1.0×');
  }
  const carrier = (client: string, k: 'carrierLoss' | 'carrierLossDirect', target: string) =>
    rows.push({
      client,
      measurement: 'carrier loss → Update (unpinned, router side)',
      netsessiond: ms(ours[k]),
      connmand: ms(theirs?.[k]),
      ratio: ratio(ours[k], theirs?.[k] ?? null),
      target,
    });
  carrier('(failover driver)', 'carrierLoss', '≤ 0.6×');
  carrier('(failover driver, lib/dbus direct)', 'carrierLossDirect', '');
  console.table(rows);

  // What any daemon pays before its own work: the bus's two hops and the Node event loop's wake-up.
  const target = theirs?.byClient[CLIENTS[0]!].firstUpdate;
  console.log(
    '\n# the floor: org.freedesktop.DBus.Peer.Ping round trips with the lib/dbus client (medians; paced = 20 ms apart, as the rows above)',
  );
  const floor = (what: string, f: PingFloor) => ({
    'Peer.Ping to': what,
    paced: ms(f.paced),
    'back to back': ms(f.backToBack),
  });
  console.table([
    floor('the bus itself (dbus-daemon, one hop)', floors.bus),
    floor('a bare Node process on lib/dbus (answers Ping, nothing else)', floors.bare),
    floor('netsessiond', ours.ping),
    ...(ours.pingDirect ? [floor('netsessiond on its private socket (no bus)', ours.pingDirect)] : []),
    ...(theirs ? [floor('connmand 1.41', theirs.ping)] : []),
  ]);
  if (target != null)
    console.log(
      `(target "first Update ≤ 0.5× connmand" = ${r3(target / 2)} ms paced; a bare Node responder's Ping alone takes ${r3(floors.bare.paced ?? Number.NaN)} ms)`,
    );
}

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
  // connmand's own bus policy file, as on a real machine, when it runs beside us; and the bare
  // responder's, for the floor rows.
  const floorPolicy = writeFloorPolicy(OUT_DIR);
  const sb = await createBenchSandbox(connmandSkip ? [floorPolicy] : [CONNMAN_BUS_POLICY, floorPolicy]);
  try {
    const conf = writeConfig(sb, 4096);
    let ours: DaemonRun | null = null;
    let floors: { bus: PingFloor; bare: PingFloor } | null = null;
    if (!options.profileOnly) {
      floors = await measureFloors(sb, dirname(dirname(entry)), opts.rounds);
      const d = await startDaemon(sb, conf, shippedDaemon(entry), options.daemonArgs);
      try {
        await untilSteady(d);
        ours = await measure(sb, 'netsessiond', d.pid, opts);
      } finally {
        await d.proc.kill('SIGTERM', 5000);
      }
    }
    const prof = await profileDaemon(sb, conf, entry, opts.cpuPairs, options.daemonArgs);
    const profile = topEntries(prof.file, 15, prof.window);
    let theirs: DaemonRun | null = null;
    if (!options.profileOnly && !connmandSkip) {
      const c = await startConnmand(sb, { onlineCheck: true });
      try {
        await sleep(1000);
        theirs = await measure(sb, 'connmand', c.pid, opts);
      } catch (err) {
        console.log(`(connmand not measured: ${(err as Error).message.split('\n')[0]})`);
      } finally {
        await c.stop();
      }
      if (theirs && theirs.carrierLoss === null && opts.failoverRounds > 0) {
        theirs.carrierLoss = CONNMAND_CARRIER_LOSS_MS;
        console.log(
          `(connmand's carrier loss → Update: ${CONNMAND_CARRIER_LOSS_MS} ms from the connmand-harness RESULTS.md, not this run)`,
        );
      }
    }
    if (ours) printRows(ours, theirs, floors!, connmandSkip, options.daemonArgs ?? []);
    printProfile(profile, opts.cpuPairs, BASELINE);
  } finally {
    await sb.destroy();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const has = (flag: string) => process.argv.includes(flag);
  await runCallPathBench({
    profileOnly: has('--profile-only'),
    daemonArgs: has('--no-firewall') ? ['--firewall', 'none'] : [],
    noConnmand: has('--no-connmand'),
    ...(has('--quick') ? { rounds: 50, cpuPairs: 300, failoverRounds: 0 } : {}),
  });
}

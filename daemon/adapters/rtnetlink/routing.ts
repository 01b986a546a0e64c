/**
 * The daemon's {@link Routing} over rtnetlink: per-service routing tables and the `ip rule`s
 * that select them.
 *
 * Reconcile against a model, verify against the kernel: after an apply that went through
 * cleanly, the adapter keeps what it applied (per service and per rule, as kernel records) and
 * plans the next apply against that model (routing-delta.ts): only services whose routing changed
 * are normalised and diffed, only rules that came or went are touched, and the change goes out in
 * one datagram on the adapter's one socket, so it costs its own netlink requests and no dump. The
 * kernel's rules (both families) and routes are dumped and diffed ({@link planRouting}) instead:
 * on the first apply, on `apply(desired, { verify: true })` (the daemon's periodic verify and
 * link events, after which the kernel may have dropped routes on its own), after any failure,
 * skipped route or race, and for the later rounds of an apply. So a rule deleted from outside
 * comes back at the next verify, a restarted daemon adopts identical leftovers of a crashed run
 * and deletes the rest, and an apply of an unchanged state sends nothing
 * ({@link RtnetlinkRouting.lastOps} is 0).
 *
 * Only entries inside the configured ranges are ever touched (routing-plan.ts). The parts:
 * routing-plan.ts diffs against a dump, routing-delta.ts against the model, routing-ops.ts writes one round, routing-sysctls.ts keeps the two
 * sysctls per managed interface, routing-view.ts is the read-back; this file runs the rounds
 * and keeps the model.
 */
import type { CoreConfig } from '../../core/config.js';
import type { RoutingState } from '../../core/kernel-state-types.js';
import { partJson } from '../../core/stable-routing.js';
import type { Logger, Routing, SysctlWriter } from '../../ports.js';
import { openRtnlClient, type RtnlClient } from './client.js';
import { decodeLink } from './link-records.js';
import { decodeTableRoute, type KernelRoute } from './routes.js';
import { modelOf, planDelta, type RoutingModel, snapshotOfModel } from './routing-delta.js';
import { describeOp, type RoutingOpFailure, runPlan } from './routing-ops.js';
import { type KernelSnapshot, type Ownership, planRouting, type RoutingPlan } from './routing-plan.js';
import { ensureRoutingSysctls, managedInterfaces } from './routing-sysctls.js';
import { routingStateOf } from './routing-view.js';
import { decodeRule, type KernelRule } from './rules.js';

export type { RoutingOpFailure } from './routing-ops.js';

/** Options of {@link createRtnetlinkRouting}. */
export interface RtnetlinkRoutingOptions {
  /** The ranges (tables, priorities) the daemon owns and the mark mask. */
  config: CoreConfig;
  /** Where src_valid_mark and rp_filter of the managed interfaces are written. */
  sysctls: SysctlWriter;
  log?: Logger;
  /** Requests of one phase sent in one datagram (default 32). */
  concurrency?: number;
  /** @internal Opens the rtnetlink client (a fake kernel in unit tests). */
  openClient?: () => Promise<RtnlClient>;
}

/** What the last apply (or clear) did. */
export interface RoutingApplyReport {
  /** Kernel write operations issued: netlink requests sent plus sysctl files written. */
  ops: number;
  /** Read-diff-write rounds (1 normally; more after a race or an ambiguous delete). */
  rounds: number;
  /** Routes whose next hop was not reachable yet (ENETUNREACH, ...): retried on the next apply. */
  skipped: string[];
  failures: RoutingOpFailure[];
  /** Our tables that were emptied because no service uses them any more. */
  removedTables: number[];
  /** Kernel dumps read (0 when the apply was planned from the model of the previous one). */
  reads: number;
}

/** Thrown by apply/clear when some operations failed; all others were still carried out. */
export class RoutingApplyError extends Error {
  constructor(readonly failures: readonly RoutingOpFailure[]) {
    const head = failures
      .slice(0, 3)
      .map((f) => `${f.op}: ${f.code ?? f.message}`)
      .join('; ');
    super(`routing: ${failures.length} operation(s) failed: ${head}${failures.length > 3 ? '; ...' : ''}`);
    this.name = 'RoutingApplyError';
  }
}

/** The routing adapter, plus read-back and counters for tests and the bench. */
export interface RtnetlinkRouting extends Routing {
  /** What the kernel holds inside our ranges, as a RoutingState (one service per table). */
  readActual(): Promise<RoutingState>;
  /** Makes the kernel hold `desired`; `verify` dumps the kernel instead of trusting the model. */
  apply(desired: RoutingState, opts?: { verify?: boolean }): Promise<void>;
  /** Kernel write operations of the last apply/clear (0 when nothing had to change). */
  readonly lastOps: number;
  readonly lastReport: RoutingApplyReport;
}

/** Three rounds cover a race on add (EEXIST) and an ambiguous delete; more would mean a fight. */
const MAX_ROUNDS = 3;
const SOCKET = { rcvbuf: 1 << 20, sndbuf: 256 << 10, timeoutMs: 10_000 };

/** Rules and routes of every table, decoded. */
export function dumpKernel(client: RtnlClient): KernelSnapshot {
  const rules: KernelRule[] = [];
  for (const m of client.dump('rule')) {
    const r = m.kind === 'rule' ? decodeRule(m) : null;
    if (r) rules.push(r);
  }
  const routes: KernelRoute[] = [];
  for (const m of client.dump('route')) {
    const r = m.kind === 'route' ? decodeTableRoute(m) : null;
    if (r) routes.push(r);
  }
  return { routes, rules };
}

/**
 * The identity of a desired state for the model's "nothing changed" test: rule order is no part
 * of it (the kernel orders rules by priority, so two states listing the same rules in another
 * order are the same state).
 */
function stateKey(desired: RoutingState): string {
  const rules = desired.rules.map(partJson).sort();
  return `[${desired.services.map(partJson).join(',')}]\n${rules.join('\n')}`;
}

/** Runs `fn`s one after another, never interleaved; a failure does not stop the next. */
function serialiser(): <T>(fn: () => Promise<T>) => Promise<T> {
  let queue: Promise<unknown> = Promise.resolve();
  return (fn) => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };
}

/** Problems of the desired state are logged once each, not at every apply. */
function onceLogger(log: Logger): (problem: string) => void {
  const reported = new Set<string>();
  return (p) => {
    if (reported.has(p)) return;
    if (reported.size > 1000) reported.clear();
    reported.add(p);
    log('warn', `routing: ${p}`);
  };
}

/**
 * Creates the routing adapter. One rtnetlink socket serves every apply (opening one cost a
 * socket(), four setsockopt() and a bind() per apply); it is closed after a socket failure (the
 * next apply opens a fresh one) and by clear().
 */
export function createRtnetlinkRouting(opts: RtnetlinkRoutingOptions): RtnetlinkRouting {
  const { config, sysctls } = opts;
  const log: Logger = opts.log ?? (() => {});
  const batch = Math.max(1, opts.concurrency ?? 32);
  const open = opts.openClient ?? (() => openRtnlClient(SOCKET));
  const own: Ownership = { tableRange: config.tableRange, priorityRange: config.priorityRange };
  const serial = serialiser();
  const problem = onceLogger(log);
  let lastReport: RoutingApplyReport = { ops: 0, rounds: 0, skipped: [], failures: [], removedTables: [], reads: 0 };
  /** What the last clean apply left in the kernel (see the module comment); null: dump first. */
  let model: { json: string; records: RoutingModel; interfaces: string } | null = null;
  let socket: RtnlClient | null = null;
  const client = async (): Promise<RtnlClient> => {
    socket ??= await open();
    return socket;
  };
  const dropSocket = (): void => {
    socket?.close();
    socket = null;
  };

  /** The first round's plan: the change from the model when there is one, else a full diff. */
  function firstPlan(
    desired: RoutingState,
    from: RoutingModel | null,
    read: () => KernelSnapshot,
  ): { plan: RoutingPlan; next: RoutingModel | null } {
    if (!from) return { plan: planRouting(desired, read(), own), next: null };
    return planDelta(from, desired, own) ?? { plan: planRouting(desired, snapshotOfModel(from), own), next: null };
  }

  /**
   * Read, diff, write until nothing is left to do (or MAX_ROUNDS). `settled`: nothing raced;
   * `next`: the model after a clean first round planned from the previous one.
   */
  function rounds(
    client: RtnlClient,
    desired: RoutingState,
    from: RoutingModel | null,
    report: RoutingApplyReport,
  ): { settled: boolean; next: RoutingModel | null } {
    const skippedKeys = new Set<string>();
    let recheck = true;
    let next: RoutingModel | null = null;
    const read = (): KernelSnapshot => {
      report.reads++;
      return dumpKernel(client);
    };
    while (recheck && report.rounds < MAX_ROUNDS) {
      let plan: RoutingPlan;
      if (report.rounds === 0) ({ plan, next } = firstPlan(desired, from, read));
      else {
        // Later rounds check the kernel itself.
        plan = planRouting(desired, read(), own);
        next = null;
      }
      plan.problems.forEach(problem);
      // Routes skipped as unreachable in an earlier round are not retried within this apply.
      const ops = plan.ops.filter((o) => !(o.kind === 'route' && o.op !== 'del' && skippedKeys.has(describeOp(o))));
      if (report.rounds === 0) report.removedTables = plan.removedTables;
      if (ops.length === 0) return { settled: true, next };
      report.rounds++;
      const res = runPlan(client, ops, batch, log);
      report.ops += res.issued;
      report.failures = res.failures;
      report.skipped.push(...res.skipped);
      for (const s of res.skipped) skippedKeys.add(s);
      recheck = res.recheck || plan.ambiguous;
    }
    if (recheck) {
      const left = planRouting(desired, read(), own).ops.filter((o) => !skippedKeys.has(describeOp(o)));
      if (left.length > 0) {
        report.failures.push({
          op: 'reconcile',
          code: null,
          message: `${left.length} change(s) still pending after ${MAX_ROUNDS} rounds (someone else is changing our tables?)`,
        });
      }
    }
    return { settled: !recheck, next };
  }

  async function reconcile(desired: RoutingState, verify: boolean): Promise<void> {
    const report: RoutingApplyReport = { ops: 0, rounds: 0, skipped: [], failures: [], removedTables: [], reads: 0 };
    const json = stateKey(desired);
    const interfaces = managedInterfaces(desired).join('\n');
    const from = verify ? null : model;
    model = null;
    if (from && from.json === json) {
      lastReport = report;
      model = from;
      return;
    }
    const sysctlFailures: RoutingOpFailure[] = [];
    let settled = false;
    let next: RoutingModel | null = null;
    try {
      // Before the rules: replies to rerouted traffic must pass the reverse-path check from the start.
      if (!from || from.interfaces !== interfaces)
        report.ops += await ensureRoutingSysctls(desired, sysctls, log, sysctlFailures);
      const c = await client();
      try {
        ({ settled, next } = rounds(c, desired, from?.records ?? null, report));
      } catch (err) {
        // A failed socket may hold stale replies or be closed: the next apply opens a fresh one.
        dropSocket();
        throw err;
      }
      // A failure may have been the socket's (timeout, overrun: replies may still arrive on it).
      if (report.failures.length > 0) dropSocket();
    } finally {
      report.failures.unshift(...sysctlFailures);
      lastReport = report;
    }
    if (report.ops > 0) {
      // Routine per-session changes are debug detail; emptied tables (a service went) are news.
      const tables = report.removedTables.length ? `; tables emptied: ${report.removedTables.join(', ')}` : '';
      log(
        tables ? 'info' : 'debug',
        `routing: ${report.ops} kernel operation(s) in ${report.rounds} round(s)${tables}`,
      );
    }
    if (report.failures.length > 0) throw new RoutingApplyError(report.failures);
    if (settled && report.skipped.length === 0) {
      const records = next ?? modelOf(desired, own);
      if (records) model = { json, records, interfaces };
    }
  }

  async function readActual(): Promise<RoutingState> {
    const c = await client();
    try {
      const snapshot = dumpKernel(c);
      const names = new Map<number, string>();
      for (const m of c.dump('link')) {
        const l = m.kind === 'link' ? decodeLink(m) : null;
        if (l) names.set(l.ifindex, l.name);
      }
      return routingStateOf(snapshot, names, own);
    } catch (err) {
      dropSocket();
      throw err;
    }
  }

  return {
    apply: (desired, o) => serial(() => reconcile(desired, o?.verify === true)),
    clear: () => serial(() => reconcile({ services: [], rules: [] }, true).finally(dropSocket)),
    readActual: () => serial(readActual),
    get lastOps() {
      return lastReport.ops;
    },
    get lastReport() {
      return lastReport;
    },
  };
}

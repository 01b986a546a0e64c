/**
 * The daemon's {@link Routing} over rtnetlink (`netlink` 0.3.0): per-service routing tables and
 * the `ip rule`s that select them.
 *
 * Reconcile against a model, verify against the kernel: after an apply that went through
 * cleanly, the adapter keeps what it applied (the desired state as kernel records) and plans the
 * next apply against that model, so a change costs its own netlink requests and no dump. The
 * kernel's rules (both families) and routes are dumped and diffed ({@link planRouting}) instead:
 * on the first apply, on `apply(desired, { verify: true })` (the daemon's periodic verify and
 * link events, after which the kernel may have dropped routes on its own), after any failure,
 * skipped route or race, and for the later rounds of an apply. So a rule deleted from outside
 * comes back at the next verify, a restarted daemon adopts identical leftovers of a crashed run
 * and deletes the rest, and an apply of an unchanged state sends nothing
 * ({@link RtnetlinkRouting.lastOps} is 0).
 *
 * Only entries inside the configured ranges are ever touched: rules whose priority is in
 * `priorityRange` AND whose table is in `tableRange`, and routes of tables in `tableRange`.
 * Everything added is tagged `proto 110` ({@link RTPROT_NETSESSION}) for humans; ownership is
 * still decided by the ranges alone.
 *
 * Per managed interface (those in `desired.services`) two IPv4 sysctls are kept in place, written
 * through /proc/sys of the daemon's own network namespace: `src_valid_mark=1` (reverse-path
 * lookups see the packet mark, so a mark restored from conntrack selects our table) and, when
 * the effective rp_filter (max of conf.all and the interface) is strict, `rp_filter=2` on the
 * interface (see {@link rpFilterToWrite}). They are not reverted at clear(): the original values
 * are not remembered, and both settings are harmless without our rules.
 */
import { NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE } from './constants.js';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createRtNetlink, type rt, type RtNetlinkSocket } from 'netlink';
import type { CoreConfig } from '../../core/config.js';
import type { Logger, Routing } from '../../ports.js';
import type { PolicyRule, RoutingState, ServiceRouting, TableRoute } from '../../core/kernel-state-types.js';
import {
  DEFAULT_METRIC,
  FR_ACT_TO_TBL,
  NOT_YET_REACHABLE,
  RTNH_F_ONLINK,
  RTN_UNICAST,
  RTPROT_NETSESSION,
  RT_SCOPE_NOWHERE,
  addressBytes,
  afOf,
  decodeRule,
  decodeTableRoute,
  describeRoute,
  describeRule,
  isOurRoute,
  isOurRule,
  isSysctlIfname,
  managedInterfaces,
  netlinkErrorCode,
  normaliseDesired,
  planRouting,
  rpFilterToWrite,
  type KernelRoute,
  type KernelRule,
  type KernelSnapshot,
  type Ownership,
  type RouteSpec,
  type RoutingOp,
  type RuleSpec,
} from './routing-diff.js';

/** Options of {@link createRtnetlinkRouting}. */
export interface RtnetlinkRoutingOptions {
  /** The ranges (tables, priorities) the daemon owns and the mark mask. */
  config: CoreConfig;
  log?: Logger;
  /** Root of the sysctl tree; default `/proc/sys`. */
  sysctlRoot?: string;
  /** Netlink requests in flight at once within one phase (default 32). */
  concurrency?: number;
  /** @internal Opens the rtnetlink socket (replaced by a fake kernel in unit tests). */
  openSocket?: () => RoutingSocket;
}

/** The part of the package's socket this adapter uses. */
export type RoutingSocket = Pick<RtNetlinkSocket, 'getRules' | 'getRoutes' | 'getLinks' | 'newRoute' | 'delRoute' | 'newRule' | 'delRule'> & {
  socket: { close(): void };
};

/** One operation that failed. */
export interface RoutingOpFailure {
  /** `ip`-style description of the operation. */
  op: string;
  /** errno name (`EINVAL`, ...) or null when the error carried none. */
  code: string | null;
  message: string;
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
const REQUEST_TIMEOUT_MS = 10_000;
const RECV_BUFFER = 1 << 20;
const SEND_BUFFER = 256 << 10;

/** Header and attributes of a route request. */
export type RouteReq = [rt.Route, rt.RouteAttrs];
/** Header and attributes of a rule request. */
export type RuleReq = [rt.Rule, rt.RuleAttrs];

/** @internal The RTM_NEWROUTE of a desired route (exported for tests). */
export function addRouteRequest(r: RouteSpec): RouteReq {
  const data: rt.Route = {
    family: afOf(r.family),
    dstLen: r.dstLen,
    // rtm_table is a u8: the real id goes in RTA_TABLE.
    table: 0,
    protocol: RTPROT_NETSESSION as rt.RouteProtocol,
    scope: r.scope as rt.RouteScope,
    type: RTN_UNICAST as rt.RouteType,
    flags: r.onlink ? { __unknown: RTNH_F_ONLINK } : {},
  };
  const attrs: rt.RouteAttrs = { table: r.table, oif: r.ifindex };
  if (r.dstLen > 0) attrs.dst = addressBytes(r.family, r.dst) ?? undefined;
  if (r.gateway) attrs.gateway = addressBytes(r.family, r.gateway) ?? undefined;
  if (r.metric !== DEFAULT_METRIC[r.family]) attrs.priority = r.metric;
  return [data, attrs];
}

/** @internal A delete that names the route exactly: everything it was dumped with, any scope. */
export function delRouteRequest(r: KernelRoute): RouteReq {
  const data: rt.Route = {
    family: afOf(r.family),
    dstLen: r.dstLen,
    srcLen: r.srcLen,
    tos: r.tos,
    table: 0,
    protocol: r.protocol as rt.RouteProtocol,
    scope: RT_SCOPE_NOWHERE as rt.RouteScope,
    type: (r.raw?.data.type ?? r.type) as rt.RouteType,
  };
  const a = r.raw?.attrs;
  const attrs: rt.RouteAttrs = { table: r.table };
  if (a) {
    for (const k of ['dst', 'src', 'oif', 'gateway', 'priority', 'multipath', 'nhId'] as const) {
      if (a[k] !== undefined) (attrs as Record<string, unknown>)[k] = a[k];
    }
  } else {
    if (r.dstLen > 0) attrs.dst = addressBytes(r.family, r.dst) ?? undefined;
    if (r.gateway) attrs.gateway = addressBytes(r.family, r.gateway) ?? undefined;
    if (r.ifindex) attrs.oif = r.ifindex;
    if (r.metric) attrs.priority = r.metric;
  }
  return [data, attrs];
}

/** @internal The RTM_NEWRULE of a desired rule (exported for tests). */
export function addRuleRequest(r: RuleSpec): RuleReq {
  const data: rt.Rule = { family: afOf(r.family), srcLen: r.srcLen, table: 0, action: FR_ACT_TO_TBL as rt.RuleAction };
  const attrs: rt.RuleAttrs = { priority: r.priority, table: r.table, protocol: RTPROT_NETSESSION };
  if (r.mark !== 0 || r.mask !== 0) {
    attrs.fwmark = r.mark;
    attrs.fwmask = r.mask;
  }
  if (r.srcLen > 0) attrs.src = addressBytes(r.family, r.src) ?? undefined;
  return [data, attrs];
}

/** Attributes echoed back on a rule delete: every selector, so the kernel picks this rule. */
const RULE_SELECTORS = [
  'priority', 'table', 'fwmark', 'fwmask', 'src', 'dst', 'iifname', 'oifname', 'uidRange', 'ipProto',
  'sportRange', 'dportRange', 'l3Mdev', 'goto', 'flow', 'tunId', 'suppressPrefixlen', 'suppressIfgroup', 'protocol',
] as const;

/** @internal A delete that echoes every selector of the dumped rule (exported for tests). */
export function delRuleRequest(r: KernelRule): RuleReq {
  const data: rt.Rule = {
    family: afOf(r.family),
    srcLen: r.srcLen,
    dstLen: r.dstLen,
    tos: r.tos,
    table: 0,
    action: (r.raw?.data.action ?? r.action) as rt.RuleAction,
    flags: r.raw?.data.flags ?? {},
  };
  const a = r.raw?.attrs;
  const attrs: rt.RuleAttrs = {};
  if (a) {
    for (const k of RULE_SELECTORS) if (a[k] !== undefined) (attrs as Record<string, unknown>)[k] = a[k];
  } else {
    attrs.priority = r.priority;
    attrs.table = r.table;
    if (r.mark) attrs.fwmark = r.mark;
    if (r.mask) attrs.fwmask = r.mask;
    if (r.srcLen > 0) attrs.src = addressBytes(r.family, r.src) ?? undefined;
    if (r.dstLen > 0) attrs.dst = addressBytes(r.family, r.dst) ?? undefined;
  }
  return [data, attrs];
}

function describeOp(o: RoutingOp): string {
  return o.kind === 'route' ? `${o.op} ${describeRoute(o.route)}` : `${o.op} ${describeRule(o.rule)}`;
}

/** Runs `fn` over `items` with at most `limit` running at once. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Outcome of one round of writes. */
interface RoundResult {
  issued: number;
  failures: RoutingOpFailure[];
  skipped: string[];
  /** Something raced with us (EEXIST on add, already gone on delete): read back again. */
  recheck: boolean;
}

/**
 * What the kernel holds of ours once `desired` was applied cleanly: its records, as a dump would
 * show them (deletes built from them name every field, see delRouteRequest / delRuleRequest).
 */
function snapshotOf(desired: RoutingState, own: Ownership): KernelSnapshot {
  const want = normaliseDesired(desired, own);
  return {
    routes: want.routes.map((r) => ({ ...r, protocol: RTPROT_NETSESSION })),
    rules: want.rules.map((r) => ({ ...r, protocol: RTPROT_NETSESSION })),
  };
}

async function dumpKernel(sock: RoutingSocket): Promise<KernelSnapshot> {
  const rules: KernelRule[] = [];
  for (const m of await sock.getRules(undefined, undefined, { timeout: REQUEST_TIMEOUT_MS })) {
    const r = decodeRule(m);
    if (r) rules.push(r);
  }
  const routes: KernelRoute[] = [];
  for (const m of await sock.getRoutes(undefined, undefined, { timeout: REQUEST_TIMEOUT_MS })) {
    const r = decodeTableRoute(m);
    if (r) routes.push(r);
  }
  return { routes, rules };
}

/** Creates the routing adapter. Each apply opens its own rtnetlink socket and closes it after. */
export function createRtnetlinkRouting(opts: RtnetlinkRoutingOptions): RtnetlinkRouting {
  const { config } = opts;
  const log: Logger = opts.log ?? (() => {});
  const sysctlRoot = opts.sysctlRoot ?? '/proc/sys';
  const concurrency = Math.max(1, opts.concurrency ?? 32);
  const own = { tableRange: config.tableRange, priorityRange: config.priorityRange };
  let lastReport: RoutingApplyReport = { ops: 0, rounds: 0, skipped: [], failures: [], removedTables: [], reads: 0 };
  /** What the last clean apply left in the kernel (see the module comment); null: dump first. */
  let model: { json: string; snapshot: KernelSnapshot; interfaces: string } | null = null;
  // Problems of the desired state are logged once each, not at every apply.
  const reported = new Set<string>();
  // Applies never interleave: each one reads, then writes, what the previous one left.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };

  const openSocket = opts.openSocket ?? ((): RoutingSocket => createRtNetlink({ recvBufferSize: RECV_BUFFER, sendBufferSize: SEND_BUFFER }));
  const closeSocket = (sock: RoutingSocket): void => {
    try {
      sock.socket.close();
    } catch {
      // Already closed after a socket error.
    }
  };

  async function readInt(path: string): Promise<number | null> {
    try {
      const n = Number.parseInt((await readFile(path, 'utf8')).trim(), 10);
      return Number.isNaN(n) ? null : n;
    } catch {
      return null;
    }
  }

  /** Keeps src_valid_mark and rp_filter of the managed interfaces; returns the files written. */
  async function ensureSysctls(desired: RoutingState, failures: RoutingOpFailure[]): Promise<number> {
    const ifnames = managedInterfaces(desired);
    if (ifnames.length === 0) return 0;
    const conf = join(sysctlRoot, 'net/ipv4/conf');
    const allRp = (await readInt(join(conf, 'all', 'rp_filter'))) ?? 0;
    let writes = 0;
    const set = async (ifname: string, key: string, value: number): Promise<void> => {
      const path = join(conf, ifname, key);
      writes++;
      try {
        await writeFile(path, `${value}\n`);
        log('info', `routing: ${path} = ${value}`);
      } catch (err) {
        failures.push({ op: `write ${path}=${value}`, code: (err as NodeJS.ErrnoException).code ?? null, message: (err as Error).message });
      }
    };
    for (const ifname of ifnames) {
      if (!isSysctlIfname(ifname)) {
        log('warn', `routing: not setting sysctls of interface ${JSON.stringify(ifname)}: not a usable name`);
        continue;
      }
      const svm = await readInt(join(conf, ifname, 'src_valid_mark'));
      // No directory: the interface is gone (its service will disappear with it).
      if (svm === null) {
        log('debug', `routing: no sysctls for ${ifname} (interface gone?)`);
        continue;
      }
      if (svm !== 1) await set(ifname, 'src_valid_mark', 1);
      const rp = (await readInt(join(conf, ifname, 'rp_filter'))) ?? 0;
      const target = rpFilterToWrite(allRp, rp);
      if (target !== null) await set(ifname, 'rp_filter', target);
    }
    return writes;
  }

  async function runOp(sock: RoutingSocket, o: RoutingOp, res: RoundResult): Promise<void> {
    res.issued++;
    const options = (flags: number) => ({ flags, timeout: REQUEST_TIMEOUT_MS });
    try {
      if (o.kind === 'route') {
        if (o.op === 'del') await sock.delRoute(...delRouteRequest(o.route), options(0));
        else await sock.newRoute(...addRouteRequest(o.route), options(NLM_F_CREATE | (o.op === 'replace' ? NLM_F_REPLACE : NLM_F_EXCL)));
      } else if (o.op === 'del') {
        await sock.delRule(...delRuleRequest(o.rule), options(0));
      } else {
        await sock.newRule(...addRuleRequest(o.rule), options(NLM_F_CREATE | NLM_F_EXCL));
      }
      log('debug', `routing: ${describeOp(o)}`);
    } catch (err) {
      const code = netlinkErrorCode(err);
      const what = describeOp(o);
      if (o.op === 'del' && (code === 'ESRCH' || code === 'ENOENT')) {
        // Gone already (someone else deleted it, or an earlier delete took it): verify by reading back.
        res.recheck = true;
      } else if (o.op === 'add' && code === 'EEXIST') {
        // Appeared between our dump and our add: read back, adopt it if identical, replace it if not.
        res.recheck = true;
      } else if (o.kind === 'route' && o.op !== 'del' && code !== null && NOT_YET_REACHABLE.has(code)) {
        res.skipped.push(what);
        log('warn', `routing: ${what}: ${code}, next hop not reachable yet; retrying on the next apply`);
      } else {
        res.failures.push({ op: what, code, message: (err as Error).message });
        log('error', `routing: ${what} failed: ${(err as Error).message}`);
      }
    }
  }

  async function runPlan(sock: RoutingSocket, ops: RoutingOp[]): Promise<RoundResult> {
    const res: RoundResult = { issued: 0, failures: [], skipped: [], recheck: false };
    for (let i = 0; i < ops.length; ) {
      let j = i;
      while (j < ops.length && (ops[j] as RoutingOp).phase === (ops[i] as RoutingOp).phase) j++;
      await eachLimited(ops.slice(i, j), concurrency, (o) => runOp(sock, o, res));
      i = j;
    }
    return res;
  }

  async function reconcile(desired: RoutingState, verify: boolean): Promise<void> {
    const report: RoutingApplyReport = { ops: 0, rounds: 0, skipped: [], failures: [], removedTables: [], reads: 0 };
    const json = JSON.stringify(desired);
    const interfaces = managedInterfaces(desired).join('\n');
    const from = verify ? null : model;
    model = null;
    if (from && from.json === json) {
      lastReport = report;
      model = from;
      return;
    }
    const sysctlFailures: RoutingOpFailure[] = [];
    // Before the rules: replies to rerouted traffic must pass the reverse-path check from the start.
    if (!from || from.interfaces !== interfaces) report.ops += await ensureSysctls(desired, sysctlFailures);
    const sock = openSocket();
    let clean = false;
    try {
      const skippedKeys = new Set<string>();
      let recheck = true;
      let snapshot: KernelSnapshot | null = from?.snapshot ?? null;
      const read = async (): Promise<KernelSnapshot> => {
        report.reads++;
        return dumpKernel(sock);
      };
      while (recheck && report.rounds < MAX_ROUNDS) {
        const plan = planRouting(desired, snapshot ?? (await read()), own);
        snapshot = null; // later rounds check the kernel itself
        for (const p of plan.problems) {
          if (reported.has(p)) continue;
          if (reported.size > 1000) reported.clear();
          reported.add(p);
          log('warn', `routing: ${p}`);
        }
        // Routes skipped as unreachable in an earlier round are not retried within this apply.
        const ops = plan.ops.filter((o) => !(o.kind === 'route' && o.op !== 'del' && skippedKeys.has(describeOp(o))));
        if (report.rounds === 0) report.removedTables = plan.removedTables;
        if (ops.length === 0) {
          recheck = false;
          break;
        }
        report.rounds++;
        const res = await runPlan(sock, ops);
        report.ops += res.issued;
        report.failures = res.failures;
        report.skipped.push(...res.skipped);
        for (const s of res.skipped) skippedKeys.add(s);
        recheck = res.recheck || plan.ambiguous;
      }
      if (recheck && report.rounds >= MAX_ROUNDS) {
        const left = planRouting(desired, await read(), own).ops.filter((o) => !skippedKeys.has(describeOp(o)));
        if (left.length > 0) {
          report.failures.push({ op: `reconcile`, code: null, message: `${left.length} change(s) still pending after ${MAX_ROUNDS} rounds (someone else is changing our tables?)` });
        }
      }
      clean = !recheck && report.failures.length === 0 && report.skipped.length === 0 && sysctlFailures.length === 0;
    } finally {
      closeSocket(sock);
      report.failures.unshift(...sysctlFailures);
      lastReport = report;
    }
    if (report.ops > 0) {
      // Routine per-session changes are debug detail; emptied tables (a service went) are news.
      const tables = report.removedTables.length ? `; tables emptied: ${report.removedTables.join(', ')}` : '';
      log(tables ? 'info' : 'debug', `routing: ${report.ops} kernel operation(s) in ${report.rounds} round(s)${tables}`);
    }
    if (report.failures.length > 0) throw new RoutingApplyError(report.failures);
    if (clean) model = { json, snapshot: snapshotOf(desired, own), interfaces };
  }

  async function readActual(): Promise<RoutingState> {
    const sock = openSocket();
    try {
      const { routes, rules } = await dumpKernel(sock);
      const names = new Map<number, string>();
      for (const l of await sock.getLinks(undefined, undefined, { timeout: REQUEST_TIMEOUT_MS })) {
        if (l.data.index !== undefined) names.set(l.data.index, l.attrs.ifname ?? '');
      }
      const ours = rules.filter((r) => isOurRule(r, own));
      const policy: PolicyRule[] = [];
      for (const r of ours) {
        // Rules with selectors a PolicyRule cannot express are left out of this view.
        if (r.extra || r.dstLen || r.tos || r.action !== FR_ACT_TO_TBL) continue;
        if (r.srcLen > 0 && r.mark === 0) policy.push({ kind: 'source', family: r.family, priority: r.priority, src: r.src, srcLen: r.srcLen, table: r.table });
        else if (r.srcLen === 0 && r.mark !== 0) policy.push({ kind: 'fwmark', family: r.family, priority: r.priority, mark: r.mark, mask: r.mask, table: r.table });
      }
      policy.sort((a, b) => a.priority - b.priority || a.family - b.family || (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0));
      const byTable = new Map<number, TableRoute[]>();
      for (const r of routes) {
        if (!isOurRoute(r, own)) continue;
        const tr: TableRoute = { family: r.family, dst: r.dst, dstLen: r.dstLen, ifindex: r.ifindex, table: r.table };
        if (r.gateway) tr.gateway = r.gateway;
        const list = byTable.get(r.table);
        if (list) list.push(tr);
        else byTable.set(r.table, [tr]);
      }
      const services: ServiceRouting[] = [...byTable.entries()]
        .sort(([a], [b]) => a - b)
        .map(([table, list]) => {
          const ifindex = list[0]?.ifindex ?? 0;
          const mark = policy.find((p) => p.kind === 'fwmark' && p.table === table);
          return { serviceId: `table-${table}`, ifindex, ifname: names.get(ifindex) ?? '', table, mark: mark?.kind === 'fwmark' ? mark.mark : 0, routes: list };
        });
      return { services, rules: policy };
    } finally {
      closeSocket(sock);
    }
  }

  return {
    apply: (desired, o) => serial(() => reconcile(desired, o?.verify === true)),
    clear: () => serial(() => reconcile({ services: [], rules: [] }, true)),
    readActual: () => serial(readActual),
    get lastOps() {
      return lastReport.ops;
    },
    get lastReport() {
      return lastReport;
    },
  };
}

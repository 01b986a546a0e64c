/**
 * Configures the interfaces the daemon manages over rtnetlink: admin up/down, static addresses,
 * and the main table's default routes with ConnMan's gateway lifecycle (inactive → added →
 * active → removed; see link-config-plan.ts and gateway-tracker.ts).
 *
 * Reconcile like routing.ts: every apply dumps what the kernel holds, diffs, writes the
 * difference, and reads back. Only managed interfaces are touched, and on them only addresses
 * tagged with our IFA_PROTO and non-RA default routes (ownership rules in link-config-plan.ts).
 * The one thing remembered is the lifecycle view, which is fed by the kernel's route
 * notifications (groups IPV4_ROUTE and IPV6_ROUTE, opened by {@link LinkConfig.start}) and by the
 * read-back dump of every apply. The dump matters: the kernel sends no RTM_DELROUTE for the IPv4
 * routes it flushes when a link goes down, so such a route stays `active` in the view until the
 * next applyMainDefaults reads it back (the caller re-applies on link events anyway). The
 * messages themselves are link-config-requests.ts.
 */
import type { Logger, SysctlWriter } from '../../ports.js';
import { type EventSocket, openEventSocket } from '../netlink/event-socket.js';
import { errorCode, openRtnlClient, type RtnlClient } from './client.js';
import { type GatewayLifecycle, GatewayTracker, seedOf } from './gateway-tracker.js';
import {
  type DefaultOp,
  type DesiredDefault,
  type DesiredLink,
  defaultKey,
  isOurDefault,
  type KernelAddress,
  type KernelLink,
  kernelDefaultKey,
  needsPromoteSecondaries,
  planLinkConfig,
  planMainDefaults,
} from './link-config-plan.js';
import {
  decodeKernelAddress,
  defaultRequest,
  describeLinkOp,
  dumpDefaults,
  linkRequest,
  requestOne,
} from './link-config-requests.js';
import { decodeLink } from './link-records.js';
import { addressBytes, formatAddress } from './messages/addresses.js';
import { RTNLGRP } from './messages/constants.js';
import { describeRoute, NOT_YET_REACHABLE } from './routes.js';
import { ipv4Conf, isSysctlIfname } from './sysctl-paths.js';

export type { GatewayLifecycle } from './gateway-tracker.js';
export type { DesiredDefault, DesiredLink, GatewayState, LinkAddress } from './link-config-plan.js';
export { metricFor } from './link-config-plan.js';

const SOCKET = { rcvbuf: 1 << 20, sndbuf: 256 << 10, timeoutMs: 10_000 };
const EVENT_RCVBUF = 1 << 20;

/** One failed kernel operation. */
export interface LinkConfigFailure {
  op: string;
  code: string | null;
  message: string;
}

/** Thrown by an apply when some operations failed; all others were still carried out. */
export class LinkConfigError extends Error {
  constructor(readonly failures: readonly LinkConfigFailure[]) {
    super(
      `link-config: ${failures.length} operation(s) failed: ${failures
        .slice(0, 3)
        .map((f) => `${f.op}: ${f.code ?? f.message}`)
        .join('; ')}`,
    );
    this.name = 'LinkConfigError';
  }
}

/** What one apply did. */
export interface LinkConfigReport {
  /** Kernel write requests sent. */
  ops: number;
  /** Desired entries that could not be applied (logged). */
  problems: string[];
  /**
   * Default routes not added because their next hop is not reachable yet (link down, no carrier:
   * ENETUNREACH/EHOSTUNREACH/ENETDOWN); not errors, the next apply tries again.
   */
  skipped: string[];
}

/** Options of {@link createLinkConfig}. */
export interface LinkConfigOptions {
  /** Where promote_secondaries is set before one of our addresses is deleted. */
  sysctls: SysctlWriter;
  log?: Logger;
  /** SO_RCVBUF of the route-notification socket (default 1 MiB); tests make it small. */
  eventRcvbuf?: number;
}

/** The link-configuration adapter. */
export interface LinkConfig {
  /** Subscribes to the kernel's route notifications (needed for routes to become `active`). */
  start(): Promise<void>;
  /** Closes the notification socket; pending {@link waitActive} calls resolve false. */
  stop(): void;
  /** Reconciles admin state and addresses of the listed links. Throws {@link LinkConfigError}. */
  applyLinkConfig(desired: readonly DesiredLink[]): Promise<LinkConfigReport>;
  /**
   * Reconciles the main table's default routes of the managed interfaces (`managed` plus the
   * interfaces of `desired`): adds/replaces first, deletes after, then reads back. A managed
   * interface missing from `desired` loses its defaults. Throws {@link LinkConfigError}.
   */
  applyMainDefaults(desired: readonly DesiredDefault[], managed?: readonly number[]): Promise<LinkConfigReport>;
  /** The lifecycle of every default route this adapter has handled, sorted by key. */
  lifecycle(): GatewayLifecycle[];
  /** Resolves true once `route` is `active`, false after `timeoutMs` or at stop(). */
  waitActive(route: DesiredDefault, timeoutMs: number): Promise<boolean>;
}

/** Creates the adapter. Requests use a short-lived socket per apply; events a long-lived one. */
export function createLinkConfig(opts: LinkConfigOptions): LinkConfig {
  const { sysctls } = opts;
  const log: Logger = opts.log ?? (() => {});
  const tracker = new GatewayTracker(log);
  let events: EventSocket | null = null;
  let stopped = false;
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };
  async function withClient<T>(fn: (c: RtnlClient) => Promise<T> | T): Promise<T> {
    const client = await openRtnlClient(SOCKET);
    try {
      return await fn(client);
    } finally {
      client.close();
    }
  }

  /**
   * Route notifications were lost (an overrun) or the socket was replaced: the kernel's word on
   * every default route we track, from a dump.
   */
  async function resyncTracked(): Promise<void> {
    if (tracker.entries().length === 0) return;
    try {
      const present = new Set((await withClient(dumpDefaults)).map(kernelDefaultKey));
      for (const e of tracker.entries())
        tracker.feed(e.key, present.has(e.key) ? 'kernel-present-after-loss' : 'kernel-absent');
    } catch (err) {
      log('warn', `link-config: re-reading routes after lost notifications failed: ${(err as Error).message}`);
    }
  }

  /** promote_secondaries=1 where a delete of ours would take foreign addresses with it. */
  async function promoteSecondaries(
    ifindexes: readonly number[],
    names: ReadonlyMap<number, string>,
    failures: LinkConfigFailure[],
  ): Promise<number> {
    let writes = 0;
    for (const ifindex of ifindexes) {
      const name = names.get(ifindex) ?? '';
      const path = ipv4Conf(name, 'promote_secondaries');
      try {
        if (!isSysctlIfname(name)) throw new Error(`unusable interface name ${JSON.stringify(name)}`);
        if ((await sysctls.read(path)) !== 1) {
          writes++;
          await sysctls.write(path, 1);
          log('info', `link-config: ${path} = 1 (a foreign address shares the subnet of one we delete)`);
        }
      } catch (err) {
        failures.push({
          op: `write ${path}=1`,
          code: (err as NodeJS.ErrnoException).code ?? null,
          message: (err as Error).message,
        });
      }
    }
    return writes;
  }

  async function reconcileLinks(client: RtnlClient, desired: readonly DesiredLink[]): Promise<LinkConfigReport> {
    const failures: LinkConfigFailure[] = [];
    const links: KernelLink[] = [];
    const names = new Map<number, string>();
    for (const m of client.dump('link')) {
      const l = m.kind === 'link' ? decodeLink(m) : null;
      if (!l) continue;
      links.push({ ifindex: l.ifindex, up: l.adminUp });
      names.set(l.ifindex, l.name);
    }
    const addrs: KernelAddress[] = [];
    for (const m of client.dump('address')) {
      const a = m.kind === 'address' ? decodeKernelAddress(m) : null;
      if (a) addrs.push(a);
    }
    const plan = planLinkConfig(desired, links, addrs);
    for (const p of plan.problems) log('warn', `link-config: ${p}`);
    let ops = await promoteSecondaries(needsPromoteSecondaries(plan.ops, addrs), names, failures);
    for (const o of plan.ops) {
      ops++;
      const err = requestOne(client, linkRequest(o));
      if (!err) {
        log('debug', `link-config: ${describeLinkOp(o)}`);
        continue;
      }
      const code = errorCode(err);
      // Gone already / there already: the goal is reached.
      if ((o.op === 'del-addr' && code === 'EADDRNOTAVAIL') || (o.op === 'add-addr' && code === 'EEXIST')) continue;
      failures.push({ op: describeLinkOp(o), code, message: err.message });
      log('error', `link-config: ${describeLinkOp(o)} failed: ${err.message}`);
    }
    if (failures.length > 0) throw new LinkConfigError(failures);
    return { ops, problems: plan.problems, skipped: [] };
  }

  function runDefaultOp(client: RtnlClient, o: DefaultOp, failures: LinkConfigFailure[], skipped: string[]): void {
    const what = `${o.op} ${describeRoute(o.route)}`;
    // The state changes before the send: the notification may arrive before the reply.
    tracker.feed(o.key, o.op === 'del' ? 'del-requested' : 'add-requested', seedOf(o.route));
    const err = requestOne(client, defaultRequest(o));
    if (!err) {
      log('debug', `link-config: ${what}`);
      return;
    }
    const code = errorCode(err);
    if (o.op === 'del' && (code === 'ESRCH' || code === 'ENOENT')) {
      tracker.feed(o.key, 'kernel-absent');
      return;
    }
    tracker.feed(o.key, o.op === 'del' ? 'del-failed' : 'add-failed');
    if (o.op !== 'del' && code !== null && NOT_YET_REACHABLE.has(code)) {
      skipped.push(o.key);
      log('warn', `link-config: ${what}: ${code}, next hop not reachable yet; retrying on the next apply`);
      return;
    }
    failures.push({ op: what, code, message: err.message });
    log('error', `link-config: ${what} failed: ${err.message}`);
  }

  function reconcileDefaults(
    client: RtnlClient,
    desired: readonly DesiredDefault[],
    managed: readonly number[],
  ): LinkConfigReport {
    const failures: LinkConfigFailure[] = [];
    const skipped: string[] = [];
    const plan = planMainDefaults(desired, dumpDefaults(client), managed);
    for (const p of plan.problems) log('warn', `link-config: ${p}`);
    for (const o of plan.ops) runDefaultOp(client, o, failures, skipped);
    // Read back: the dump is the kernel's word on what exists now.
    const own = new Set([...managed, ...desired.map((d) => d.ifindex)]);
    const now = dumpDefaults(client).filter((r) => isOurDefault(r, own));
    const present = new Set(now.map(kernelDefaultKey));
    for (const r of now)
      tracker.feed(
        kernelDefaultKey(r),
        'kernel-present',
        plan.desiredKeys.includes(kernelDefaultKey(r)) ? seedOf(r) : undefined,
      );
    for (const e of tracker.entries())
      if (!present.has(e.key) && own.has(e.ifindex)) tracker.feed(e.key, 'kernel-absent');
    const missing = plan.desiredKeys.filter((k) => !present.has(k) && !skipped.includes(k));
    if (failures.length === 0 && missing.length > 0)
      failures.push({ op: 'read-back', code: null, message: `missing after apply: ${missing.join(', ')}` });
    if (failures.length > 0) throw new LinkConfigError(failures);
    return { ops: plan.ops.length, problems: plan.problems, skipped };
  }

  function subscribe(): Promise<EventSocket> {
    return openEventSocket({
      groups: [RTNLGRP.IPV4_ROUTE, RTNLGRP.IPV6_ROUTE],
      rcvbuf: opts.eventRcvbuf ?? EVENT_RCVBUF,
      onMessages: (msgs) => tracker.onNotifications(msgs),
      onOverrun: () => {
        log('debug', 'link-config: route notifications overrun (ENOBUFS); re-reading the default routes it tracks');
        void serial(resyncTracked);
      },
      onError: (err) => {
        log('error', `link-config: route notifications: ${err.message}; re-subscribing`);
        events = null;
        void subscribe().then(
          (s) => {
            if (stopped) s.close();
            else events = s;
            return serial(resyncTracked);
          },
          (e: Error) => log('error', `link-config: cannot re-subscribe to route notifications: ${e.message}`),
        );
      },
    });
  }

  return {
    async start() {
      if (events) return;
      stopped = false;
      events = await subscribe();
    },
    stop() {
      stopped = true;
      events?.close();
      events = null;
      tracker.stop();
    },
    applyLinkConfig: (desired) => serial(() => withClient((c) => reconcileLinks(c, desired))),
    applyMainDefaults: (desired, managed = []) =>
      serial(() => withClient((c) => reconcileDefaults(c, desired, managed))),
    lifecycle: () => tracker.lifecycle(),
    waitActive(route, timeoutMs) {
      const gw = route.gateway === null || route.gateway === '' ? null : addressBytes(route.family, route.gateway);
      return tracker.waitActive(
        defaultKey({ ...route, gateway: gw ? formatAddress(route.family, gw) : null }),
        timeoutMs,
      );
    },
  };
}

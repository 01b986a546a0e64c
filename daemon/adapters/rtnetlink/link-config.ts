/**
 * Configures the interfaces the daemon manages over rtnetlink (`netlink` 0.3.0): admin up/down,
 * static addresses, and the main table's default routes with ConnMan's gateway lifecycle
 * (inactive → added → active → removed; see link-config-diff.ts).
 *
 * Reconcile like routing.ts: every apply dumps what the kernel holds, diffs, writes the
 * difference, and reads back. Only managed interfaces are touched, and on them only addresses
 * tagged with our IFA_PROTO and non-RA default routes (ownership rules in link-config-diff.ts).
 * The one thing remembered is the lifecycle view, which is fed by the kernel's route
 * notifications (groups IPV4_ROUTE and IPV6_ROUTE, opened by {@link LinkConfig.start}) and by the
 * read-back dump of every apply. The dump matters: the kernel sends no RTM.DELROUTE for the IPv4
 * routes it flushes when a link goes down, so such a route stays `active` in the view until the
 * next applyMainDefaults reads it back (the caller re-applies on link events anyway).
 */
import { NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, RTM } from './constants.js';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AttrStream, createRtNetlink, rt, type NetlinkMessage, type RtNetlinkSocket } from 'netlink';
import { openEventSocket, type EventSocket } from '../netlink/event-socket.js';
import type { Logger } from '../../ports.js';
import type { Family } from '../../core/services.js';
import { formatAddress } from './facts.js';
import {
  IFAPROT_NETSESSION,
  IFA_PROTO,
  RT_TABLE_MAIN,
  defaultKey,
  ifaProtoOf,
  needsPromoteSecondaries,
  kernelDefaultKey,
  isOurDefault,
  nextGatewayState,
  planLinkConfig,
  planMainDefaults,
  type DefaultOp,
  type DesiredDefault,
  type DesiredLink,
  type GatewayState,
  type KernelAddress,
  type KernelLink,
  type LifecycleEvent,
  type LinkOp,
} from './link-config-diff.js';
import { NOT_YET_REACHABLE, isSysctlIfname, RTNH_F_ONLINK, RTN_UNICAST, RTPROT_NETSESSION, addressBytes, afOf, decodeTableRoute, describeRoute, netlinkErrorCode, type KernelRoute } from './routing-diff.js';
import { delRouteRequest } from './routing.js';

export { metricFor } from './link-config-diff.js';
export type { DesiredDefault, DesiredLink, GatewayState, LinkAddress } from './link-config-diff.js';

const REQUEST_TIMEOUT_MS = 10_000;
const RECV_BUFFER = 1 << 20;
/** Multicast groups of route notifications. */
const RTNLGRP_IPV4_ROUTE = 7;
const RTNLGRP_IPV6_ROUTE = 11;
const SEND_BUFFER = 256 << 10;

/** One failed kernel operation. */
export interface LinkConfigFailure {
  op: string;
  code: string | null;
  message: string;
}

/** Thrown by an apply when some operations failed; all others were still carried out. */
export class LinkConfigError extends Error {
  constructor(readonly failures: readonly LinkConfigFailure[]) {
    super(`link-config: ${failures.length} operation(s) failed: ${failures.slice(0, 3).map((f) => `${f.op}: ${f.code ?? f.message}`).join('; ')}`);
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

/** One default route in the lifecycle view. */
export interface GatewayLifecycle {
  key: string;
  family: Family;
  ifindex: number;
  gateway: string | null;
  /** As the kernel reports it (IPv6 metric 0 shows as 1024). */
  metric: number;
  state: GatewayState;
  /** The event that caused the current state. */
  via: LifecycleEvent;
}

/** Options of {@link createLinkConfig}. */
export interface LinkConfigOptions {
  log?: Logger;
  /** Root of the sysctl tree; default `/proc/sys`. */
  sysctlRoot?: string;
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

type Sock = RtNetlinkSocket;

function decodeAddress(m: rt.AddressMessage, proto: number): KernelAddress | null {
  const family: Family | null = m.data.family === 2 ? 4 : m.data.family === 10 ? 6 : null;
  if (!family || m.data.index === undefined) return null;
  // IPv4: IFA_LOCAL is the interface's address (IFA_ADDRESS is the peer on point-to-point links).
  const address = formatAddress(family, family === 4 ? (m.attrs.local ?? m.attrs.address) : m.attrs.address);
  if (address === '') return null;
  return { family, address, prefixLength: m.data.prefixlen ?? 0, ifindex: m.data.index, proto };
}

function describeLinkOp(o: LinkOp): string {
  if (o.op === 'up' || o.op === 'down') return `link set #${o.ifindex} ${o.op}`;
  if (o.op === 'add-addr') return `addr add ${o.addr.address}/${o.addr.prefixLength} dev #${o.ifindex}`;
  return `addr del ${o.addr.address}/${o.addr.prefixLength} dev #${o.addr.ifindex}`;
}

/** Creates the adapter. Requests use a short-lived socket per apply; events a long-lived one. */
export function createLinkConfig(opts: LinkConfigOptions = {}): LinkConfig {
  const log: Logger = opts.log ?? (() => {});
  const sysctlRoot = opts.sysctlRoot ?? '/proc/sys';
  const entries = new Map<string, GatewayLifecycle>();
  const waiters = new Set<{ key: string; done: (ok: boolean) => void }>();
  let events: EventSocket | null = null;
  let stopped = false;
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };
  const opt = (flags: number) => ({ flags, timeout: REQUEST_TIMEOUT_MS });
  const close = (s: Sock): void => {
    try {
      s.socket.close();
    } catch {
      // Already closed.
    }
  };

  function feed(key: string, e: LifecycleEvent, seed?: Omit<GatewayLifecycle, 'state' | 'via' | 'key'>): void {
    let entry = entries.get(key);
    if (!entry) {
      if (!seed) return;
      entry = { key, ...seed, state: 'inactive', via: e };
      entries.set(key, entry);
    }
    const next = nextGatewayState(entry.state, e);
    if (next !== entry.state) {
      log('debug', `link-config: ${key}: ${entry.state} -> ${next} (${e})`);
      entry.state = next;
      entry.via = e;
    }
    if (next === 'active') {
      for (const w of [...waiters]) if (w.key === key) w.done(true);
    }
  }

  function onMessages(msgs: readonly NetlinkMessage[]): void {
    for (const m of msgs) {
      if (m.type !== RTM.NEWROUTE && m.type !== RTM.DELROUTE) continue;
      let r: KernelRoute | null;
      try {
        r = decodeTableRoute(rt.parseMessage(m.type, m.data) as rt.RouteMessage);
      } catch {
        continue;
      }
      if (!r || r.table !== RT_TABLE_MAIN || r.dstLen !== 0 || r.srcLen !== 0) continue;
      // Only routes we track: notifications never create entries.
      feed(kernelDefaultKey(r), m.type === RTM.NEWROUTE ? 'kernel-new' : 'kernel-del');
    }
  }

  /**
   * Route notifications were lost (an overrun) or the socket was replaced: the kernel's word on
   * every default route we track, from a dump.
   */
  async function resyncTracked(): Promise<void> {
    if (entries.size === 0) return;
    const sock = createRtNetlink({ recvBufferSize: RECV_BUFFER, sendBufferSize: SEND_BUFFER });
    try {
      const present = new Set((await dumpRoutes(sock)).map(kernelDefaultKey));
      for (const e of [...entries.values()]) feed(e.key, present.has(e.key) ? 'kernel-present' : 'kernel-absent');
    } catch (err) {
      log('warn', `link-config: re-reading routes after lost notifications failed: ${(err as Error).message}`);
    } finally {
      close(sock);
    }
  }

  async function dumpRoutes(sock: Sock): Promise<KernelRoute[]> {
    const out: KernelRoute[] = [];
    for (const m of await sock.getRoutes(undefined, undefined, { timeout: REQUEST_TIMEOUT_MS })) {
      const r = decodeTableRoute(m);
      if (r && r.table === RT_TABLE_MAIN && r.dstLen === 0) out.push(r);
    }
    return out;
  }

  async function reconcileLinks(desired: readonly DesiredLink[]): Promise<LinkConfigReport> {
    const sock = createRtNetlink({ recvBufferSize: RECV_BUFFER, sendBufferSize: SEND_BUFFER });
    const failures: LinkConfigFailure[] = [];
    let ops = 0;
    try {
      const links: KernelLink[] = [];
      const names = new Map<number, string>();
      for (const l of await sock.getLinks(undefined, undefined, { timeout: REQUEST_TIMEOUT_MS })) {
        if (l.data.index === undefined) continue;
        links.push({ ifindex: l.data.index, up: l.data.flags?.up === true });
        names.set(l.data.index, l.attrs.ifname ?? '');
      }
      const addrs: KernelAddress[] = [];
      // Raw dump: IFA_PROTO is read from the payload (see ifaProtoOf).
      const req = new AttrStream();
      rt.formatAddressMessage({ kind: 'address', data: {}, attrs: {} }, req);
      const [raw] = await sock.socket.request(RTM.GETADDR, req.bufs, { flags: NLM_F_DUMP, timeout: REQUEST_TIMEOUT_MS });
      for (const m of raw) {
        if (m.type !== RTM.NEWADDR) continue;
        const a = decodeAddress(rt.parseMessage(m.type, m.data) as rt.AddressMessage, ifaProtoOf(m.data));
        if (a) addrs.push(a);
      }
      const plan = planLinkConfig(desired, links, addrs);
      for (const p of plan.problems) log('warn', `link-config: ${p}`);
      for (const ifindex of needsPromoteSecondaries(plan.ops, addrs)) {
        const name = names.get(ifindex) ?? '';
        const path = join(sysctlRoot, 'net/ipv4/conf', name, 'promote_secondaries');
        try {
          if (!isSysctlIfname(name)) throw new Error(`unusable interface name ${JSON.stringify(name)}`);
          if ((await readFile(path, 'utf8')).trim() !== '1') {
            ops++;
            await writeFile(path, '1\n');
            log('info', `link-config: ${path} = 1 (a foreign address shares the subnet of one we delete)`);
          }
        } catch (err) {
          failures.push({ op: `write ${path}=1`, code: (err as NodeJS.ErrnoException).code ?? null, message: (err as Error).message });
        }
      }
      for (const o of plan.ops) {
        ops++;
        try {
          if (o.op === 'up' || o.op === 'down') {
            await sock.setLink({ family: 0, index: o.ifindex, flags: o.op === 'up' ? { up: true } : {}, change: { up: true } }, {}, opt(0));
          } else {
            const a = o.addr;
            const ifindex = o.op === 'add-addr' ? o.ifindex : o.addr.ifindex;
            const bytes = addressBytes(a.family, a.address) ?? undefined;
            const data: rt.Address = { family: afOf(a.family), prefixlen: a.prefixLength, index: ifindex, scope: 0 };
            if (o.op === 'add-addr') {
              // IFA_PROTO is unknown to the package (its formatter rejects extra keys): appended raw (u8).
              const msg = new AttrStream();
              rt.formatAddressMessage({ kind: 'address', data, attrs: { local: bytes, address: bytes } }, msg);
              msg.push(IFA_PROTO, Buffer.from([IFAPROT_NETSESSION]));
              await sock.request(RTM.NEWADDR as rt.MessageType, msg.bufs, opt(NLM_F_CREATE | NLM_F_EXCL));
            } else {
              await sock.delAddress(data, { local: bytes, address: bytes }, opt(0));
            }
          }
          log('debug', `link-config: ${describeLinkOp(o)}`);
        } catch (err) {
          const code = netlinkErrorCode(err);
          // Gone already / there already: the goal is reached.
          if ((o.op === 'del-addr' && code === 'EADDRNOTAVAIL') || (o.op === 'add-addr' && code === 'EEXIST')) continue;
          failures.push({ op: describeLinkOp(o), code, message: (err as Error).message });
          log('error', `link-config: ${describeLinkOp(o)} failed: ${(err as Error).message}`);
        }
      }
      if (failures.length > 0) throw new LinkConfigError(failures);
      return { ops, problems: plan.problems, skipped: [] };
    } finally {
      close(sock);
    }
  }

  function seedOf(r: { family: Family; ifindex: number; gateway: string; metric: number }): Omit<GatewayLifecycle, 'state' | 'via' | 'key'> {
    return { family: r.family, ifindex: r.ifindex, gateway: r.gateway === '' ? null : r.gateway, metric: r.metric };
  }

  async function runDefaultOp(sock: Sock, o: DefaultOp, failures: LinkConfigFailure[], skipped: string[]): Promise<void> {
    const what = `${o.op} ${describeRoute(o.route)}`;
    try {
      if (o.op === 'del') {
        feed(o.key, 'del-requested', seedOf(o.route));
        await sock.delRoute(...delRouteRequest(o.route), opt(0));
      } else {
        feed(o.key, 'add-requested', seedOf(o.route));
        const r = o.route;
        const data: rt.Route = {
          family: afOf(r.family),
          dstLen: 0,
          // rtm_table is a u8: the real id goes in RTA_TABLE.
          table: 0,
          protocol: RTPROT_NETSESSION as rt.RouteProtocol,
          scope: r.scope as rt.RouteScope,
          type: RTN_UNICAST as rt.RouteType,
          flags: r.onlink ? { __unknown: RTNH_F_ONLINK } : {},
        };
        // RTA_PRIORITY always sent: an IPv6 0 becomes 1024 in the kernel either way.
        const attrs: rt.RouteAttrs = { table: RT_TABLE_MAIN, oif: r.ifindex, priority: r.metric };
        if (r.gateway) attrs.gateway = addressBytes(r.family, r.gateway) ?? undefined;
        await sock.newRoute(data, attrs, opt(NLM_F_CREATE | (o.op === 'replace' ? NLM_F_REPLACE : NLM_F_EXCL)));
      }
      log('debug', `link-config: ${what}`);
    } catch (err) {
      const code = netlinkErrorCode(err);
      if (o.op === 'del' && (code === 'ESRCH' || code === 'ENOENT')) {
        feed(o.key, 'kernel-absent');
        return;
      }
      feed(o.key, o.op === 'del' ? 'del-failed' : 'add-failed');
      if (o.op !== 'del' && code !== null && NOT_YET_REACHABLE.has(code)) {
        skipped.push(o.key);
        log('warn', `link-config: ${what}: ${code}, next hop not reachable yet; retrying on the next apply`);
        return;
      }
      failures.push({ op: what, code, message: (err as Error).message });
      log('error', `link-config: ${what} failed: ${(err as Error).message}`);
    }
  }

  async function reconcileDefaults(desired: readonly DesiredDefault[], managed: readonly number[]): Promise<LinkConfigReport> {
    const sock = createRtNetlink({ recvBufferSize: RECV_BUFFER, sendBufferSize: SEND_BUFFER });
    const failures: LinkConfigFailure[] = [];
    const skipped: string[] = [];
    try {
      const plan = planMainDefaults(desired, await dumpRoutes(sock), managed);
      for (const p of plan.problems) log('warn', `link-config: ${p}`);
      for (const o of plan.ops) await runDefaultOp(sock, o, failures, skipped);
      // Read back: the dump is the kernel's word on what exists now.
      const own = new Set([...managed, ...desired.map((d) => d.ifindex)]);
      const now = (await dumpRoutes(sock)).filter((r) => isOurDefault(r, own));
      const present = new Set(now.map(kernelDefaultKey));
      for (const r of now) feed(kernelDefaultKey(r), 'kernel-present', plan.desiredKeys.includes(kernelDefaultKey(r)) ? seedOf(r) : undefined);
      for (const e of entries.values()) if (!present.has(e.key) && own.has(e.ifindex)) feed(e.key, 'kernel-absent');
      const missing = plan.desiredKeys.filter((k) => !present.has(k) && !skipped.includes(k));
      if (failures.length === 0 && missing.length > 0) failures.push({ op: 'read-back', code: null, message: `missing after apply: ${missing.join(', ')}` });
      if (failures.length > 0) throw new LinkConfigError(failures);
      return { ops: plan.ops.length, problems: plan.problems, skipped };
    } finally {
      close(sock);
    }
  }

  return {
    async start() {
      if (events) return;
      // Our own socket (event-socket.ts): netlink 0.3.0's aborts the process on an overrun.
      const open = (): Promise<EventSocket> =>
        openEventSocket({
          groups: [RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE],
          rcvbuf: opts.eventRcvbuf ?? RECV_BUFFER,
          onMessages: (msgs) => onMessages(msgs),
          onOverrun: () => {
            log('debug', 'link-config: route notifications overrun (ENOBUFS); re-reading the default routes it tracks');
            void serial(resyncTracked);
          },
          onError: (err) => {
            log('error', `link-config: route notifications: ${err.message}; re-subscribing`);
            events = null;
            void open().then(
              (s) => {
                if (stopped) s.close();
                else events = s;
                return serial(resyncTracked);
              },
              (e: Error) => log('error', `link-config: cannot re-subscribe to route notifications: ${e.message}`),
            );
          },
        });
      stopped = false;
      events = await open();
    },
    stop() {
      stopped = true;
      events?.close();
      events = null;
      for (const w of [...waiters]) w.done(false);
    },
    applyLinkConfig: (desired) => serial(() => reconcileLinks(desired)),
    applyMainDefaults: (desired, managed = []) => serial(() => reconcileDefaults(desired, managed)),
    lifecycle: () => [...entries.values()].map((e) => ({ ...e })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
    waitActive(route, timeoutMs) {
      const gw = route.gateway === null || route.gateway === '' ? null : addressBytes(route.family, route.gateway);
      const key = defaultKey({ ...route, gateway: gw ? formatAddress(route.family, gw) : null });
      if (entries.get(key)?.state === 'active') return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const w = {
          key,
          done: (ok: boolean) => {
            clearTimeout(timer);
            waiters.delete(w);
            resolve(ok);
          },
        };
        const timer = setTimeout(() => w.done(false), timeoutMs);
        waiters.add(w);
      });
    },
  };
}

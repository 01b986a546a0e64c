/**
 * The daemon's {@link LinkSource} over rtnetlink: link-records.ts decodes, link-table.ts folds.
 *
 * Start-up order matters: the event socket joins its multicast groups before anything is
 * dumped, and notifications received while dumping are held and folded after the dump.
 * Every notification carries the whole object (or names a deleted one), so replaying one the
 * dump already reflects is harmless: nothing is lost and nothing is applied out of order.
 *
 * After start, each received datagram is folded and its events are delivered synchronously in
 * the same tick: no debounce, no timers.
 *
 * Lost notifications: when the event socket's receive buffer overflows, the kernel drops
 * notifications and flags ENOBUFS. The event socket (adapters/netlink/event-socket.ts) reports
 * the overrun and stays open, and
 * the source re-dumps everything and delivers the difference. Any other socket error: a new
 * socket, then the same re-dump.
 */

import type { LinkFacts } from '../../core/services.js';
import type { LinkEvent, LinkSource } from '../../ports.js';
import { type EventSocket, openEventSocket } from '../netlink/event-socket.js';
import type { NetlinkMessage } from '../netlink/request-socket.js';
import { type BearerOverride, createBearerDecider, readSysfsHints, type SysfsHints } from './bearer.js';
import { openRtnlClient } from './client.js';
import { decodeAddress, decodeLink, decodeRoute, decodeRtMessage, type RtChange } from './link-records.js';
import { LinkTable } from './link-table.js';
import { RTNLGRP } from './messages/constants.js';

/** Options of {@link createRtnetlinkLinkSource}. */
export interface RtnetlinkLinkSourceOptions {
  /** Per-interface-name bearer overrides; first matching glob wins; `ignore` → not a service. */
  overrides?: BearerOverride[];
  /** Globs like `connmand -i`: when non-empty, only matching links are services. */
  include?: string[];
  /** Globs like `connmand -I`: matching links are never services. */
  ignore?: string[];
  /** Diagnostics (consumer errors: debug; overruns, socket errors: warn). */
  log?: (msg: string, level?: 'debug' | 'warn') => void;
  /** Sysfs reader, replaceable in tests. */
  readSysfs?: (ifname: string) => SysfsHints;
  /** SO_RCVBUF of the event socket (default 8 MiB); tests make it small to force overruns. */
  eventRcvbuf?: number;
}

/** Multicast groups: links, v4/v6 addresses, v4/v6 routes. */
const GROUPS = [RTNLGRP.LINK, RTNLGRP.IPV4_IFADDR, RTNLGRP.IPV6_IFADDR, RTNLGRP.IPV4_ROUTE, RTNLGRP.IPV6_ROUTE];

/**
 * Requested SO_RCVBUF of the event socket: bursts (a VPN pushing a routing table, many links at
 * boot) should fit, because an overrun costs a full re-dump. Root may exceed net.core.rmem_max
 * (SO_RCVBUFFORCE).
 */
const EVENT_RCVBUF = 8 << 20;
/** Overruns are logged at most this often (each one is answered by a re-dump regardless). */
const OVERRUN_LOG_MS = 60_000;
const DUMP_RCVBUF = 1 << 20;
const SOCKET_SNDBUF = 64 << 10;

/** Dumps links, then addresses, then routes, on a socket of its own (closed afterwards). */
async function dumpAll(): Promise<RtChange[]> {
  const client = await openRtnlClient({ rcvbuf: DUMP_RCVBUF, sndbuf: SOCKET_SNDBUF });
  try {
    const changes: RtChange[] = [];
    for (const m of client.dump('link')) {
      const link = m.kind === 'link' ? decodeLink(m) : null;
      if (link) changes.push({ op: 'new-link', link });
    }
    for (const m of client.dump('address')) {
      const address = m.kind === 'address' ? decodeAddress(m) : null;
      if (address) changes.push({ op: 'new-address', address });
    }
    for (const m of client.dump('route')) {
      const route = m.kind === 'route' ? decodeRoute(m) : null;
      if (route) changes.push({ op: 'new-route', route, replace: false });
    }
    return changes;
  } finally {
    client.close();
  }
}

/** Creates the rtnetlink link source. Nothing is opened until `start`. */
export function createRtnetlinkLinkSource(opts: RtnetlinkLinkSourceOptions = {}): LinkSource {
  const log = opts.log ?? (() => {});
  const table = new LinkTable(
    createBearerDecider(
      { overrides: opts.overrides ?? [], include: opts.include ?? [], ignore: opts.ignore ?? [] },
      opts.readSysfs ?? readSysfsHints,
    ),
  );
  let events: EventSocket | null = null;
  let overrunsUnlogged = 0;
  let overrunLoggedAt = -Infinity;
  let deliver: ((e: LinkEvent) => void) | null = null;
  /** Notifications held back while a dump runs; null when folding live. */
  let held: NetlinkMessage[] | null = null;
  /** A dump is running (initial or re-dump); a socket error meanwhile asks for another one. */
  let loading = false;
  let reloadAgain = false;
  let stopped = false;
  let started = false;

  function fold(msgs: readonly NetlinkMessage[]): void {
    for (const m of msgs) {
      const change = decodeRtMessage(m.type, m.flags, m.payload);
      if (change) table.apply(change);
    }
  }

  function emit(): void {
    if (!deliver) return;
    for (const e of table.flush()) {
      try {
        deliver(e);
      } catch (err) {
        // A throwing consumer must not stop the watch or lose the following events.
        log(`rtnetlink: link event handler threw: ${String(err)}`);
      }
    }
  }

  function onMessages(msgs: NetlinkMessage[]): void {
    if (stopped) return;
    if (held) {
      held.push(...msgs);
      return;
    }
    fold(msgs);
    emit();
  }

  async function openEvents(): Promise<EventSocket> {
    const sock: EventSocket = await openEventSocket({
      groups: GROUPS,
      rcvbuf: opts.eventRcvbuf ?? EVENT_RCVBUF,
      onMessages: (msgs) => {
        if (sock === events) onMessages(msgs);
      },
      onOverrun: () => {
        if (sock === events) onOverrun();
      },
      onError: (err) => {
        if (sock === events) void onSocketError(err);
      },
    });
    return sock;
  }

  /** Notifications were lost: the socket is fine; read everything again. */
  function onOverrun(): void {
    if (stopped) return;
    overrunsUnlogged++;
    const now = Date.now();
    if (now - overrunLoggedAt >= OVERRUN_LOG_MS) {
      log(
        `rtnetlink: ${overrunsUnlogged} event overrun(s) (ENOBUFS: notifications lost); re-reading links, addresses and routes`,
        'warn',
      );
      overrunsUnlogged = 0;
      overrunLoggedAt = now;
    }
    if (loading) reloadAgain = true;
    else void resync();
  }

  /** Dump, then replay what arrived meanwhile. */
  async function load(): Promise<void> {
    held = [];
    try {
      const dump = await dumpAll();
      if (stopped) return;
      for (const c of dump) table.apply(c);
      fold(held);
    } finally {
      held = null;
    }
  }

  /** Forgets the kernel state and loads until a load completes with no socket error during it. */
  async function loadUntilConsistent(): Promise<void> {
    loading = true;
    try {
      do {
        reloadAgain = false;
        table.reset();
        await load();
      } while (reloadAgain && !stopped);
    } finally {
      loading = false;
    }
  }

  async function resync(): Promise<void> {
    try {
      await loadUntilConsistent();
      if (!stopped) emit();
    } catch (err) {
      log(`rtnetlink: re-dump failed: ${String(err)}`, 'warn');
    }
  }

  /**
   * Any error on the event socket may have lost notifications (ENOBUFS) or closed the socket
   * (it is closed after any error but an overrun): subscribe on a fresh socket, then re-dump.
   */
  async function onSocketError(err: unknown): Promise<void> {
    if (stopped) return;
    log(`rtnetlink: event socket error, re-subscribing and re-reading: ${String((err as Error)?.message ?? err)}`);
    const old = events;
    events = null;
    old?.close();
    try {
      const fresh = await openEvents();
      if (stopped) return fresh.close();
      events = fresh;
    } catch (openErr) {
      log(`rtnetlink: cannot reopen the event socket: ${String(openErr)}`, 'warn');
      return;
    }
    if (loading) reloadAgain = true;
    else void resync();
  }

  return {
    async start(onEvent) {
      if (started) throw new Error('rtnetlink link source already started');
      if (stopped) throw new Error('rtnetlink link source was stopped');
      started = true;
      try {
        events = await openEvents();
        await loadUntilConsistent();
      } catch (err) {
        stopped = true;
        events?.close();
        events = null;
        throw err;
      }
      if (stopped) throw new Error('rtnetlink link source stopped during start');
      const initial: LinkFacts[] = table.commit();
      deliver = onEvent;
      return initial;
    },

    async stop() {
      if (stopped) return;
      stopped = true;
      deliver = null;
      const sock = events;
      events = null;
      sock?.close();
    },
  };
}

/**
 * The daemon's {@link LinkSource} over rtnetlink (`netlink` 0.3.0).
 *
 * Start-up order matters: the event socket joins its multicast groups before anything is
 * dumped, and notifications received while dumping are held and folded after the dump.
 * Every notification carries the whole object (or names a deleted one), so replaying one the
 * dump already reflects is harmless: nothing is lost and nothing is applied out of order.
 *
 * After start, each received datagram is folded and its events are delivered synchronously in
 * the same tick: no debounce, no timers.
 *
 * Lost notifications: when the socket's receive buffer overflows the kernel flags ENOBUFS on it.
 * netlink 0.3.0 cannot survive that — libuv reports the socket error as a poll error and the
 * addon aborts the process (it builds its error with a NULL syscall name). So the receive buffer
 * is made as large as the system allows (a warning is logged when it stays small), and should a
 * fixed addon report a socket error instead, the source opens a new socket and re-dumps.
 */
import { createRtNetlink, rt, type RtNetlinkSocket, type NetlinkMessage } from 'netlink';
import type { LinkEvent, LinkFacts, LinkSource } from '../../ports.js';
import { createBearerDecider, readSysfsHints, type BearerOverride, type SysfsHints } from './bearer.js';
import { LinkTable, decodeLink, decodeAddress, decodeRoute, decodeRtMessage, type RtChange } from './facts.js';

/** Options of {@link createRtnetlinkLinkSource}. */
export interface RtnetlinkLinkSourceOptions {
  /** Per-interface-name bearer overrides; first matching glob wins; `ignore` → not a service. */
  overrides?: BearerOverride[];
  /** Globs like `connmand -i`: when non-empty, only matching links are services. */
  include?: string[];
  /** Globs like `connmand -I`: matching links are never services. */
  ignore?: string[];
  /** Diagnostics (small receive buffer, socket errors, undecodable messages, consumer errors). */
  log?: (msg: string) => void;
  /** Sysfs reader, replaceable in tests. */
  readSysfs?: (ifname: string) => SysfsHints;
}

/** Multicast groups: links, v4/v6 addresses, v4/v6 routes. */
const GROUPS = ['LINK', 'IPV4_IFADDR', 'IPV6_IFADDR', 'IPV4_ROUTE', 'IPV6_ROUTE'] as const;

/**
 * Requested SO_RCVBUF of the event socket. Bursts (a VPN pushing a routing table, many links
 * at boot) must fit, because an overflow is fatal with this addon (see the module comment).
 * The kernel caps it at net.core.rmem_max (and doubles it for bookkeeping).
 */
const EVENT_RCVBUF = 8 << 20;
/** Below this (as reported back), an overflow is plausible: say so once. */
const EVENT_RCVBUF_WARN = 1 << 20;
const DUMP_RCVBUF = 1 << 20;
const SOCKET_SNDBUF = 64 << 10;

/** Dumps links, then addresses, then routes, on a socket of its own (closed afterwards). */
async function dumpAll(): Promise<RtChange[]> {
  const sock = createRtNetlink({ recvBufferSize: DUMP_RCVBUF, sendBufferSize: SOCKET_SNDBUF });
  try {
    const changes: RtChange[] = [];
    for (const m of await sock.getLinks()) {
      const link = decodeLink(m);
      if (link) changes.push({ op: 'new-link', link });
    }
    for (const m of await sock.getAddresses()) {
      const address = decodeAddress(m);
      if (address) changes.push({ op: 'new-address', address });
    }
    for (const m of await sock.getRoutes()) {
      const route = decodeRoute(m);
      if (route) changes.push({ op: 'new-route', route, replace: false });
    }
    return changes;
  } finally {
    sock.socket.close();
  }
}

function closeQuietly(sock: RtNetlinkSocket | null): void {
  try {
    sock?.socket.close();
  } catch {
    // Already closed by the addon after a socket error.
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
  let events: RtNetlinkSocket | null = null;
  let deliver: ((e: LinkEvent) => void) | null = null;
  /** Notifications held back while a dump runs; null when folding live. */
  let held: NetlinkMessage[] | null = null;
  /** A dump is running (initial or re-dump); a socket error meanwhile asks for another one. */
  let loading = false;
  let reloadAgain = false;
  let warnedSmallBuffer = false;
  let stopped = false;
  let started = false;

  function fold(msgs: readonly NetlinkMessage[]): void {
    for (const m of msgs) {
      let change: RtChange | null;
      try {
        change = decodeRtMessage(m.type, m.flags, rt.parseMessage(m.type, m.data));
      } catch (err) {
        log(`rtnetlink: cannot decode message type ${m.type}: ${String(err)}`);
        continue;
      }
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

  function openEvents(): RtNetlinkSocket {
    // ref: keep the daemon alive while it watches; the package unrefs sockets by default.
    const sock = createRtNetlink({ ref: true, recvBufferSize: EVENT_RCVBUF, sendBufferSize: SOCKET_SNDBUF });
    // The high-level 'message' event drops nlmsg_type (NEW vs DEL) and flags: listen below it.
    sock.socket.on('message', (msgs) => {
      if (sock === events) onMessages(msgs);
    });
    sock.socket.on('error', (err) => {
      if (sock === events) onSocketError(err);
    });
    sock.socket.on('invalid', (err) => log(`rtnetlink: invalid datagram: ${String(err)}`));
    for (const g of GROUPS) sock.addMembership(g);
    const got = sock.socket.getRecvBufferSize();
    if (got < EVENT_RCVBUF_WARN && !warnedSmallBuffer) {
      warnedSmallBuffer = true;
      log(
        `rtnetlink: event socket receive buffer is only ${got} bytes (net.core.rmem_max caps it); ` +
          'a notification burst that overflows it aborts the process with netlink 0.3.0',
      );
    }
    return sock;
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
      log(`rtnetlink: re-dump failed: ${String(err)}`);
    }
  }

  /**
   * Any error on the event socket may have lost notifications (ENOBUFS) or closed the socket
   * (the addon closes it after a poll error): subscribe on a fresh socket, then re-dump.
   */
  function onSocketError(err: unknown): void {
    if (stopped) return;
    log(`rtnetlink: event socket error, re-subscribing and re-reading: ${String((err as Error)?.message ?? err)}`);
    const old = events;
    try {
      events = openEvents();
    } catch (openErr) {
      events = null;
      log(`rtnetlink: cannot reopen the event socket: ${String(openErr)}`);
    }
    closeQuietly(old);
    if (!events) return;
    if (loading) reloadAgain = true;
    else void resync();
  }

  return {
    async start(onEvent) {
      if (started) throw new Error('rtnetlink link source already started');
      if (stopped) throw new Error('rtnetlink link source was stopped');
      started = true;
      try {
        events = openEvents();
        await loadUntilConsistent();
      } catch (err) {
        stopped = true;
        closeQuietly(events);
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
      closeQuietly(sock);
    },
  };
}

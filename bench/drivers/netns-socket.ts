/**
 * rtnetlink sockets opened inside a named network namespace (the daemon's own request and event
 * sockets, daemon/adapters/rtnetlink/client.ts and daemon/adapters/netlink/event-socket.ts), and
 * links set up/down with one
 * RTM_NEWLINK on such a socket: no `ip` process in a timed path (one `ip` spawn costs 3–8 ms,
 * more than the latencies measured). A socket stays in the namespace it was created in, so the
 * calling thread moves there with setns(2) for the moment of socket() and straight back. Node
 * cannot setns by itself; koffi (already a dependency) calls libc. Only the main thread moves,
 * and only into one of the sandbox's own namespaces.
 */
import { closeSync, openSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { type EventSocket, openEventSocket } from '../../daemon/adapters/netlink/event-socket.js';
import type { NetlinkMessage } from '../../daemon/adapters/netlink/request-socket.js';
import { openRtnlClient, type RtnlClient } from '../../daemon/adapters/rtnetlink/client.js';
import { decodeLink } from '../../daemon/adapters/rtnetlink/link-records.js';
import { IFF, RTM } from '../../daemon/adapters/rtnetlink/messages/constants.js';

const CLONE_NEWNET = 0x40000000;

type SetNs = (fd: number, nstype: number) => number;

let libc: Promise<{ setns: SetNs; errno: () => number }> | undefined;

function loadSetns(): Promise<{ setns: SetNs; errno: () => number }> {
  libc ??= (async () => {
    const { default: koffi } = await import('koffi');
    const lib = koffi.load('libc.so.6');
    const fn = lib.func('int setns(int, int)');
    return { setns: (fd: number, t: number) => fn(fd, t) as number, errno: () => koffi.errno() };
  })();
  return libc;
}

/**
 * Runs `open` with this thread inside named namespace `ns`, then moves back. `open` may await
 * (the socket openers load libc first, once): the thread stays in `ns` until it settles, so
 * nothing else may open sockets meanwhile (the benches open theirs one at a time).
 */
export async function inNamespace<T>(ns: string, open: () => T | Promise<T>): Promise<T> {
  const { setns, errno } = await loadSetns();
  const home = openSync('/proc/thread-self/ns/net', 'r');
  const target = openSync(`/run/netns/${ns}`, 'r');
  try {
    if (setns(target, CLONE_NEWNET) !== 0) throw new Error(`setns(${ns}) failed: errno ${errno()}`);
    try {
      return await open();
    } finally {
      if (setns(home, CLONE_NEWNET) !== 0) {
        // Staying in the sandbox's namespace would make every later step lie: give up loudly.
        process.stderr.write(`cannot return to the home network namespace: errno ${errno()}\n`);
        process.exit(3);
      }
    }
  } finally {
    closeSync(home);
    closeSync(target);
  }
}

/** Opens an rtnetlink request socket inside named namespace `ns`. */
export function socketInNamespace(ns: string): Promise<RtnlClient> {
  return inNamespace(ns, () => openRtnlClient());
}

/** Opens an rtnetlink event socket joined to `groups` (RTNLGRP_*), in named namespace `ns` or here. */
export function eventsIn(
  ns: string | null,
  groups: readonly number[],
  onMessages: (msgs: NetlinkMessage[]) => void,
): Promise<EventSocket> {
  const open = () => openEventSocket({ groups, onMessages, onOverrun: () => undefined, onError: () => undefined });
  return ns === null ? open() : inNamespace(ns, open);
}

/** A link that can be set down/up with one RTM_NEWLINK on a pre-opened socket. */
export class NlLink {
  constructor(
    readonly client: RtnlClient,
    readonly index: number,
  ) {}

  static open(client: RtnlClient, ifname: string): NlLink {
    for (const m of client.dump('link')) {
      const l = m.kind === 'link' ? decodeLink(m) : null;
      if (l?.name === ifname) return new NlLink(client, l.ifindex);
    }
    throw new Error(`no link ${ifname}`);
  }

  /** Sets IFF_UP; returns the send time and the ACK delay. */
  async set(up: boolean): Promise<{ t0: number; ack: number }> {
    const t0 = performance.now();
    const [err] = this.client.request([
      {
        type: RTM.NEWLINK,
        flags: 0,
        msg: {
          kind: 'link',
          family: 0,
          type: 0,
          index: this.index,
          flags: up ? IFF.UP : 0,
          change: IFF.UP,
          attrs: new Map(),
        },
      },
    ]);
    if (err) throw err;
    return { t0, ack: performance.now() - t0 };
  }
}

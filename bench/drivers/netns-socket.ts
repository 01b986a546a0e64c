/**
 * rtnetlink sockets opened inside a named network namespace, and links set up/down with one
 * RTM_NEWLINK on such a socket: no `ip` process in a timed path (one `ip` spawn costs 3–8 ms,
 * more than the latencies measured). A socket stays in the namespace it was created in, so the
 * calling thread moves there with setns(2) for the moment of socket() and straight back. Node
 * cannot setns by itself; koffi (already a dependency) calls libc. Only the main thread moves,
 * and only into one of the sandbox's own namespaces.
 */
import { closeSync, openSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createRtNetlink, type RtNetlinkSocket } from 'netlink';

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

/** Runs `open` (synchronous) with this thread inside named namespace `ns`, then moves back. */
export async function inNamespace<T>(ns: string, open: () => T): Promise<T> {
  const { setns, errno } = await loadSetns();
  const home = openSync('/proc/thread-self/ns/net', 'r');
  const target = openSync(`/run/netns/${ns}`, 'r');
  try {
    if (setns(target, CLONE_NEWNET) !== 0) throw new Error(`setns(${ns}) failed: errno ${errno()}`);
    try {
      return open();
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

/** Opens an rtnetlink socket inside named namespace `ns`. */
export function socketInNamespace(ns: string): Promise<RtNetlinkSocket> {
  // socket() and bind() run synchronously here, so the socket belongs to `ns`.
  return inNamespace(ns, () => createRtNetlink());
}

/** A link that can be set down/up with one RTM_NEWLINK on a pre-opened socket. */
export class NlLink {
  constructor(
    readonly sock: RtNetlinkSocket,
    readonly index: number,
  ) {}

  static async open(sock: RtNetlinkSocket, ifname: string): Promise<NlLink> {
    const links = await sock.getLinks();
    const l = links.find((m) => m.attrs.ifname === ifname);
    if (!l?.data.index) throw new Error(`no link ${ifname}`);
    return new NlLink(sock, l.data.index);
  }

  /** Sets IFF_UP; returns the send time and the ACK delay. */
  async set(up: boolean): Promise<{ t0: number; ack: number }> {
    const t0 = performance.now();
    await this.sock.newLink({ index: this.index, flags: up ? { up: true } : {}, change: { up: true } });
    return { t0, ack: performance.now() - t0 };
  }
}

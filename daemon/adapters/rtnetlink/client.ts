/**
 * rtnetlink requests and dumps on the daemon's own synchronous netlink socket
 * (../netlink/request-socket.ts, libc through koffi): the codec is messages/, this is only the
 * exchange.
 *
 * - A dump is one GET with NLM_F_DUMP; its parts are drained until NLMSG_DONE. A part flagged
 *   NLM_F_DUMP_INTR means the table changed while the kernel walked it, so the answer may be
 *   inconsistent: the dump is repeated (at most {@link DUMP_ATTEMPTS} times).
 * - Write requests are sent with NLM_F_ACK, several in one datagram (the kernel handles the
 *   messages of a datagram one after the other and answers each, a failure not stopping the
 *   rest), and every request gets its own outcome: null or an {@link RtnlError}.
 */

import { memoByObject } from '../../core/object-memo.js';
import { errnoName } from '../netlink/libc.js';
import {
  type NetlinkMessage,
  NLMSG_DONE,
  NLMSG_ERROR,
  openRequestSocket,
  parseAck,
  type RequestSocket,
} from '../netlink/request-socket.js';
import { decodeMessage, emptyMessage, encodeMessage, frame, type RtKind, type RtMessage } from './messages/codec.js';
import { NETLINK_ROUTE, NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, RTM } from './messages/constants.js';

/** A dump interrupted this often in a row is reported as an error (someone rewrites the table nonstop). */
const DUMP_ATTEMPTS = 5;

const GET: Readonly<Record<RtKind, number>> = {
  link: RTM.GETLINK,
  address: RTM.GETADDR,
  route: RTM.GETROUTE,
  rule: RTM.GETRULE,
};

/** The kernel refused a request: `code` is the errno name (`EEXIST`, `ESRCH`, ...). */
export class RtnlError extends Error {
  constructor(
    readonly code: string,
    /** The kernel's extended-ACK text, when it gave one. */
    readonly detail?: string,
  ) {
    super(`Request rejected: ${code}${detail ? ` (${detail})` : ''}`);
    this.name = 'RtnlError';
  }
}

/** The errno name of a failed request or socket call (RtnlError, NetlinkSocketError), else null. */
export function errorCode(err: unknown): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : null;
}

/** One write request: message type, NLM_F_* flags beyond REQUEST|ACK, and the message. */
export interface RtRequest {
  type: number;
  flags: number;
  msg: RtMessage;
}

/** What the adapters need of an rtnetlink socket (a fake kernel stands in for it in unit tests). */
export interface RtnlClient {
  /** Every object of `kind` (all families). @throws RtnlError, NetlinkSocketError. */
  dump(kind: RtKind): RtMessage[];
  /** Sends `reqs` and returns each one's outcome, in order. @throws NetlinkSocketError when the socket fails. */
  request(reqs: readonly RtRequest[]): Array<RtnlError | null>;
  close(): void;
}

/** Socket sizes of one client. */
export interface RtnlClientOptions {
  rcvbuf?: number;
  sndbuf?: number;
  timeoutMs?: number;
}

/**
 * One datagram of a dump is at most 32 KiB (the kernel sizes dump parts by the largest receive
 * it has seen, capped there); twice that leaves room for a kernel that grows it.
 */
const RECV_BUFFER_BYTES = 64 << 10;

/** Opens an rtnetlink request socket. @throws NetlinkSocketError. */
export async function openRtnlClient(opts: RtnlClientOptions = {}): Promise<RtnlClient> {
  return new SocketClient(await openRequestSocket(NETLINK_ROUTE, { ...opts, recvBufferBytes: RECV_BUFFER_BYTES }));
}

/** The part of a request socket the client uses (a scripted kernel stands in for it in unit tests). */
export type ExchangeSocket = Pick<RequestSocket, 'nextSeq' | 'exchange' | 'close'>;

/** Encoded rule messages by message: routing-ops.ts hands back the same request for a recurring rule. */
const ruleBody = memoByObject(encodeMessage);

function bodyOf(msg: RtMessage): Buffer {
  return msg.kind === 'rule' ? ruleBody(msg) : encodeMessage(msg);
}

/** @internal An {@link RtnlClient} on an open socket (exported for tests). */
export class SocketClient implements RtnlClient {
  constructor(private readonly sock: ExchangeSocket) {}

  dump(kind: RtKind): RtMessage[] {
    const body = encodeMessage(emptyMessage(kind));
    for (let attempt = 1; ; attempt++) {
      const seq = this.sock.nextSeq();
      const replies = this.sock.exchange(
        frame(GET[kind], NLM_F_REQUEST | NLM_F_DUMP, seq, body),
        (m) => m.seq === seq && (m.type === NLMSG_DONE || m.type === NLMSG_ERROR),
      );
      const out: RtMessage[] = [];
      let interrupted = false;
      for (const m of replies) {
        if (m.seq !== seq) continue;
        if ((m.flags & NLM_F_DUMP_INTR) !== 0) interrupted = true;
        if (m.type === NLMSG_ERROR) throw ackError(m) ?? new RtnlError('EPROTO', 'acknowledged dump');
        if (m.type === NLMSG_DONE) {
          // NLMSG_DONE carries the dump's error code (0 when it went through).
          const err = m.payload.length >= 4 ? -m.payload.readInt32LE(0) : 0;
          if (err > 0) throw new RtnlError(errnoName(err));
          continue;
        }
        const msg = decodeMessage(m.type, m.payload);
        if (msg) out.push(msg);
      }
      if (!interrupted) return out;
      if (attempt >= DUMP_ATTEMPTS) throw new RtnlError('EINTR', `dump interrupted ${DUMP_ATTEMPTS} times in a row`);
    }
  }

  request(reqs: readonly RtRequest[]): Array<RtnlError | null> {
    if (reqs.length === 0) return [];
    const seqs = reqs.map(() => this.sock.nextSeq());
    const index = new Map(seqs.map((s, i) => [s, i]));
    const out: Array<RtnlError | null | undefined> = reqs.map(() => undefined);
    let pending = reqs.length;
    const datagram = Buffer.concat(
      reqs.map((r, i) => frame(r.type, NLM_F_REQUEST | NLM_F_ACK | r.flags, seqs[i]!, bodyOf(r.msg))),
    );
    this.sock.exchange(datagram, (m) => {
      const i = index.get(m.seq);
      if (m.type !== NLMSG_ERROR || i === undefined || out[i] !== undefined) return false;
      out[i] = ackError(m);
      return --pending === 0;
    });
    return out.map((o) => o ?? null);
  }

  close(): void {
    this.sock.close();
  }
}

/** The error of an NLMSG_ERROR, null for an ACK. */
function ackError(m: NetlinkMessage): RtnlError | null {
  const ack = parseAck(m);
  return ack.error === 0 ? null : new RtnlError(errnoName(ack.error), ack.message);
}

/**
 * RequestSocket's bookkeeping of stale replies, over a scripted libc (the real socket is
 * test/integration/netlink-socket.test.ts): an exchange that ended normally leaves nothing to
 * drain, so the next one sends at once; a fresh socket and an exchange that failed make the next
 * one drain first, so a late reply is never taken for the answer to a new request.
 */
import { describe, expect, it } from 'vitest';
import type { Libc } from '../../../../daemon/adapters/netlink/libc.js';
import { type NetlinkMessage, RequestSocket } from '../../../../daemon/adapters/netlink/request-socket.js';

const NLMSG_ERROR = 2;
const EAGAIN = 11;

/** An ACK (NLMSG_ERROR, error 0) for `seq`. */
function ack(seq: number): Buffer {
  const b = Buffer.alloc(36);
  b.writeUInt32LE(36, 0);
  b.writeUInt16LE(NLMSG_ERROR, 4);
  b.writeUInt32LE(seq, 8);
  return b;
}

/** A kernel that answers each request's sequence number with an ACK, unless told to stay silent. */
function scripted() {
  const queue: Buffer[] = [];
  const calls: string[] = [];
  let silent = false;
  let errno = 0;
  const libc = {
    send(_fd: number, buf: Buffer): number {
      calls.push('send');
      if (!silent) queue.push(ack(buf.readUInt32LE(8)));
      return buf.length;
    },
    recv(_fd: number, buf: Buffer): number {
      const d = queue.shift();
      calls.push(d ? 'recv' : 'recv EAGAIN');
      if (!d) {
        errno = EAGAIN;
        return -1;
      }
      d.copy(buf);
      return d.length;
    },
    errno: () => errno,
    close: () => 0,
  } as unknown as Libc;
  return {
    libc,
    calls,
    queue,
    silence(on: boolean) {
      silent = on;
    },
  };
}

function request(seq: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(16, 0);
  b.writeUInt32LE(seq, 8);
  return b;
}

const acked = (seq: number) => (m: NetlinkMessage) => m.type === NLMSG_ERROR && m.seq === seq;

describe('RequestSocket', () => {
  it('drains before the first exchange and after a failed one, not after one that ended normally', () => {
    const k = scripted();
    k.queue.push(ack(7)); // left by someone before us
    const sock = new RequestSocket(k.libc, 3, 1 << 16);
    expect(sock.exchange(request(1), acked(1)).map((m) => m.seq)).toEqual([1]);
    expect(k.calls).toEqual(['recv', 'recv EAGAIN', 'send', 'recv']);

    k.calls.length = 0;
    expect(sock.exchange(request(2), acked(2)).map((m) => m.seq)).toEqual([2]);
    expect(k.calls).toEqual(['send', 'recv']);

    // No answer: the exchange times out; the late answer must not pass for the next one's.
    k.calls.length = 0;
    k.silence(true);
    expect(() => sock.exchange(request(3), acked(3))).toThrow(/ETIMEDOUT/);
    k.silence(false);
    k.queue.push(ack(3));
    expect(sock.exchange(request(4), acked(4)).map((m) => m.seq)).toEqual([4]);
    expect(k.calls.slice(-4)).toEqual(['recv', 'recv EAGAIN', 'send', 'recv']);
  });
});

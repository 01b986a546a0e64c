import { describe, expect, it } from 'vitest';
import { type NetlinkMessage, NLMSG_DONE, NLMSG_ERROR } from '../../../../../daemon/adapters/netlink/request-socket.js';
import { type ExchangeSocket, RtnlError, SocketClient } from '../../../../../daemon/adapters/rtnetlink/client.js';
import {
  emptyMessage,
  encodeMessage,
  type RtMessage,
} from '../../../../../daemon/adapters/rtnetlink/messages/codec.js';
import {
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_MULTI,
  NLM_F_REQUEST,
  RTM,
} from '../../../../../daemon/adapters/rtnetlink/messages/constants.js';

const NLM_F_ACK_TLVS = 0x200;
const NLM_F_CAPPED = 0x100;

/** A scripted kernel: `answer` maps each request datagram to the messages the kernel queues. */
class ScriptedSocket implements ExchangeSocket {
  sent: Buffer[] = [];
  #seq = 100;
  constructor(readonly answer: (req: Buffer, call: number) => NetlinkMessage[]) {}
  nextSeq(): number {
    return ++this.#seq;
  }
  exchange(request: Buffer, done: (m: NetlinkMessage) => boolean): NetlinkMessage[] {
    this.sent.push(request);
    const out: NetlinkMessage[] = [];
    for (const m of this.answer(request, this.sent.length)) {
      out.push(m);
      if (done(m)) return out;
    }
    throw new Error('the client waited for more than the kernel sent');
  }
  close(): void {}
}

const seqOf = (req: Buffer, at = 0) => req.readUInt32LE(at + 8);
const link = (index: number): RtMessage => ({ ...emptyMessage('link'), index }) as RtMessage;
const part = (seq: number, index: number, flags = NLM_F_MULTI): NetlinkMessage => ({
  type: RTM.NEWLINK,
  flags,
  seq,
  payload: encodeMessage(link(index)),
});
const done = (seq: number, flags = NLM_F_MULTI): NetlinkMessage => ({
  type: NLMSG_DONE,
  flags,
  seq,
  payload: Buffer.alloc(4),
});
/** An NLMSG_ERROR with CAP_ACK (header only echoed) and, when given, an extended-ACK message. */
function ack(seq: number, errno: number, text?: string): NetlinkMessage {
  const head = Buffer.alloc(20);
  head.writeInt32LE(-errno, 0);
  head.writeUInt32LE(16, 4);
  if (!text) return { type: NLMSG_ERROR, flags: NLM_F_CAPPED, seq, payload: head };
  const s = Buffer.from(`${text}\0`);
  const tlv = Buffer.alloc((4 + s.length + 3) & ~3);
  tlv.writeUInt16LE(4 + s.length, 0);
  tlv.writeUInt16LE(1, 2);
  s.copy(tlv, 4);
  return { type: NLMSG_ERROR, flags: NLM_F_CAPPED | NLM_F_ACK_TLVS, seq, payload: Buffer.concat([head, tlv]) };
}

describe('rtnetlink client', () => {
  it('dumps with one GET and drains the parts until NLMSG_DONE', () => {
    const sock = new ScriptedSocket((req) => [part(seqOf(req), 1), part(seqOf(req), 2), done(seqOf(req))]);
    const got = new SocketClient(sock).dump('link');
    expect(got.map((m) => (m.kind === 'link' ? m.index : -1))).toEqual([1, 2]);
    expect(sock.sent).toHaveLength(1);
    expect(sock.sent[0]!.readUInt16LE(4)).toBe(RTM.GETLINK);
    expect(sock.sent[0]!.readUInt16LE(6)).toBe(NLM_F_REQUEST | NLM_F_DUMP);
  });

  it('dumps again when a part says the table changed meanwhile (NLM_F_DUMP_INTR)', () => {
    const sock = new ScriptedSocket((req, call) =>
      call === 1
        ? [part(seqOf(req), 1, NLM_F_MULTI | NLM_F_DUMP_INTR), done(seqOf(req), NLM_F_MULTI | NLM_F_DUMP_INTR)]
        : [part(seqOf(req), 1), part(seqOf(req), 5), done(seqOf(req))],
    );
    const got = new SocketClient(sock).dump('link');
    expect(sock.sent).toHaveLength(2);
    expect(got.map((m) => (m.kind === 'link' ? m.index : -1))).toEqual([1, 5]);
  });

  it('gives up after five interrupted dumps in a row, and reports a dump the kernel refused', () => {
    const busy = new ScriptedSocket((req) => [part(seqOf(req), 1, NLM_F_MULTI | NLM_F_DUMP_INTR), done(seqOf(req))]);
    expect(() => new SocketClient(busy).dump('route')).toThrow(/Request rejected: EINTR/);
    expect(busy.sent).toHaveLength(5);
    const refused = new ScriptedSocket((req) => [ack(seqOf(req), 1 /* EPERM */)]);
    expect(() => new SocketClient(refused).dump('rule')).toThrow(RtnlError);
  });

  it('sends write requests in one datagram, each with ACK, and maps each answer to its request', () => {
    const sock = new ScriptedSocket((req) => {
      const seqs = [0, 1, 2].map((i) => seqOf(req, i * 32));
      // Answers out of order, with the kernel's text on the failure.
      return [ack(seqs[1]!, 17 /* EEXIST */, 'File exists'), ack(seqs[0]!, 0), ack(seqs[2]!, 101 /* ENETUNREACH */)];
    });
    const reqs = [1, 2, 3].map((i) => ({ type: RTM.SETLINK, flags: 0, msg: link(i) }));
    const out = new SocketClient(sock).request(reqs);
    expect(sock.sent).toHaveLength(1);
    expect(sock.sent[0]!.length).toBe(3 * 32);
    expect(sock.sent[0]!.readUInt16LE(6)).toBe(NLM_F_REQUEST | NLM_F_ACK);
    expect(out.map((e) => e?.code ?? null)).toEqual([null, 'EEXIST', 'ENETUNREACH']);
    expect(out[1]!.message).toBe('Request rejected: EEXIST (File exists)');
    expect(new SocketClient(sock).request([])).toEqual([]);
  });
});

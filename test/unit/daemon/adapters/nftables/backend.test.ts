import { describe, expect, it } from 'vitest';
import {
  type NetlinkMessage,
  NetlinkOverrunError,
  parseMessages,
} from '../../../../../daemon/adapters/netlink/request-socket.js';
import { createNftablesBackend } from '../../../../../daemon/adapters/nftables/backend.js';
import type { NetlinkTransport } from '../../../../../daemon/adapters/nftables/netlink-client.js';
import * as nl from '../../../../../daemon/adapters/nftables/netlink-encode.js';
import type { NftRunner } from '../../../../../daemon/adapters/nftables/nft.js';
import { NftError } from '../../../../../daemon/adapters/nftables/nft.js';
import type { FirewallState } from '../../../../../daemon/core/kernel-state-types.js';

const ENOENT = () =>
  new NftError(
    'nft: Could not process rule: No such file or directory',
    'Error: Could not process rule: No such file or directory',
    1,
  );

/** Records every call; the table is absent until `listing` is set; scripts fail while `failures` > 0. */
class FakeNft implements NftRunner {
  listing: string | null = null;
  counters = '{"nftables":[]}';
  failures = 0;
  calls: string[] = [];
  inFlight = 0;
  maxInFlight = 0;

  async run(args: readonly string[]): Promise<string> {
    this.calls.push(`run ${args.join(' ')}`);
    if (args.includes('counters')) {
      if (this.listing === null) throw ENOENT();
      return this.counters;
    }
    if (this.listing === null) throw ENOENT();
    return this.listing;
  }

  async script(text: string): Promise<void> {
    this.calls.push(`script ${text}`);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setTimeout(r, 2));
    this.inFlight--;
    if (this.failures > 0) {
      this.failures--;
      throw ENOENT();
    }
  }
}

const EMPTY_LISTING = '{"nftables":[{"table":{"family":"inet","name":"netsession","handle":1}}]}';

function state(mark = 0x20000): FirewallState {
  return {
    mask: 0x0fff0000,
    tagMask: 0xffff,
    sessions: [{ sessionKey: 's1', mark, tag: 1, ifname: 'eth-b', snat: [{ family: 4, address: '198.51.100.18' }] }],
    classifiers: [{ kind: 'uid', key: '1001', sessionKey: 's1' }],
  };
}

function setup() {
  const nft = new FakeNft();
  const logs: string[] = [];
  const fw = createNftablesBackend({
    runner: nft,
    cgroupResolver: () => () => null,
    log: (l, m) => logs.push(`${l} ${m}`),
  });
  return { nft, fw, logs };
}

describe('nftables backend (cache, verify, retries)', () => {
  it('reads back on the first apply only; the same state again runs nothing', async () => {
    const { nft, fw } = setup();
    await fw.apply(state());
    expect(nft.calls[0]).toBe('run -j list table inet netsession');
    expect(nft.calls[1]).toMatch(/^script add table inet netsession\n/);
    expect(fw.lastApply).toMatchObject({ readBack: true, attempts: 1, rebuilt: false });
    expect(fw.lastOps).toBeGreaterThan(10);
    nft.calls = [];
    await fw.apply(state());
    expect(nft.calls).toEqual([]);
    expect(fw.lastOps).toBe(0);
    expect(fw.lastBatchSize).toBe(0);
  });

  it('a moved session is diffed against the cache, without reading back', async () => {
    const { nft, fw } = setup();
    await fw.apply(state());
    nft.calls = [];
    await fw.apply(state(0x30000));
    expect(nft.calls).toHaveLength(1);
    // s1 was B's only session: C's chain comes, B's goes; s1's uid element gets C's mark.
    expect(nft.calls[0]).toMatch(/^script add chain inet netsession svc_00030000\n/);
    expect(nft.calls[0]).toMatch(/\ndelete element inet netsession uid \{ 1001 \}\n/);
    expect(nft.calls[0]).toMatch(/\nadd element inet netsession uid \{ 1001 : 0x00030001 \}\n/);
    expect(nft.calls[0]).toMatch(/\ndelete chain inet netsession svc_00020000\n/);
    expect(fw.lastApply?.readBack).toBe(false);
  });

  it('verify reads the kernel and repairs what the cache would not see', async () => {
    const { nft, fw } = setup();
    await fw.apply(state());
    nft.listing = EMPTY_LISTING; // the kernel lost everything but the table
    nft.calls = [];
    await fw.verify();
    expect(nft.calls[0]).toBe('run -j list table inet netsession');
    expect(nft.calls[1]).toMatch(/^script add counter inet netsession tx_s1\n/);
    expect(fw.lastApply).toMatchObject({ readBack: true });
  });

  it('a failed batch is retried once from a read-back', async () => {
    const { nft, fw, logs } = setup();
    await fw.apply(state());
    nft.listing = EMPTY_LISTING;
    nft.failures = 1;
    nft.calls = [];
    await fw.apply(state(0x30000));
    expect(nft.calls.map((c) => c.split(' ').slice(0, 2).join(' '))).toEqual(['script add', 'run -j', 'script add']);
    expect(fw.lastApply).toMatchObject({ readBack: true, attempts: 2, rebuilt: false });
    expect(logs.join('\n')).toMatch(/retrying from a read-back/);
  });

  it('when the read-back batch fails too, the table is deleted and built again; then it gives up', async () => {
    const { nft, fw, logs } = setup();
    nft.listing = EMPTY_LISTING;
    nft.failures = 1;
    await fw.apply(state());
    expect(nft.calls.filter((c) => c.startsWith('script')).map((c) => c.split('\n')[0])).toEqual([
      'script add counter inet netsession tx_s1',
      'script delete table inet netsession',
      'script add table inet netsession',
    ]);
    expect(fw.lastApply).toMatchObject({ rebuilt: true, attempts: 2 });
    expect(logs.join('\n')).toMatch(/counters are lost/);

    nft.failures = 5;
    await expect(fw.apply(state(0x30000))).rejects.toThrow(/No such file/);
  });

  it('read and reset: absent table → nothing; reset only names existing counters, in one call', async () => {
    const { nft, fw } = setup();
    expect((await fw.read()).size).toBe(0);
    await fw.reset(['s1']);
    expect(nft.calls.filter((c) => c.startsWith('script'))).toEqual([]);
    await fw.apply(state());
    nft.calls = [];
    await fw.reset(['s1', 'gone']);
    expect(nft.calls).toEqual(['script reset counter inet netsession tx_s1\nreset counter inet netsession rx_s1']);
  });

  it('clear deletes the table; the next apply creates it without a read-back', async () => {
    const { nft, fw } = setup();
    await fw.apply(state());
    await fw.clear();
    expect(nft.calls.at(-1)).toBe('script delete table inet netsession');
    nft.calls = [];
    await fw.apply(state());
    expect(nft.calls[0]).toMatch(/^script add table inet netsession\n/);
  });

  it('serialises concurrent calls', async () => {
    const { nft, fw } = setup();
    await Promise.all([
      fw.apply(state()),
      fw.apply(state(0x30000)),
      fw.reset(['s1']),
      fw.apply(state(0x40000)),
      fw.clear(),
    ]);
    expect(nft.maxInFlight).toBe(1);
    expect(nft.calls.at(-1)).toBe('script delete table inet netsession');
  });

  it('refuses a table name nft could not parse', () => {
    expect(() => createNftablesBackend({ table: 'a b' })).toThrow(/table name/);
  });
});

/** A netlink socket stand-in: ACKs every batch, or fails the next one as told. */
class FakeNetlink implements NetlinkTransport {
  readonly sendBufferSize = 1 << 20;
  #seq = 1;
  batches: NetlinkMessage[][] = [];
  fail: { errno: number; message?: string } | 'overrun' | null = null;

  nextSeq(): number {
    return this.#seq++;
  }

  requests: string[] = [];
  /** Whether the kernel holds the table: GETTABLE's answer; NEWTABLE and DELTABLE in a batch that succeeds change it. */
  table = false;

  exchange(request: Buffer): NetlinkMessage[] {
    const msgs = parseMessages(request, request.length);
    const gets = msgs.filter((m) => m.type === ((10 << 8) | 19) || m.type === ((10 << 8) | 21));
    if (gets.length) return this.#answerGets(gets);
    const getTable = msgs.find((m) => m.type === ((10 << 8) | 1));
    if (getTable) {
      this.requests.push('gettable');
      const payload = Buffer.alloc(20);
      payload.writeInt32LE(this.table ? 0 : -2, 0);
      return [{ type: 2, flags: 0, seq: getTable.seq, payload }];
    }
    this.batches.push(msgs);
    const cmds = msgs.filter((m) => m.type !== 16 && m.type !== 17);
    const fail = this.fail;
    this.fail = null;
    if (fail === 'overrun') throw new NetlinkOverrunError();
    if (!fail && cmds.some((m) => m.type === ((10 << 8) | 0))) this.table = true;
    if (!fail && cmds.some((m) => m.type === ((10 << 8) | 2))) this.table = false;
    const ack = (seq: number, errno: number, message?: string): NetlinkMessage => {
      // errno, the echoed header (NETLINK_CAP_ACK), then the extended-ACK text as NLMSGERR_ATTR_MSG.
      const text = message === undefined ? Buffer.alloc(0) : Buffer.from(`${message}\0`);
      const tlv = Buffer.alloc(message === undefined ? 0 : (4 + text.length + 3) & ~3);
      if (message !== undefined) {
        tlv.writeUInt16LE(4 + text.length, 0);
        tlv.writeUInt16LE(1, 2);
        text.copy(tlv, 4);
      }
      const payload = Buffer.concat([Buffer.alloc(20), tlv]);
      payload.writeInt32LE(-errno, 0);
      return { type: 2, flags: message === undefined ? 0 : 0x300, seq, payload };
    };
    const out: NetlinkMessage[] = [];
    if (fail) out.push(ack(cmds[0]!.seq, fail.errno, fail.message));
    out.push(ack(cmds.at(-1)!.seq, 0));
    return out;
  }

  /** GETOBJ / GETOBJ_RESET: a counter reply per named counter and an ACK; a dump: every counter, then DONE. */
  #answerGets(gets: NetlinkMessage[]): NetlinkMessage[] {
    const out: NetlinkMessage[] = [];
    for (const g of gets) {
      const attrs = nl.parseAttrs(g.payload, 4);
      const name = attrs.get(2)?.toString('utf8').replace(/\0+$/, '');
      const dump = (g.flags & 0x300) === 0x300;
      this.requests.push(dump ? 'dump' : `${g.type === ((10 << 8) | 21) ? 'reset' : 'get'} ${name}`);
      if (dump) {
        out.push(counterReply(g.seq, 'tx_s1', 3n, 300n), counterReply(g.seq, 'rx_s1', 2n, 200n), {
          type: 3,
          flags: 2,
          seq: g.seq,
          payload: Buffer.alloc(4),
        });
        continue;
      }
      out.push(counterReply(g.seq, name!, 1n, 100n), { type: 2, flags: 0, seq: g.seq, payload: Buffer.alloc(20) });
    }
    return out;
  }
}

function counterReply(seq: number, name: string, packets: bigint, bytes: bigint): NetlinkMessage {
  const payload = Buffer.concat([
    Buffer.from([1, 0, 0, 0]),
    nl.strAttr(1, 'netsession'),
    nl.strAttr(2, name),
    nl.be32Attr(3, 1),
    nl.nest(4, [nl.attr(1, be64(bytes)), nl.attr(2, be64(packets))]),
  ]);
  return { type: (10 << 8) | 18, flags: 0, seq, payload };
}

function be64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
}

describe('nftables backend: the session path over netlink', () => {
  function setupNl() {
    const nft = new FakeNft();
    const netlink = new FakeNetlink();
    const logs: string[] = [];
    const fw = createNftablesBackend({
      runner: nft,
      netlink: async () => netlink,
      cgroupResolver: () => () => null,
      log: (l, m) => logs.push(`${l} ${m}`),
    });
    return { nft, netlink, fw, logs };
  }

  it('the first apply on a fresh kernel asks for the table and builds it in one batch; a move is one more batch; nothing spawned', async () => {
    const { nft, netlink, fw } = setupNl();
    await fw.apply(state());
    expect(netlink.requests).toEqual(['gettable']);
    expect(netlink.batches).toHaveLength(1);
    expect(netlink.batches[0]!.map((m) => m.type & 0xff).slice(0, 3)).toEqual([16, 0, 18]); // BEGIN, NEWTABLE, NEWOBJ
    expect(fw.lastApply).toMatchObject({ readBack: true, attempts: 1 });
    await fw.apply(state()); // nothing changed: nothing sent
    await fw.apply({ ...state(), sessions: [{ ...state().sessions[0]!, tag: 2 }] });
    expect(nft.calls).toEqual([]);
    expect(netlink.batches).toHaveLength(2);
    expect(fw.lastApply).toMatchObject({ readBack: false, attempts: 1 });
  });

  it('a table left by an earlier run is read back through nft and adopted: only the difference is sent', async () => {
    const { nft, netlink, fw } = setupNl();
    netlink.table = true;
    nft.listing = EMPTY_LISTING;
    await fw.apply(state());
    expect(nft.calls).toEqual(['run -j list table inet netsession']);
    expect(netlink.batches).toHaveLength(1);
    expect(netlink.batches[0]!.map((m) => m.type & 0xff)).not.toContain(0); // no NEWTABLE: the table is kept
  });

  it('a full apply the kernel rejects on a fresh read-back: the table is deleted and built again over netlink; clear deletes it', async () => {
    const { nft, netlink, fw, logs } = setupNl();
    netlink.fail = { errno: 22 };
    await fw.apply(state());
    expect(logs[0]).toMatch(
      /^error nftables: batch failed on a fresh read-back \(kernel rejected the change: NEWTABLE #1 of \d+ failed with EINVAL\); deleting table netsession/,
    );
    expect(netlink.batches.map((b) => b[1]!.type & 0xff)).toEqual([0, 2, 0]); // refused build, DELTABLE, the build again
    expect(fw.lastApply).toMatchObject({ attempts: 2, rebuilt: true });
    await fw.clear();
    expect(netlink.batches.at(-1)!.map((m) => m.type & 0xff)).toEqual([16, 2, 17]);
    expect(netlink.table).toBe(false);
    expect(nft.calls).toEqual([]);
  });

  it('reads one session with a GETOBJ per counter (one send), all sessions with one dump, resets with GETOBJ_RESET', async () => {
    const { nft, netlink, fw } = setupNl();
    expect(await fw.read(['s1'])).toEqual(
      new Map([['s1', { rxBytes: 100n, txBytes: 100n, rxPackets: 1n, txPackets: 1n }]]),
    );
    expect(netlink.requests).toEqual(['get tx_s1', 'get rx_s1']);
    expect(await fw.read()).toEqual(new Map([['s1', { rxBytes: 200n, txBytes: 300n, rxPackets: 2n, txPackets: 3n }]]));
    await fw.reset(['s1']);
    expect(netlink.requests.slice(2)).toEqual(['dump', 'reset tx_s1', 'reset rx_s1']);
    expect(nft.calls).toEqual([]);
  });

  for (const [name, fail, line] of [
    [
      'an apply the kernel rejects',
      { errno: 2 },
      /^warn nftables: kernel rejected the change: DEL\w+ #1 of \d+ failed with ENOENT; retrying through a full read-back$/,
    ],
    [
      'a missing kernel feature',
      { errno: 95, message: 'Object type unknown' },
      /^warn nftables: kernel lacks a feature: .* failed with EOPNOTSUPP \(Object type unknown\); retrying through a full read-back$/,
    ],
    [
      'a receive overrun (ENOBUFS)',
      'overrun',
      /^warn nftables: netlink receive queue overflowed \(ENOBUFS\).*; retrying through a full read-back$/,
    ],
  ] as const) {
    it(`${name}: one log line, then the full path from a read-back`, async () => {
      const { nft, netlink, fw, logs } = setupNl();
      await fw.apply(state());
      nft.listing = EMPTY_LISTING;
      nft.calls = [];
      logs.length = 0;
      netlink.fail = fail;
      await fw.apply({ ...state(), sessions: [{ ...state().sessions[0]!, tag: 2 }] });
      expect(logs).toHaveLength(1);
      expect(logs[0]).toMatch(line);
      expect(nft.calls).toEqual(['run -j list table inet netsession']);
      expect(fw.lastApply).toMatchObject({ readBack: true, attempts: 2 });
      // The full build, the refused delta, the retry from the read-back: all netlink batches.
      expect(netlink.batches).toHaveLength(3);
      // Back on the session path afterwards.
      nft.calls = [];
      await fw.apply({ ...state(), sessions: [{ ...state().sessions[0]!, tag: 3 }] });
      expect(nft.calls).toEqual([]);
      expect(netlink.batches).toHaveLength(4);
    });
  }
});

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InternalDhcpClient } from '../../../../../daemon/adapters/dhcp/internal-client.js';
import type { PacketHandler, PacketSocket } from '../../../../../daemon/adapters/dhcp/packet-socket.js';
import type { DhcpLeaseEvent } from '../../../../../daemon/core/manage-plan.js';
import { bootpReply, ipUdp, leaseOptions, MAC, readClient } from './dhcp-wire.js';

/** A fake link: what the client sent, and a way to answer it. */
function link() {
  const sent: Array<ReturnType<typeof readClient>> = [];
  let deliver: PacketHandler | null = null;
  let opens = 0;
  let closes = 0;
  const open = (async (_ifname: string, onPacket: PacketHandler) => {
    opens++;
    deliver = onPacket;
    return {
      mac: MAC,
      ifindex: 12,
      send: (d: Buffer) => void sent.push(readClient(d)),
      close: () => void closes++,
    } as unknown as PacketSocket;
  }) as typeof PacketSocket.open;
  const last = () => sent.at(-1)!;
  const reply = (type: number, over: { yiaddr?: string; xid?: number; options?: Array<[number, number[]]> } = {}) =>
    deliver?.(
      ipUdp(
        bootpReply({
          type,
          xid: over.xid ?? last().xid,
          yiaddr: over.yiaddr ?? (type === 6 ? '0.0.0.0' : '198.51.100.19'),
          options: over.options ?? (type === 6 ? [[54, [198, 51, 100, 17]]] : leaseOptions(120)),
        }),
      ),
      { checksumReady: true },
    );
  return {
    sent,
    open,
    last,
    reply,
    raw: (d: Buffer, checksumReady = true) => deliver?.(d, { checksumReady }),
    counts: () => ({ opens, closes }),
  };
}

const LEASE = {
  address: '198.51.100.19',
  prefixLength: 29,
  router: '198.51.100.17',
  dns: ['203.0.113.53', '203.0.113.54'],
  leaseSeconds: 120,
  serverId: '198.51.100.17',
};

describe('InternalDhcpClient', () => {
  let l: ReturnType<typeof link>;
  let events: DhcpLeaseEvent[];
  let client: InternalDhcpClient;
  const settle = () => vi.advanceTimersByTimeAsync(0);
  const bind = async () => {
    client.start('eth-b', (e) => events.push(e));
    await settle();
    expect(l.last()).toMatchObject({ type: 1, flags: 0x8000, requestedIp: undefined });
    l.reply(2);
    expect(l.last()).toMatchObject({
      type: 3,
      requestedIp: '198.51.100.19',
      serverId: '198.51.100.17',
      ciaddr: '0.0.0.0',
      dst: '255.255.255.255',
    });
    l.reply(5);
  };

  beforeEach(() => {
    vi.useFakeTimers();
    l = link();
    events = [];
    client = new InternalDhcpClient({ openSocket: l.open, retryMs: 2000, rebootTimeoutMs: 600 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('DISCOVER, OFFER, REQUEST, ACK: reports the lease and stops listening while bound', async () => {
    await bind();
    expect(events).toEqual([{ type: 'bound', ...LEASE }]);
    expect(client.phaseOf('eth-b')).toBe('bound');
    expect(l.counts()).toEqual({ opens: 1, closes: 1 });
  });

  it('retransmits an unanswered DISCOVER with a doubling wait', async () => {
    client.start('eth-b', (e) => events.push(e));
    await settle();
    await vi.advanceTimersByTimeAsync(1999);
    expect(l.sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(l.sent).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(4000);
    expect(l.sent.map((m) => m.type)).toEqual([1, 1, 1]);
    expect(new Set(l.sent.map((m) => m.xid)).size).toBe(1);
  });

  it('takes an OFFER whose UDP checksum a local sender left unfilled, only when the kernel says so', async () => {
    client.start('eth-b', (e) => events.push(e));
    await settle();
    const offer = ipUdp(bootpReply({ type: 2, xid: l.last().xid, yiaddr: '198.51.100.19', options: leaseOptions() }));
    offer.writeUInt16BE(offer.readUInt16BE(26) ^ 0x1234, 26);
    l.raw(offer);
    expect(l.sent).toHaveLength(1);
    l.raw(offer, false);
    expect(l.last()).toMatchObject({ type: 3, requestedIp: '198.51.100.19' });
  });

  it('ignores replies for another transaction or another client, and malformed ones', async () => {
    client.start('eth-b', (e) => events.push(e));
    await settle();
    l.reply(2, { xid: l.last().xid + 1 });
    l.raw(
      ipUdp(
        bootpReply({ type: 2, xid: l.last().xid, yiaddr: '198.51.100.19', chaddr: Buffer.from([2, 0, 0, 0, 0, 9]) }),
      ),
    );
    l.raw(Buffer.from([0x45, 0, 0, 1]));
    expect(l.sent).toHaveLength(1);
    expect(client.phaseOf('eth-b')).toBe('selecting');
  });

  it('after a stop without release, asks for the same address in one round trip (INIT-REBOOT)', async () => {
    await bind();
    await client.stop('eth-b', { release: false });
    expect(l.sent.filter((m) => m.type === 7)).toEqual([]);
    expect(events.at(-1)).toEqual({ type: 'release', ...LEASE });
    const before = l.sent.length;
    client.start('eth-b', (e) => events.push(e));
    await settle();
    expect(l.sent.slice(before)).toHaveLength(1);
    expect(l.last()).toMatchObject({
      type: 3,
      requestedIp: '198.51.100.19',
      serverId: undefined,
      ciaddr: '0.0.0.0',
      flags: 0x8000,
      src: '0.0.0.0',
      dst: '255.255.255.255',
    });
    l.reply(5);
    expect(events.at(-1)).toEqual({ type: 'bound', ...LEASE });
    expect(l.sent.slice(before).map((m) => m.type)).toEqual([3]);
  });

  it('INIT-REBOOT: a NAK makes it DISCOVER at once and forget the address', async () => {
    await bind();
    await client.stop('eth-b', { release: false });
    client.start('eth-b', (e) => events.push(e));
    await settle();
    l.reply(6);
    expect(l.last()).toMatchObject({ type: 1, requestedIp: undefined });
    expect(client.phaseOf('eth-b')).toBe('selecting');
  });

  it('INIT-REBOOT: one retransmission, then DISCOVER after the short wait', async () => {
    await bind();
    await client.stop('eth-b', { release: false });
    const before = l.sent.length;
    client.start('eth-b', (e) => events.push(e));
    await settle();
    await vi.advanceTimersByTimeAsync(300);
    expect(l.sent.slice(before).map((m) => m.type)).toEqual([3, 3]);
    await vi.advanceTimersByTimeAsync(300);
    // The remembered address is still a hint in the DISCOVER.
    expect(l.sent.slice(before).map((m) => m.type)).toEqual([3, 3, 1]);
    expect(l.last().requestedIp).toBe('198.51.100.19');
  });

  it('a lease that expired while stopped is not asked for again', async () => {
    await bind();
    await client.stop('eth-b', { release: false });
    await vi.advanceTimersByTimeAsync(121_000);
    client.start('eth-b', (e) => events.push(e));
    await settle();
    expect(l.last()).toMatchObject({ type: 1, requestedIp: undefined });
  });

  it('stop releases the lease to its server and forgets it', async () => {
    await bind();
    await client.stop('eth-b');
    expect(l.last()).toMatchObject({
      type: 7,
      ciaddr: '198.51.100.19',
      serverId: '198.51.100.17',
      src: '198.51.100.19',
      dst: '198.51.100.17',
    });
    expect(events.at(-1)).toEqual({ type: 'release', ...LEASE });
    client.start('eth-b', (e) => events.push(e));
    await settle();
    expect(l.last()).toMatchObject({ type: 1 });
  });

  it('renews at T1 by unicast to the server; the ACK is a renew', async () => {
    await bind();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(l.last()).toMatchObject({
      type: 3,
      ciaddr: '198.51.100.19',
      src: '198.51.100.19',
      dst: '198.51.100.17',
      requestedIp: undefined,
      serverId: undefined,
      flags: 0,
    });
    l.reply(5);
    expect(events.map((e) => e.type)).toEqual(['bound', 'renew']);
  });

  it('rebinds by broadcast at T2 and gives the lease up at expiry, then discovers', async () => {
    await bind();
    await vi.advanceTimersByTimeAsync(105_000);
    expect(l.last()).toMatchObject({ type: 3, ciaddr: '198.51.100.19', dst: '255.255.255.255' });
    await vi.advanceTimersByTimeAsync(15_000);
    expect(events.map((e) => e.type)).toEqual(['bound', 'expire']);
    expect(l.last()).toMatchObject({ type: 1 });
  });

  it('a NAK to a renewal ends the lease', async () => {
    await bind();
    await vi.advanceTimersByTimeAsync(60_000);
    l.reply(6);
    expect(events.map((e) => e.type)).toEqual(['bound', 'expire']);
    expect(l.last()).toMatchObject({ type: 1 });
  });

  it('retries a socket that cannot be opened with a doubling wait, then discovers', async () => {
    let failures = 2;
    const logs: string[] = [];
    const flaky = (async (...args: Parameters<typeof PacketSocket.open>) => {
      if (failures-- > 0) throw new Error('EPERM');
      return l.open(...args);
    }) as typeof PacketSocket.open;
    client = new InternalDhcpClient({ openSocket: flaky, retryMs: 2000, log: (_level, m) => logs.push(m) });
    client.start('eth-b', (e) => events.push(e));
    await settle();
    await vi.advanceTimersByTimeAsync(2000);
    expect(l.sent).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(4000);
    expect(l.last()).toMatchObject({ type: 1 });
    expect(logs.filter((m) => /cannot open a packet socket: EPERM; retrying in (2000|4000) ms/.test(m))).toHaveLength(
      2,
    );
  });

  it('renew() starts a renewal at once when bound', async () => {
    await bind();
    client.renew('eth-b');
    await settle();
    expect(l.last()).toMatchObject({ type: 3, ciaddr: '198.51.100.19' });
  });
});

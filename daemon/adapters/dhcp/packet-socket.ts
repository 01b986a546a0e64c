/**
 * An AF_PACKET socket (cooked, IPv4 only) on one interface, read on Node's own event loop.
 *
 * Why a packet socket: a DHCP client talks before its address exists. Replies to an interface
 * without an address are dropped by the IP layer when rp_filter is on (strict or loose: no
 * route back through that device), and a server that unicasts an OFFER to the offered address
 * cannot reach a kernel UDP socket at all; a packet socket sees the frame before any of that.
 * A classic BPF filter lets only UDP to port 68 through, so a busy uplink does not wake us.
 *
 * It is read on Node's own loop through a libuv poll handle (../netlink/uv-poll.ts says why).
 */
import { close as fsClose } from 'node:fs';
import os from 'node:os';
import { loadLibcLibrary } from '../../../lib/native/libc.js';
import {
  AF_PACKET,
  MSG_DONTWAIT,
  SO_ATTACH_FILTER,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOL_PACKET,
  SOL_SOCKET,
} from '../../../lib/native/linux.js';
import { loadFdWatcher } from '../netlink/uv-poll.js';

const ETH_P_IP = 0x0800;
const SOCKADDR_LL_SIZE = 20;
const PACKET_AUXDATA = 8;
/** tpacket_auxdata.tp_status: the checksum is still to be computed (a local sender's offload). */
const TP_STATUS_CSUMNOTREADY = 8;
// recvmsg area (x86-64/arm64 LP64 layout): msghdr 56 bytes, iovec 16, then data and control.
const IOV_AT = 56;
const DATA_AT = 72;
const DATA_ROOM = 2048;
const CONTROL_AT = DATA_AT + DATA_ROOM;
const CONTROL_ROOM = 64;
const AREA_SIZE = CONTROL_AT + CONTROL_ROOM;

/** C memory for recvmsg(2), allocated once per socket. */
interface RecvArea {
  mem: unknown;
  view: Buffer;
  free(): void;
}
const EAGAIN = os.constants.errno.EAGAIN;
const EINTR = os.constants.errno.EINTR;

/** Classic BPF over the IP header: UDP, not a fragment, destination port 68. */
const FILTER: Array<[code: number, jt: number, jf: number, k: number]> = [
  [0x30, 0, 0, 9], // ldb [9]            protocol
  [0x15, 0, 6, 17], // jeq #17            else drop
  [0x28, 0, 0, 6], // ldh [6]            flags and fragment offset
  [0x45, 4, 0, 0x1fff], // jset #0x1fff   fragment: drop
  [0xb1, 0, 0, 0], // ldxb 4*([0]&0xf)  header length
  [0x48, 0, 0, 2], // ldh [x+2]          UDP destination port
  [0x15, 0, 1, 68], // jeq #68            else drop
  [0x06, 0, 0, 0xffff], // ret whole packet
  [0x06, 0, 0, 0], // ret 0: drop
];

interface Native {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  getsockname(fd: number, addr: Buffer, len: number[]): number;
  setsockopt(fd: number, level: number, name: number, value: unknown, len: number): number;
  sendto(fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, alen: number): number;
  /** recvmsg(2) into a {@link RecvArea}; returns the byte count or -1. */
  recvmsg(fd: number, area: RecvArea, flags: number): number;
  recvArea(): RecvArea;
  close(fd: number): number;
  ifNameToIndex(name: string): number;
  errno(): number;
  pollStart(fd: number, onReadable: () => void): () => void;
}

let native: Promise<Native> | undefined;

function loadNative(): Promise<Native> {
  native ??= Promise.all([loadLibcLibrary(), loadFdWatcher()]).then(([{ koffi, lib: libc }, watch]) => {
    const socket = libc.func('int socket(int, int, int)');
    const bind = libc.func('int bind(int, const void *, uint32_t)');
    const getsockname = libc.func('int getsockname(int, _Inout_ void *, _Inout_ uint32_t *)');
    const FProg = koffi.struct('netsession_sock_fprog', { len: 'uint16_t', filter: 'void *' });
    const setsockopt = libc.func('int setsockopt(int, int, int, const void *, uint32_t)');
    const setsockoptProg = libc.func('setsockopt', 'int', ['int', 'int', 'int', koffi.pointer(FProg), 'uint32_t']);
    const sendto = libc.func('long sendto(int, const void *, size_t, int, const void *, uint32_t)');
    const recvmsg = libc.func('long recvmsg(int, void *, int)');
    const close = libc.func('int close(int)');
    const ifNameToIndex = libc.func('unsigned int if_nametoindex(const char *)');
    return {
      socket: (d, t, p) => socket(d, t, p) as number,
      bind: (fd, a, l) => bind(fd, a, l) as number,
      getsockname: (fd, a, l) => getsockname(fd, a, l) as number,
      setsockopt: (fd, level, name, value, len) =>
        (value instanceof Buffer
          ? setsockopt(fd, level, name, value, len)
          : setsockoptProg(fd, level, name, value, len)) as number,
      sendto: (fd, b, l, f, a, al) => Number(sendto(fd, b, l, f, a, al)),
      recvmsg: (fd, area, f) => {
        // The kernel shrinks msg_controllen to what it wrote: give the whole room back each time.
        area.view.writeBigUInt64LE(BigInt(CONTROL_ROOM), 40);
        return Number(recvmsg(fd, area.mem, f));
      },
      recvArea: () => {
        // One block of C memory: msghdr, one iovec, the datagram, the control messages.
        const mem = koffi.alloc('uint8_t', AREA_SIZE);
        const base = koffi.address(mem);
        const view = Buffer.from(koffi.view(mem, AREA_SIZE));
        view.fill(0);
        view.writeBigUInt64LE(base + BigInt(IOV_AT), 16); // msg_iov
        view.writeBigUInt64LE(1n, 24); // msg_iovlen
        view.writeBigUInt64LE(base + BigInt(CONTROL_AT), 32); // msg_control
        view.writeBigUInt64LE(base + BigInt(DATA_AT), IOV_AT); // iov_base
        view.writeBigUInt64LE(BigInt(DATA_ROOM), IOV_AT + 8); // iov_len
        return { mem, view, free: () => koffi.free(mem) };
      },
      close: (fd) => close(fd) as number,
      ifNameToIndex: (name) => ifNameToIndex(name) as number,
      errno: () => koffi.errno(),
      pollStart: (fd, onReadable) => {
        // Errors (POLLERR) stop the watch; the socket is then read no more, as before.
        const w = watch(fd, (status) => {
          if (status === 0) onReadable();
        });
        return () => w.stop();
      },
    };
  });
  return native;
}

const ERRNO_NAME = new Map<number, string>(Object.entries(os.constants.errno).map(([name, n]) => [n, name]));
const errnoName = (n: number): string => ERRNO_NAME.get(n) ?? `errno ${n}`;

function sockaddrLl(ifindex: number, broadcast: boolean): Buffer {
  const a = Buffer.alloc(SOCKADDR_LL_SIZE);
  a.writeUInt16LE(AF_PACKET, 0);
  a.writeUInt16BE(ETH_P_IP, 2);
  a.writeInt32LE(ifindex, 4);
  if (broadcast) {
    a[11] = 6; // sll_halen
    a.fill(0xff, 12, 18);
  }
  return a;
}

/** What the kernel says about a received datagram. */
export interface PacketInfo {
  /** False when a local sender's checksum offload left the UDP checksum unfilled. */
  checksumReady: boolean;
}

export type PacketHandler = (ip: Buffer, info: PacketInfo) => void;

/** tp_status of the PACKET_AUXDATA control message, or 0 when there is none. */
function auxStatus(area: Buffer): number {
  const len = Number(area.readBigUInt64LE(40)); // msg_controllen as the kernel left it
  // struct cmsghdr: cmsg_len (size_t), cmsg_level, cmsg_type (int), data aligned to 8.
  for (let at = 0; at + 16 <= Math.min(len, CONTROL_ROOM); ) {
    const cmsgLen = Number(area.readBigUInt64LE(CONTROL_AT + at));
    if (cmsgLen < 16) break;
    if (
      area.readInt32LE(CONTROL_AT + at + 8) === SOL_PACKET &&
      area.readInt32LE(CONTROL_AT + at + 12) === PACKET_AUXDATA &&
      cmsgLen >= 20
    ) {
      return area.readUInt32LE(CONTROL_AT + at + 16);
    }
    at += (cmsgLen + 7) & ~7;
  }
  return 0;
}

/** One interface's packet socket: IPv4 datagrams out to the link broadcast, UDP/68 in. */
export class PacketSocket {
  readonly ifindex: number;
  /** The interface's hardware address (6 bytes for Ethernet). */
  readonly mac: Buffer;
  readonly #n: Native;
  #fd: number;
  #stopPoll: (() => void) | null;
  readonly #area: RecvArea;
  readonly #dest: Buffer;

  private constructor(
    n: Native,
    fd: number,
    ifindex: number,
    mac: Buffer,
    onPacket: PacketHandler,
    onError: (err: Error) => void,
  ) {
    this.#n = n;
    this.#area = n.recvArea();
    this.#fd = fd;
    this.ifindex = ifindex;
    this.mac = mac;
    this.#dest = sockaddrLl(ifindex, true);
    this.#stopPoll = null;
    this.#stopPoll = n.pollStart(fd, () => {
      try {
        this.#drain(onPacket);
      } catch (err) {
        onError(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /**
   * Opens the socket on `ifname`, filtered to UDP port 68; `onPacket` gets each IPv4 datagram
   * (starting at its IP header) on the main thread. Needs CAP_NET_RAW.
   */
  static async open(ifname: string, onPacket: PacketHandler, onError: (err: Error) => void): Promise<PacketSocket> {
    const n = await loadNative();
    const ifindex = n.ifNameToIndex(ifname);
    if (!ifindex) throw new Error(`no interface ${ifname}: ${errnoName(n.errno())}`);
    // Protocol 0 here and ETH_P_IP only at bind: a socket created with a protocol is hooked on
    // every device at once, and re-binding it to one device waits for an RCU grace period
    // (synchronize_net, measured 10 ms) on the main thread.
    const fd = n.socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new Error(`packet socket on ${ifname}: ${errnoName(n.errno())}`);
    try {
      const filter = Buffer.alloc(FILTER.length * 8);
      FILTER.forEach(([code, jt, jf, k], i) => {
        filter.writeUInt16LE(code, i * 8);
        filter[i * 8 + 2] = jt;
        filter[i * 8 + 3] = jf;
        filter.writeUInt32LE(k, i * 8 + 4);
      });
      // Filter before bind: nothing unfiltered is queued in between.
      if (n.setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, { len: FILTER.length, filter }, 16) < 0)
        throw new Error(`SO_ATTACH_FILTER: ${errnoName(n.errno())}`);
      // Tells which datagrams a local sender left with its UDP checksum still to compute
      // (checksum offload on a veth, or a virtio NIC): those are not checked against it.
      if (n.setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, Buffer.from([1, 0, 0, 0]), 4) < 0)
        throw new Error(`PACKET_AUXDATA: ${errnoName(n.errno())}`);
      const addr = sockaddrLl(ifindex, false);
      if (n.bind(fd, addr, SOCKADDR_LL_SIZE) < 0) throw new Error(`bind to ${ifname}: ${errnoName(n.errno())}`);
      const got = Buffer.alloc(SOCKADDR_LL_SIZE);
      if (n.getsockname(fd, got, [SOCKADDR_LL_SIZE]) < 0) throw new Error(`getsockname: ${errnoName(n.errno())}`);
      const halen = got[11] ?? 0;
      if (halen !== 6) throw new Error(`${ifname} has no Ethernet address (length ${halen})`);
      return new PacketSocket(n, fd, ifindex, Buffer.from(got.subarray(12, 18)), onPacket, onError);
    } catch (err) {
      n.close(fd);
      throw err;
    }
  }

  /** Sends one IPv4 datagram to the link-layer broadcast address. Throws on a send error. */
  send(ip: Buffer): void {
    if (this.#fd < 0) throw new Error('packet socket closed');
    const r = this.#n.sendto(this.#fd, ip, ip.length, 0, this.#dest, SOCKADDR_LL_SIZE);
    if (r < 0) throw new Error(`send: ${errnoName(this.#n.errno())}`);
  }

  /**
   * Stops reading and closes the socket. close(2) of a packet socket waits for an RCU grace
   * period (~10 ms), so it runs on libuv's thread pool (fs.close takes any fd), not on the
   * daemon's thread: a carrier loss that stops the client must not delay the failover.
   */
  close(): void {
    if (this.#fd < 0) return;
    this.#stopPoll?.();
    this.#stopPoll = null;
    const fd = this.#fd;
    this.#fd = -1;
    fsClose(fd, () => {});
    // Nothing reads into it any more (reads happen only on this thread, while the fd is open).
    this.#area.free();
  }

  #drain(onPacket: PacketHandler): void {
    // A bounded number per wake-up, so a flood cannot starve the loop.
    for (let i = 0; i < 64 && this.#fd >= 0; i++) {
      const r = this.#n.recvmsg(this.#fd, this.#area, MSG_DONTWAIT);
      if (r < 0) {
        const e = this.#n.errno();
        if (e === EINTR) continue;
        if (e === EAGAIN) return;
        throw new Error(`recv: ${errnoName(e)}`);
      }
      const view = this.#area.view;
      onPacket(Buffer.from(view.subarray(DATA_AT, DATA_AT + Math.min(r, DATA_ROOM))), {
        checksumReady: !(auxStatus(view) & TP_STATUS_CSUMNOTREADY),
      });
    }
  }
}

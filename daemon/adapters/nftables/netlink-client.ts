/**
 * nf_tables over the daemon's own NETLINK_NETFILTER socket: batches of commands (one sendmsg,
 * ACK on the last command only) and counter reads. Errors are typed so the backend can log one
 * clear line and resynchronise by a full read-back.
 */
import { errnoName } from '../netlink/libc.js';
import type { NetlinkMessage, RequestSocket, RequestSocketOptions } from '../netlink/request-socket.js';
import { NETLINK_NETFILTER, NLMSG_DONE, NLMSG_ERROR, openRequestSocket, parseAck } from '../netlink/request-socket.js';
import * as counters from './netlink-counters.js';
import * as nl from './netlink-encode.js';
import { getTable } from './netlink-table.js';

const EMSGSIZE = 90;

const MSG_NAME = new Map<number, string>(Object.entries(nl.MSG).map(([k, v]) => [v, k]));

/** The kernel refused a batch or request; nothing of the batch was applied. */
export class NftNetlinkError extends Error {
  constructor(
    /** Positive errno. */
    readonly errno: number,
    /** What was refused (`NEWRULE #3`, `batch`, `GETOBJ`). */
    readonly what: string,
    /** The kernel's extended-ACK text, when it gave one. */
    readonly detail?: string,
  ) {
    super(`${NftNetlinkError.kind(errno)}: ${what} failed with ${errnoName(errno)}${detail ? ` (${detail})` : ''}`);
    this.name = 'NftNetlinkError';
  }

  get code(): string {
    return errnoName(this.errno);
  }

  /** Missing kernel support (module, expression or object type) rather than a refused change. */
  get missingFeature(): boolean {
    return ['EOPNOTSUPP', 'EAFNOSUPPORT', 'EPROTONOSUPPORT', 'ENOTSUP'].includes(this.code);
  }

  static kind(errno: number): string {
    return ['EOPNOTSUPP', 'EAFNOSUPPORT', 'EPROTONOSUPPORT', 'ENOTSUP'].includes(errnoName(errno))
      ? 'kernel lacks a feature'
      : 'kernel rejected the change';
  }
}

/** A request that can fail: the socket (or a fake of it in unit tests). */
export interface NetlinkTransport {
  nextSeq(): number;
  readonly sendBufferSize: number;
  exchange(request: Buffer, done: (m: NetlinkMessage) => boolean): NetlinkMessage[];
}

/** One session counter as read from the kernel. */
export interface NamedCounter {
  name: string;
  packets: bigint;
  bytes: bigint;
}

export class NftNetlinkClient {
  constructor(
    readonly transport: NetlinkTransport,
    readonly table: string,
  ) {}

  /** Largest batch the socket takes in one sendmsg (the kernel answers EMSGSIZE above it). */
  get maxBatchBytes(): number {
    return this.transport.sendBufferSize - 32;
  }

  /** Encodes `commands` as one batch; null when it is too big for one sendmsg. */
  encode(commands: readonly nl.Command[]): nl.EncodedBatch | null {
    const b = nl.encodeBatch(commands, () => this.transport.nextSeq());
    return b.buf.length <= this.maxBatchBytes ? b : null;
  }

  /**
   * Sends `commands` as few batches as the socket takes, in order, each all-or-nothing in the
   * kernel (a bulk change, such as the table built from empty, can exceed one sendmsg). On a
   * failure the batches before it stay applied: the caller must read the kernel back.
   * @returns bytes sent.
   */
  sendAll(commands: readonly nl.Command[]): number {
    let bytes = 0;
    let start = 0;
    while (start < commands.length) {
      // BEGIN and END are 20 bytes each; a command is its 20-byte header and its attributes.
      let size = 40;
      let end = start;
      while (end < commands.length) {
        const c = commands[end] as nl.Command;
        const len = 20 + c.attrs.reduce((n, a) => n + a.length, 0);
        if (size + len > this.maxBatchBytes) break;
        size += len;
        end++;
      }
      if (end === start) throw new NftNetlinkError(EMSGSIZE, `one command of more than ${this.maxBatchBytes} bytes`);
      const slice = commands.slice(start, end);
      const batch = nl.encodeBatch(slice, () => this.transport.nextSeq());
      this.send(batch, slice);
      bytes += batch.buf.length;
      start = end;
    }
    return bytes;
  }

  /** Whether the table exists (one GETTABLE). */
  tableExists(): boolean {
    const seq = this.transport.nextSeq();
    const replies = this.transport.exchange(getTable(this.table, seq), (m) => m.seq === seq && m.type === NLMSG_ERROR);
    for (const m of replies) {
      if (m.seq !== seq || m.type !== NLMSG_ERROR) continue;
      const ack = parseAck(m);
      if (ack.error === 2) return false; // ENOENT
      if (ack.error !== 0) throw new NftNetlinkError(ack.error, 'GETTABLE', ack.message);
    }
    return true;
  }

  /**
   * Sends one encoded batch and waits for its outcome (all-or-nothing in the kernel).
   * @throws NftNetlinkError when the kernel refused it; NetlinkOverrunError / NetlinkSocketError from the socket.
   */
  send(batch: nl.EncodedBatch, commands: readonly nl.Command[]): void {
    if (commands.length === 0) return;
    const last = batch.seqs[batch.seqs.length - 1] as number;
    const replies = this.transport.exchange(
      batch.buf,
      (m) => m.type === NLMSG_ERROR && (m.seq === last || m.seq === batch.beginSeq),
    );
    for (const m of replies) {
      if (m.type !== NLMSG_ERROR) continue;
      const ack = parseAck(m);
      if (ack.error === 0) continue;
      const i = batch.seqs.indexOf(m.seq);
      if (i < 0 && m.seq !== batch.beginSeq) continue; // not an answer to this batch
      const c = commands[i];
      throw new NftNetlinkError(
        ack.error,
        c ? `${MSG_NAME.get(c.type) ?? c.type} #${i + 1} of ${commands.length}` : 'batch',
        ack.message,
      );
    }
  }

  /** Every counter of the table, from one dump. Null when the table does not exist. */
  dumpCounters(): NamedCounter[] | null {
    const seq = this.transport.nextSeq();
    const replies = this.transport.exchange(
      counters.dumpCounters(this.table, seq),
      (m) => m.seq === seq && (m.type === NLMSG_DONE || m.type === NLMSG_ERROR),
    );
    const out: NamedCounter[] = [];
    for (const m of replies) {
      if (m.seq !== seq) continue;
      if (m.type === NLMSG_ERROR) {
        const ack = parseAck(m);
        if (ack.error === 2) return null; // ENOENT: no table
        if (ack.error !== 0) throw new NftNetlinkError(ack.error, 'GETOBJ dump', ack.message);
      } else if (counters.isNewObj(m.type)) {
        const c = counters.parseCounter(m.payload);
        if (c && c.table === this.table) out.push({ name: c.name, packets: c.packets, bytes: c.bytes });
      }
    }
    return out;
  }

  /**
   * Named counters read (and zeroed, with `reset`) by one GETOBJ each, all in one sendmsg.
   * Counters that do not exist are left out.
   */
  getCounters(names: readonly string[], reset = false): NamedCounter[] {
    if (names.length === 0) return [];
    const seqs = names.map(() => this.transport.nextSeq());
    const req = Buffer.concat(names.map((n, i) => counters.getCounter(this.table, n, seqs[i] as number, reset)));
    const pending = new Set(seqs);
    const replies = this.transport.exchange(
      req,
      (m) => m.type === NLMSG_ERROR && pending.delete(m.seq) && pending.size === 0,
    );
    const out: NamedCounter[] = [];
    for (const m of replies) {
      if (m.type === NLMSG_ERROR) {
        const ack = parseAck(m);
        if (ack.error !== 0 && ack.error !== 2)
          throw new NftNetlinkError(ack.error, reset ? 'GETOBJ_RESET' : 'GETOBJ', ack.message);
      } else if (counters.isNewObj(m.type)) {
        const c = counters.parseCounter(m.payload);
        if (c) out.push({ name: c.name, packets: c.packets, bytes: c.bytes });
      }
    }
    return out;
  }
}

/** Opens the daemon's nf_tables socket and a client on it. */
export async function openNftNetlink(
  table: string,
  opts?: RequestSocketOptions,
): Promise<{ client: NftNetlinkClient; socket: RequestSocket }> {
  const socket = await openRequestSocket(NETLINK_NETFILTER, opts);
  return { client: new NftNetlinkClient(socket, table), socket };
}

/**
 * Pure parsing of what udhcpc-hook.sh writes: NUL-terminated `NAME=VALUE` environment entries,
 * one empty entry ending each record. Every value comes from the network, so each field is
 * validated here and anything malformed is dropped rather than passed on.
 */
import { isIPv4 } from 'node:net';
import type { DhcpLeaseEvent } from '../../core/manage-plan.js';

/** One hook run: udhcpc's event name and the environment it was given. */
export interface HookRecord {
  /** udhcpc's `$1`: `deconfig`, `bound`, `renew`, `leasefail`, `nak`. */
  event: string;
  env: Map<string, string>;
}

/** The lease part of a bound/renew record. */
export type Lease = Omit<DhcpLeaseEvent, 'type'>;

/** Longest record accepted; a hook run is a few hundred bytes, so more means garbage. */
const MAX_RECORD_BYTES = 64 * 1024;

/**
 * Splits the hook's byte stream into records. Chunks may cut anywhere (inside an entry, between
 * the entry and the terminator); `push` returns the records completed by this chunk.
 */
export class HookRecordSplitter {
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #entries: string[] = [];
  #entriesBytes = 0;

  push(chunk: Buffer): HookRecord[] {
    const out: HookRecord[] = [];
    let start = 0;
    for (let nul = chunk.indexOf(0, start); nul >= 0; nul = chunk.indexOf(0, start)) {
      this.#pending.push(chunk.subarray(start, nul));
      const entry = Buffer.concat(this.#pending).toString('utf8');
      this.#pending = [];
      this.#pendingBytes = 0;
      start = nul + 1;
      if (entry === '') {
        const record = toRecord(this.#entries);
        this.#entries = [];
        this.#entriesBytes = 0;
        if (record) out.push(record);
      } else {
        this.#entries.push(entry);
        this.#entriesBytes += entry.length;
      }
    }
    if (start < chunk.length) {
      this.#pending.push(Buffer.from(chunk.subarray(start)));
      this.#pendingBytes += chunk.length - start;
    }
    // Drop a runaway record instead of growing without bound; its end resynchronises the stream.
    if (this.#pendingBytes + this.#entriesBytes > MAX_RECORD_BYTES) {
      this.#pending = [];
      this.#pendingBytes = 0;
      this.#entries = [];
      this.#entriesBytes = 0;
    }
    return out;
  }
}

function toRecord(entries: readonly string[]): HookRecord | undefined {
  const env = new Map<string, string>();
  for (const e of entries) {
    const eq = e.indexOf('=');
    if (eq <= 0) continue;
    env.set(e.slice(0, eq), e.slice(eq + 1));
  }
  const event = env.get('NETSESSION_DHCP_EVENT');
  if (event === undefined) return undefined;
  return { event, env };
}

/** Prefix length of a dotted netmask, or undefined when it is not a contiguous mask. */
export function prefixOfNetmask(mask: string): number | undefined {
  if (!isIPv4(mask)) return undefined;
  const n = mask.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  let len = 0;
  while (len < 32 && n & (2 ** (31 - len))) len++;
  // Contiguous: everything after the first zero bit must be zero too.
  const expected = len === 0 ? 0 : 2 ** 32 - 2 ** (32 - len);
  return n === expected ? len : undefined;
}

function ipv4List(value: string | undefined): string[] {
  if (!value) return [];
  return value.split(/\s+/).filter((a) => isIPv4(a));
}

/**
 * The lease in a `bound`/`renew` record, or undefined when the record lacks a valid address or
 * prefix. udhcpc gives `mask` (prefix length) and `subnet` (dotted); `mask` wins when valid.
 */
export function leaseOfRecord(record: HookRecord): Lease | undefined {
  const { env } = record;
  const address = env.get('ip') ?? '';
  if (!isIPv4(address) || address === '0.0.0.0') return undefined;
  const maskText = env.get('mask') ?? '';
  let prefixLength = /^\d{1,2}$/.test(maskText) ? Number(maskText) : undefined;
  if (prefixLength === undefined || prefixLength < 1 || prefixLength > 32)
    prefixLength = prefixOfNetmask(env.get('subnet') ?? '');
  if (prefixLength === undefined || prefixLength < 1) return undefined;
  const leaseText = env.get('lease') ?? '';
  const leaseSeconds = /^\d{1,10}$/.test(leaseText) ? Number(leaseText) : 0;
  const serverId = env.get('serverid') ?? '';
  return {
    address,
    prefixLength,
    router: ipv4List(env.get('router'))[0] ?? '',
    dns: ipv4List(env.get('dns')),
    leaseSeconds,
    serverId: isIPv4(serverId) ? serverId : '',
  };
}

/**
 * Turns one client process's hook records into lease events. udhcpc says `deconfig` at start-up,
 * when a lease is lost and when it releases on exit; only the state tells them apart. Create one
 * per client process; hand over the previous tracker's lease with `held` so a lease that outlives
 * a restarted process is still released or expired later.
 */
export class LeaseTracker {
  #lease: Lease | undefined;
  #stopping = false;
  /** Whether this process has reported a lease; its start-up deconfig comes before that. */
  #bound = false;

  constructor(held?: Lease) {
    this.#lease = held;
  }

  /** The lease currently held, if any. */
  get lease(): Lease | undefined {
    return this.#lease;
  }

  /** From now on a `deconfig` means the lease was released, not lost. */
  stopping(): void {
    this.#stopping = true;
  }

  /** The events a record produces (none for start-up deconfig, leasefail, nak or bad leases). */
  onRecord(record: HookRecord): DhcpLeaseEvent[] {
    switch (record.event) {
      case 'bound':
      case 'renew': {
        const lease = leaseOfRecord(record);
        if (!lease) return [];
        // A renew that brings another address is a new lease as far as the daemon is concerned.
        const type = record.event === 'renew' && this.#lease?.address === lease.address ? 'renew' : 'bound';
        this.#lease = lease;
        this.#bound = true;
        return [{ type, ...lease }];
      }
      case 'deconfig':
        if (this.#stopping) return this.#end('release');
        // The start-up deconfig of a restarted process must not drop the lease it inherited.
        return this.#bound ? this.#end('expire') : [];
      default:
        return [];
    }
  }

  /** Ends the lease (if one is held) without a record, e.g. the client died while stopping. */
  end(type: 'expire' | 'release'): DhcpLeaseEvent[] {
    return this.#end(type);
  }

  #end(type: 'expire' | 'release'): DhcpLeaseEvent[] {
    const lease = this.#lease;
    if (!lease) return [];
    this.#lease = undefined;
    return [{ type, ...lease }];
  }
}

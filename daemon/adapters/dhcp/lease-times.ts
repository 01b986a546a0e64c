/**
 * A DHCPv4 lease as the in-process client holds or remembers it, with the renewal (T1) and
 * rebinding (T2) times RFC 2131 §4.4.5 gives it. Pure.
 */
import type { DhcpLeaseEvent } from '../../core/manage-plan.js';
import { classfulPrefix, type ServerMessage } from './dhcp-packet.js';

/** The lease as the runtime hears of it, plus when it arrived and its timers. */
export interface Held extends Omit<DhcpLeaseEvent, 'type'> {
  /** When the ACK arrived (wall clock ms). */
  since: number;
  /** Seconds after `since`. */
  t1: number;
  t2: number;
}

/** The lease an ACK grants, received at `now`. */
export function heldOf(ack: ServerMessage, now: number): Held {
  const leaseSeconds = ack.leaseSeconds ?? 0;
  // Server-given T1/T2 only when they are in order (T1 < T2 < lease), else the defaults.
  const t1 =
    ack.t1 !== null && ack.t2 !== null && ack.t1 < ack.t2 && ack.t2 < leaseSeconds ? ack.t1 : leaseSeconds * 0.5;
  const t2 = ack.t2 !== null && t1 < ack.t2 && ack.t2 < leaseSeconds ? ack.t2 : leaseSeconds * 0.875;
  return {
    address: ack.yiaddr,
    prefixLength: ack.prefixLength ?? classfulPrefix(ack.yiaddr),
    router: ack.routers[0] ?? '',
    dns: ack.dns,
    leaseSeconds,
    serverId: ack.serverId,
    since: now,
    t1,
    t2,
  };
}

/** Whether the lease still runs at `now` (an infinite one always does). */
export function unexpired(l: Held, now: number): boolean {
  return l.leaseSeconds === 0 || l.since + l.leaseSeconds * 1000 > now;
}

/** The lease as the DhcpClient port reports it. */
export function eventOf(l: Held): Omit<DhcpLeaseEvent, 'type'> {
  return {
    address: l.address,
    prefixLength: l.prefixLength,
    router: l.router,
    dns: [...l.dns],
    leaseSeconds: l.leaseSeconds,
    serverId: l.serverId,
  };
}

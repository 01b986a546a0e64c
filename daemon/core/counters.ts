/**
 * Per-service counters, as ConnMan's `net.connman.Counter` API serves them
 * (`Manager.RegisterCounter`, `Counter.Usage`, `Service.ResetCounters`).
 *
 * ConnMan's model, kept here: the totals belong to the *service* (every counter sees the same
 * numbers, and `ResetCounters` resets them for all); what each counter owns is only what it was
 * last sent, so its first Usage for a service carries every key and later ones only the keys
 * whose value changed. Totals grow by the deltas of the link's kernel statistics between two
 * samples and are reported as `u`, wrapping at 2^32 like ConnMan's `unsigned int` fields.
 * `Time` is the seconds the service has been connected since counting began.
 *
 * Where ConnMan leaves gaps we decide (docs/behaviour.md, "Counters"): `accuracy` (kB) is a
 * threshold, as doc/manager-api.txt describes it (connmand ignores it: "FIXME"); a Usage with
 * nothing changed is not sent; totals start at the first sample after the daemon started (they
 * are not stored across restarts).
 *
 * Pure: the runtime feeds samples and the time, and sends what {@link CounterTable.usage} returns.
 */

import { BadCounterPeriodError, CounterExistsError, CounterLimitError, CounterNotRegisteredError } from './errors.js';
import type { PropDict } from './properties.js';

/**
 * A link's kernel statistics (`rtnl_link_stats64`): totals since the link was created. They
 * only grow, except when a driver resets them or the link is re-created.
 */
export interface LinkCounters {
  rxPackets: bigint;
  txPackets: bigint;
  rxBytes: bigint;
  txBytes: bigint;
  rxErrors: bigint;
  txErrors: bigint;
  rxDropped: bigint;
  txDropped: bigint;
}

/** Keys of a Usage dict, in ConnMan's order (`stats_append_counters`); every value is a `u`. */
export const COUNTER_KEYS = [
  'RX.Packets',
  'TX.Packets',
  'RX.Bytes',
  'TX.Bytes',
  'RX.Errors',
  'TX.Errors',
  'RX.Dropped',
  'TX.Dropped',
  'Time',
] as const;
/** One key of a Usage dict. */
export type CounterKey = (typeof COUNTER_KEYS)[number];

/**
 * Link statistics fields behind the first eight {@link COUNTER_KEYS}, in the same order — which
 * is also the order of the leading fields of the kernel's struct rtnl_link_stats(64).
 */
export const LINK_COUNTER_FIELDS = [
  'rxPackets',
  'txPackets',
  'rxBytes',
  'txBytes',
  'rxErrors',
  'txErrors',
  'rxDropped',
  'txDropped',
] as const satisfies ReadonlyArray<keyof LinkCounters>;

/** How many counters one bus client may hold (each costs a timer and a statistics read per period). */
export const MAX_COUNTERS_PER_CLIENT = 32;

/** One `RegisterCounter`: the counter object `path` at the bus client `owner`. */
export interface CounterRegistration {
  /** Unique per (owner, path). */
  readonly key: string;
  readonly owner: string;
  readonly path: string;
  /** Threshold in kB (1024 bytes) of RX+TX bytes between two Usage calls; 0 = every change. */
  readonly accuracyKb: number;
  /** Seconds between samples. */
  readonly periodS: number;
}

/** What one Usage call carries. */
export interface CounterUsage {
  home: PropDict;
  /** netsessiond has no roaming detection: all zeros in the first call, empty afterwards. */
  roaming: PropDict;
}

/** One service's running totals. */
interface ServiceTotals {
  ifindex: number;
  /** Link statistics at the last sample; null: the next sample only sets the baseline. */
  last: LinkCounters | null;
  total: LinkCounters;
  /** Connected time accumulated before `connectedSince`. */
  timeMs: number;
  /** When the current connected stretch began (clock ms), or null while disconnected. */
  connectedSince: number | null;
}

/** What one counter last sent for one service. */
interface Sent {
  /** Wire values in {@link COUNTER_KEYS} order. */
  values: number[];
  /** RX+TX bytes (unwrapped) when that Usage was sent: the accuracy threshold counts from here. */
  bytes: bigint;
  /** After a reset the next change is sent whatever the accuracy. */
  forced: boolean;
}

function zeroCounters(): LinkCounters {
  return {
    rxPackets: 0n,
    txPackets: 0n,
    rxBytes: 0n,
    txBytes: 0n,
    rxErrors: 0n,
    txErrors: 0n,
    rxDropped: 0n,
    txDropped: 0n,
  };
}

/** A total as ConnMan's `unsigned int` carries it: modulo 2^32. */
export function toUint32(v: bigint): number {
  return Number(BigInt.asUintN(32, v));
}

function dict(values: readonly number[], keys: readonly number[]): PropDict {
  const out: PropDict = {};
  for (const i of keys) out[COUNTER_KEYS[i]!] = { signature: 'u', value: values[i]! };
  return out;
}

const ALL_KEYS = COUNTER_KEYS.map((_, i) => i);
const ZEROS = COUNTER_KEYS.map(() => 0);

/** Counter registrations and per-service totals. */
export class CounterTable {
  readonly #regs = new Map<string, CounterRegistration>();
  readonly #sent = new Map<string, Map<string, Sent>>();
  readonly #services = new Map<string, ServiceTotals>();

  /** Registers a counter; the first Usage for each connected service will carry every key. */
  register(owner: string, path: string, accuracyKb: number, periodS: number): CounterRegistration {
    const key = `${owner}\n${path}`;
    if (this.#regs.has(key)) throw new CounterExistsError(path);
    if (!Number.isInteger(periodS) || periodS < 1) throw new BadCounterPeriodError(periodS);
    if (this.ofOwner(owner).length >= MAX_COUNTERS_PER_CLIENT) throw new CounterLimitError(MAX_COUNTERS_PER_CLIENT);
    const reg: CounterRegistration = { key, owner, path, accuracyKb, periodS };
    this.#regs.set(key, reg);
    this.#sent.set(key, new Map());
    return reg;
  }

  /** Removes the caller's counter at `path` (no Release: ConnMan sends that only at shutdown). */
  unregister(owner: string, path: string): CounterRegistration {
    const reg = this.#regs.get(`${owner}\n${path}`);
    if (!reg) throw new CounterNotRegisteredError(path);
    this.#drop(reg);
    return reg;
  }

  /** A client left the bus: its counters end. Returns them. */
  ownerGone(owner: string): CounterRegistration[] {
    const gone = this.ofOwner(owner);
    for (const reg of gone) this.#drop(reg);
    return gone;
  }

  /** The registration with this key, if it is still registered. */
  byKey(key: string): CounterRegistration | undefined {
    return this.#regs.get(key);
  }

  ofOwner(owner: string): CounterRegistration[] {
    return [...this.#regs.values()].filter((r) => r.owner === owner);
  }

  /** Every registration, oldest first. */
  all(): CounterRegistration[] {
    return [...this.#regs.values()];
  }

  #drop(reg: CounterRegistration): void {
    this.#regs.delete(reg.key);
    this.#sent.delete(reg.key);
  }

  /**
   * Folds one reading of the link statistics of a *connected* service into its totals. The
   * first reading (and the first after a reset or on a new ifindex) only sets the baseline.
   * A field that went down means the kernel counter restarted: its new value is the delta.
   */
  sample(serviceId: string, ifindex: number, raw: LinkCounters, now: number): void {
    const t = this.#services.get(serviceId);
    if (!t) {
      this.#services.set(serviceId, {
        ifindex,
        last: { ...raw },
        total: zeroCounters(),
        timeMs: 0,
        connectedSince: now,
      });
      return;
    }
    t.connectedSince ??= now;
    if (t.ifindex !== ifindex || t.last === null) {
      t.ifindex = ifindex;
      t.last = { ...raw };
      return;
    }
    for (const f of LINK_COUNTER_FIELDS) {
      const d = raw[f] - t.last[f];
      t.total[f] += d >= 0n ? d : raw[f];
    }
    t.last = { ...raw };
  }

  /** A service's connected state changed: `Time` runs only while it is connected. */
  setConnected(serviceId: string, connected: boolean, now: number): void {
    const t = this.#services.get(serviceId);
    if (!t) return;
    if (connected) t.connectedSince ??= now;
    else if (t.connectedSince !== null) {
      t.timeMs += Math.max(0, now - t.connectedSince);
      t.connectedSince = null;
    }
  }

  /** `Service.ResetCounters`: totals and time to zero for every counter; counting restarts at the next sample. */
  resetService(serviceId: string, connected: boolean, now: number): void {
    const t = this.#services.get(serviceId);
    if (!t) return;
    t.last = null;
    t.total = zeroCounters();
    t.timeMs = 0;
    t.connectedSince = connected ? now : null;
    for (const sent of this.#sent.values()) {
      const s = sent.get(serviceId);
      if (s) s.forced = true;
    }
  }

  /** The service is gone: its totals and what counters were sent about it are dropped. */
  removeService(serviceId: string): void {
    this.#services.delete(serviceId);
    for (const sent of this.#sent.values()) sent.delete(serviceId);
  }

  /** The wire values of a service now (`COUNTER_KEYS` order), or null if it was never sampled. */
  values(serviceId: string, now: number): number[] | null {
    const t = this.#services.get(serviceId);
    if (!t) return null;
    const ms = t.timeMs + (t.connectedSince === null ? 0 : Math.max(0, now - t.connectedSince));
    return [...LINK_COUNTER_FIELDS.map((f) => toUint32(t.total[f])), toUint32(BigInt(Math.floor(ms / 1000)))];
  }

  /**
   * The Usage `reg` should receive for a service now, or null when nothing is due: the first
   * call carries every key (roaming too, all zero); later calls carry the keys whose value
   * changed since the last call, and only once RX+TX bytes moved by `accuracy` kB (any change
   * when accuracy is 0, or after a reset). Marks what it returns as sent.
   */
  usage(reg: CounterRegistration, serviceId: string, now: number): CounterUsage | null {
    const sentMap = this.#sent.get(reg.key);
    const t = this.#services.get(serviceId);
    const values = this.values(serviceId, now);
    if (!sentMap || !t || !values) return null;
    const bytes = t.total.rxBytes + t.total.txBytes;
    const sent = sentMap.get(serviceId);
    if (!sent) {
      sentMap.set(serviceId, { values, bytes, forced: false });
      return { home: dict(values, ALL_KEYS), roaming: dict(ZEROS, ALL_KEYS) };
    }
    const changed = ALL_KEYS.filter((i) => values[i] !== sent.values[i]);
    if (changed.length === 0) return null;
    const moved = bytes >= sent.bytes ? bytes - sent.bytes : sent.bytes - bytes;
    if (!sent.forced && reg.accuracyKb > 0 && moved < BigInt(reg.accuracyKb) * 1024n) return null;
    sentMap.set(serviceId, { values, bytes, forced: false });
    return { home: dict(values, changed), roaming: {} };
  }
}

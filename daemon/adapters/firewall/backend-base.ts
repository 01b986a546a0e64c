/**
 * What the nftables and iptables backends share around their own reconcile: calls serialised
 * (an apply never interleaves with another apply, a clear, a read or a reset), the last desired
 * state kept for {@link FirewallBackendBase.verify}, statistics of the last apply, and warnings
 * logged once while they persist. Each backend supplies the apply itself (its retry ladder
 * differs) and how to clear.
 */

import type { FirewallState } from '../../core/kernel-state-types.js';
import type { Firewall, Logger } from '../../ports.js';

/** Options of one apply. */
export interface ApplyOptions {
  /** Read the kernel back instead of trusting the cache. */
  verify?: boolean;
}

/** What the last apply did (for tests and benchmarks); units per backend in its ApplyStats docs. */
export interface ApplyStats {
  /** Kernel changes in the batch that succeeded (nftables: each map element once; iptables: each restore line and NFACCT object). */
  ops: number;
  /** Calls made to apply them (nft commands; iptables-restore per family plus NFACCT batches). */
  commands: number;
  /** Bytes of nft script / iptables-restore input. */
  bytes: number;
  /** Whether the kernel was read back (verify, first apply, or a retry). */
  readBack: boolean;
  /** Batches tried: 1 normally, more after a failure. */
  attempts: number;
  /** The last resort was taken: everything of ours removed and built again. */
  rebuilt: boolean;
  /** Wall time of the whole apply, in ms. */
  ms: number;
  /** Sessions and classifiers that could not be expressed (and were left out). */
  warnings: string[];
}

export abstract class FirewallBackendBase implements Firewall {
  readonly #label: string;
  #queue: Promise<unknown> = Promise.resolve();
  #lastDesired: FirewallState | null = null;
  #lastStats: ApplyStats | null = null;
  #lastWarnings = new Set<string>();

  protected constructor(
    protected readonly log: Logger,
    label: string,
  ) {
    this.#label = label;
  }

  /** Statistics of the last successful apply (null before the first). */
  get lastApply(): ApplyStats | null {
    return this.#lastStats;
  }

  /** Kernel changes made by the last apply (0 when it found nothing to do). */
  get lastOps(): number {
    return this.#lastStats?.ops ?? 0;
  }

  /** Bytes of script the last apply ran (0 when it found nothing to do). */
  get lastBatchSize(): number {
    return this.#lastStats?.bytes ?? 0;
  }

  /** Makes the kernel match `desired` (see the backend's module comment for when it reads back). */
  apply(desired: FirewallState, opts: ApplyOptions = {}): Promise<void> {
    return this.serial(() => this.#apply(desired, opts.verify === true));
  }

  /** Re-applies the last desired state against a fresh read-back (a no-op before any apply). */
  verify(): Promise<void> {
    return this.serial(async () => {
      if (this.#lastDesired) await this.#apply(this.#lastDesired, true);
    });
  }

  /** Removes everything of ours from the kernel. */
  clear(): Promise<void> {
    return this.serial(async () => {
      await this.clearKernel();
      this.#lastDesired = null;
    });
  }

  async #apply(desired: FirewallState, verify: boolean): Promise<void> {
    this.#lastStats = await this.applyOnce(desired, verify);
    this.#lastDesired = desired;
  }

  /** Runs `fn` after every call queued before it, whether those succeeded or not. */
  protected serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /** Logs each warning once, when it first appears; a warning that goes away may be logged again later. */
  protected reportWarnings(warnings: readonly string[]): void {
    const now = new Set(warnings);
    for (const w of now) if (!this.#lastWarnings.has(w)) this.log('warn', `${this.#label}: ${w}`);
    this.#lastWarnings = now;
  }

  /** One reconcile of the kernel with `desired` (inside the queue); throws when it could not. */
  protected abstract applyOnce(desired: FirewallState, verify: boolean): Promise<ApplyStats>;

  /** Removes every object of ours (inside the queue). */
  protected abstract clearKernel(): Promise<void>;
}

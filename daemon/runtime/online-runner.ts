/**
 * Runs the online checks the engine asks for: one pure scheduler state per service family
 * (daemon/core/online-schedule.ts), timers from the Clock port, probes through the
 * OnlineCheck port. Results go back to the engine through `report`.
 */

import type { OnlineCheckResult } from '../core/online-schedule.js';
import {
  type CheckAction,
  type CheckState,
  initialCheckState,
  type OnlineCheckSettings,
  onConnected,
  onResult,
} from '../core/online-schedule.js';
import type { Family } from '../core/services.js';
import type { Clock, OnlineCheck } from '../ports.js';

/** Where a probe must go out: the service's interface and address, looked up at probe time. */
export interface ProbeTarget {
  ifname: string;
  ifindex: number;
  localAddress: string;
}

export interface OnlineRunnerDeps {
  settings: OnlineCheckSettings;
  probe: OnlineCheck;
  clock: Clock;
  urls: Record<Family, string>;
  target(serviceId: string, family: Family): ProbeTarget | null;
  report(serviceId: string, family: Family, online: boolean, portal: string | null, error: string): void;
  log(msg: string): void;
}

interface Entry {
  state: CheckState;
  timer: { cancel(): void } | null;
  abort: AbortController | null;
}

export class OnlineRunner {
  readonly #entries = new Map<string, Entry>();
  /** Probes due while held, in the order they fell due; null when not held. */
  #held: Array<{ serviceId: string; family: Family; entry: Entry }> | null = null;

  constructor(private readonly deps: OnlineRunnerDeps) {}

  /** The family became usable (or its address changed): check from scratch. */
  start(serviceId: string, family: Family): void {
    this.stop(serviceId, family);
    const entry: Entry = { state: initialCheckState(), timer: null, abort: null };
    this.#entries.set(key(serviceId, family), entry);
    const r = onConnected(this.deps.settings, entry.state);
    entry.state = r.state;
    this.#act(serviceId, family, entry, r.action);
  }

  /** The family is gone: cancel its timer and any probe in flight. */
  stop(serviceId: string, family: Family): void {
    const k = key(serviceId, family);
    const e = this.#entries.get(k);
    if (!e) return;
    e.timer?.cancel();
    e.abort?.abort(new Error('online check stopped'));
    this.#entries.delete(k);
  }

  stopAll(): void {
    for (const k of [...this.#entries.keys()]) {
      const [id, fam] = split(k);
      this.stop(id, fam);
    }
  }

  /**
   * Probes that fall due wait until {@link release}: at start-up a probe (an HTTP exchange per
   * service and family, and Node compiling its address parsers) competes with the start for the
   * CPU, and READY=1 came ~30 ms later for it (docs/architecture.md, "Memory and start-up").
   */
  hold(): void {
    this.#held ??= [];
  }

  /** Runs the probes that fell due while held (those of families still checked with the same state). */
  release(): void {
    const due = this.#held ?? [];
    this.#held = null;
    for (const d of due) void this.#probe(d.serviceId, d.family, d.entry);
  }

  /** Number of families being checked (for tests and stats). */
  get size(): number {
    return this.#entries.size;
  }

  #act(serviceId: string, family: Family, entry: Entry, action: CheckAction): void {
    if (action.kind === 'stop') return;
    entry.timer = this.deps.clock.setTimeout(() => {
      entry.timer = null;
      if (this.#held) this.#held.push({ serviceId, family, entry });
      else void this.#probe(serviceId, family, entry);
    }, action.delayMs);
  }

  async #probe(serviceId: string, family: Family, entry: Entry): Promise<void> {
    // Stopped or restarted while its probe was held.
    if (this.#entries.get(key(serviceId, family)) !== entry) return;
    const target = this.deps.target(serviceId, family);
    let result: OnlineCheckResult;
    if (!target) {
      result = { kind: 'failure', reason: 'no usable address' };
    } else {
      const abort = new AbortController();
      entry.abort = abort;
      try {
        result = await this.deps.probe.probe(
          { serviceId, family, ...target, url: this.deps.urls[family] },
          abort.signal,
        );
      } catch (err) {
        // An aborted probe belongs to a stopped or restarted check: its result means nothing.
        if (abort.signal.aborted) return;
        result = { kind: 'failure', reason: (err as Error).message };
      } finally {
        entry.abort = null;
      }
    }
    // The entry may have been stopped or replaced while the probe ran.
    if (this.#entries.get(key(serviceId, family)) !== entry) return;
    const r = onResult(this.deps.settings, entry.state, result);
    const changed =
      r.online !== entry.state.online || r.portal !== entry.state.portal || r.state.error !== entry.state.error;
    entry.state = r.state;
    this.deps.log(
      `online check ${serviceId} v${family}: ${result.kind}${result.kind === 'failure' ? ` (${result.reason})` : ''}`,
    );
    if (changed) this.deps.report(serviceId, family, r.online, r.portal, r.state.error ?? '');
    this.#act(serviceId, family, entry, r.action);
  }
}

function key(serviceId: string, family: Family): string {
  return `${serviceId}/${family}`;
}

function split(k: string): [string, Family] {
  const i = k.lastIndexOf('/');
  return [k.slice(0, i), Number(k.slice(i + 1)) as Family];
}

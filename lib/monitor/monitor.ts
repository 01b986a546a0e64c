/**
 * `monitorUplinks()`: one session pinned to each uplink the daemon has, each probed in
 * parallel through its own uplink on a fixed interval, with per-uplink results and
 * reachability changes as events.
 *
 * The service list (the transport's `watchServices`) says which uplinks exist; every tick
 * reconciles that with the sessions (making the missing ones, dropping the ones whose service
 * went) and starts a probe on each uplink that has none in flight.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { createSession } from '../create-session.js';
import { getDefaultTransport } from '../default-transport.js';
import { InvalidOptionError, NetsessionError, ProbeFailedError, TimeoutError } from '../errors.js';
import type { ServiceInfo } from '../manager-transport.js';
import type { Bearer } from '../protocol.js';
import type { Session } from '../session.js';
import type { Transport } from '../transport.js';
import { LossWindow } from './loss-window.js';
import { type MonitorConfig, type MonitorUplinksOptions, monitorConfig } from './options.js';

/** One probe's outcome on one uplink. */
export interface UplinkResult {
  /** The uplink's interface name. */
  readonly interface: string;
  readonly bearer: Bearer | null;
  /** The local address the probe left from (`null` when the session had none). */
  readonly address: string | null;
  /** The probe succeeded. */
  readonly reachable: boolean;
  /** How long a successful probe took, in ms (`null` when it failed). */
  readonly rttMs: number | null;
  /** Failed / all probes among the last `window` ones, this one included. */
  readonly lossRatio: number;
  /** Probes `lossRatio` covers (fewer than `window` at first). */
  readonly probes: number;
  /** Why it failed: a {@link TimeoutError}, a {@link NotConnectedError} (the uplink has no address), or a {@link ProbeFailedError} wrapping a socket error, … */
  readonly error: NetsessionError | null;
  /** When it finished (`Date.now()`). */
  readonly time: number;
}

/** What the monitor knows of one uplink. */
export interface UplinkStatus {
  /** The daemon's service for it. */
  readonly service: ServiceInfo;
  /** The session pinned to it (`null` while it is being made, or after it was lost). */
  readonly session: Session | null;
  /** Its last result's reachability (`null` before the first). */
  readonly reachable: boolean | null;
  readonly last: UplinkResult | null;
}

/** Events of an {@link UplinkMonitor}. */
export interface UplinkMonitorEvents {
  /** A service appeared: it is monitored from now on. */
  added: [service: ServiceInfo];
  /** A service went away: its session is destroyed. */
  removed: [service: ServiceInfo];
  /** Every probe's outcome. */
  result: [result: UplinkResult];
  /** An uplink's first successful probe, or its first success after a failure. */
  up: [result: UplinkResult];
  /** An uplink's first failed probe, or its first failure after a success. */
  down: [result: UplinkResult];
  /** The service list or a session could not be had (emitted only when someone listens; the monitor retries). */
  error: [error: NetsessionError];
  /** The monitor closed (`close()` or `signal`). */
  close: [];
}

interface Entry {
  service: ServiceInfo;
  session: Session | null;
  creating: boolean;
  probing: AbortController | null;
  window: LossWindow;
  reachable: boolean | null;
  last: UplinkResult | null;
  gone: boolean;
}

/** Lets a throwing listener surface as an uncaught exception without breaking the monitor's own flow. */
/** A probe's failure as an SDK error: ours pass through, anything else is wrapped (its text kept). */
function asNetsessionError(err: unknown): NetsessionError {
  if (err instanceof NetsessionError) return err;
  return new ProbeFailedError(err instanceof Error ? err.message : String(err), { cause: err });
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    process.nextTick(() => {
      throw err;
    });
  }
}

/** A running uplink monitor; made by {@link monitorUplinks}. */
export class UplinkMonitor extends EventEmitter<UplinkMonitorEvents> {
  readonly #config: MonitorConfig;
  readonly #transport: Transport;
  readonly #entries = new Map<string, Entry>();
  readonly #abort = new AbortController();
  readonly #timer: NodeJS.Timeout;
  readonly #unwatch: () => void;
  #closing: Promise<void> | null = null;

  /** @internal use {@link monitorUplinks} */
  static _start(config: MonitorConfig): UplinkMonitor {
    return new UplinkMonitor(config);
  }

  private constructor(config: MonitorConfig) {
    super();
    this.#config = config;
    const transport = config.transport ?? getDefaultTransport();
    if (typeof transport.watchServices !== 'function')
      throw new InvalidOptionError('transport', 'must implement watchServices to monitor uplinks');
    this.#transport = transport;
    this.#timer = setInterval(() => this.#tick(), config.interval);
    this.#unwatch = transport.watchServices(
      (services) => this.#onServices(services),
      (err) => this.#fail(err),
    );
    if (config.signal?.aborted) void this.close();
    else config.signal?.addEventListener('abort', () => void this.close(), { once: true });
  }

  /** Every monitored uplink by interface name, with its last result. */
  get uplinks(): ReadonlyMap<string, UplinkStatus> {
    const out = new Map<string, UplinkStatus>();
    for (const [name, e] of this.#entries)
      out.set(name, { service: e.service, session: e.session, reachable: e.reachable, last: e.last });
    return out;
  }

  /** True once `close()` was called or `signal` aborted. */
  get closed(): boolean {
    return this.#closing !== null;
  }

  /** Stops probing, destroys the sessions and stops watching the services. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #close(): Promise<void> {
    clearInterval(this.#timer);
    this.#unwatch();
    this.#abort.abort();
    const sessions: Session[] = [];
    for (const e of this.#entries.values()) {
      e.gone = true;
      e.probing?.abort();
      if (e.session) sessions.push(e.session);
    }
    this.#entries.clear();
    await Promise.all(sessions.map((s) => s.destroy().catch(() => undefined)));
    safely(() => this.emit('close'));
  }

  #fail(err: NetsessionError): void {
    if (this.#closing || this.listenerCount('error') === 0) return;
    safely(() => this.emit('error', err));
  }

  #onServices(services: readonly ServiceInfo[]): void {
    if (this.#closing) return;
    const wanted = new Map<string, ServiceInfo>();
    for (const s of services)
      if (s.interface !== null && !wanted.has(s.interface) && this.#config.filter(s)) wanted.set(s.interface, s);
    for (const [name, e] of [...this.#entries]) {
      const s = wanted.get(name);
      if (s) e.service = s;
      else this.#remove(name, e);
    }
    for (const [name, service] of wanted) {
      if (this.#entries.has(name)) continue;
      const e: Entry = {
        service,
        session: null,
        creating: false,
        probing: null,
        window: new LossWindow(this.#config.window),
        reachable: null,
        last: null,
        gone: false,
      };
      this.#entries.set(name, e);
      safely(() => this.emit('added', service));
      this.#open(name, e);
    }
  }

  #remove(name: string, e: Entry): void {
    this.#entries.delete(name);
    e.gone = true;
    e.probing?.abort();
    e.session?.destroy().catch(() => undefined);
    e.session = null;
    safely(() => this.emit('removed', e.service));
  }

  /** Reconciles and probes; runs every `interval`. */
  #tick(): void {
    for (const [name, e] of this.#entries) {
      if (!e.session) this.#open(name, e);
      else if (!e.probing) void this.#probe(e);
    }
  }

  /** Makes the uplink's pinned session, then probes it at once. */
  #open(name: string, e: Entry): void {
    if (e.creating || e.session || e.gone) return;
    e.creating = true;
    const bearer = e.service.bearer;
    createSession({
      transport: this.#transport,
      allowedInterface: name,
      // Pinned by name; the bearer list must still admit it (vpn is not in the default '*').
      allowedBearers: bearer ? [bearer] : ['*'],
      sourceIPRule: true,
      signal: this.#abort.signal,
    }).then(
      (session) => {
        e.creating = false;
        if (e.gone || this.#closing) {
          session.destroy().catch(() => undefined);
          return;
        }
        e.session = session;
        // Lost with the daemon or released: made again on a later tick while the service is listed.
        session.once('destroyed', () => {
          if (e.session === session) e.session = null;
        });
        void this.#probe(e);
      },
      (err: unknown) => {
        e.creating = false;
        if (!e.gone && !this.#closing && err instanceof NetsessionError) this.#fail(err);
      },
    );
  }

  async #probe(e: Entry): Promise<void> {
    const session = e.session;
    if (!session || e.probing) return;
    const ac = new AbortController();
    e.probing = ac;
    const { timeout } = this.#config;
    const timer = setTimeout(() => ac.abort(new TimeoutError(`probe timed out after ${timeout} ms`, timeout)), timeout);
    let address: string | null = null;
    try {
      address = session.socketOptions().localAddress;
    } catch {
      // No address: the probe itself fails with the reason.
    }
    const t0 = performance.now();
    let error: NetsessionError | null = null;
    try {
      await this.#config.probe(session, ac.signal);
      // A probe that ignored its signal and succeeded late still counts as lost.
      if (ac.signal.aborted) throw ac.signal.reason;
    } catch (err) {
      error = ac.signal.aborted && ac.signal.reason instanceof TimeoutError ? ac.signal.reason : asNetsessionError(err);
    }
    const rtt = performance.now() - t0;
    clearTimeout(timer);
    if (e.probing === ac) e.probing = null;
    // Removed or closed meanwhile (its abort is not a timeout): no result.
    if (e.gone || (ac.signal.aborted && !(ac.signal.reason instanceof TimeoutError))) return;
    const reachable = error === null;
    e.window.push(reachable);
    const result: UplinkResult = Object.freeze({
      interface: e.service.interface!,
      bearer: session.bearer ?? e.service.bearer,
      address,
      reachable,
      rttMs: reachable ? rtt : null,
      lossRatio: e.window.lossRatio,
      probes: e.window.count,
      error,
      time: Date.now(),
    });
    e.last = result;
    safely(() => this.emit('result', result));
    if (e.reachable !== reachable) {
      e.reachable = reachable;
      safely(() => this.emit(reachable ? 'up' : 'down', result));
    }
  }
}

/**
 * Monitors every uplink of the daemon: one session per uplink (`allowedInterface` +
 * `sourceIPRule: true`), discovered from the daemon's service list and kept in step with it,
 * each probed through its own uplink every `interval` ms — all uplinks in parallel. Emits
 * `result` for every probe and `up`/`down` when an uplink's reachability changes. Throws
 * {@link InvalidOptionError} for bad options or a transport without `watchServices`.
 *
 * @example
 * const monitor = monitorUplinks({ target: 'https://example.com/health', interval: 2000 });
 * monitor.on('down', (r) => console.log(`${r.interface} lost: ${r.error?.message}`));
 * monitor.on('up', (r) => console.log(`${r.interface} back, ${r.rttMs?.toFixed(1)} ms`));
 */
export function monitorUplinks(options: MonitorUplinksOptions): UplinkMonitor {
  return UplinkMonitor._start(monitorConfig(options));
}

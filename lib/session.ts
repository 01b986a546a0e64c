/**
 * A network session: what the daemon decided for this app (state, uplink, addresses), kept
 * current from the daemon's Updates, with events, waiting and the Session methods.
 */
import type { EventEmitter } from 'node:events';
import type net from 'node:net';

import { connectBound, type SessionConnectOptions } from './bind/sockets.js';
import { race, type WaitOptions } from './deadline.js';
import {
  DaemonUnavailableError,
  ExtensionNotSupportedError,
  InvalidOptionError,
  type NetsessionError,
  SessionClosedError,
  type SessionClosedReason,
} from './errors.js';
import { type SessionOptions, toSessionRequest } from './options.js';
import type { RequestKey, SessionSettings } from './protocol.js';
import type { PersistentOptions, SessionEvents } from './session-events.js';
import { blockedBearers, checkExtensions, extension, isSessionOver, policyName } from './session-extensions.js';
import { Persistence } from './session-persistence.js';
import { StatisticsEvent } from './session-statistics.js';
import { SessionValues } from './session-values.js';
import { SessionView } from './session-view.js';
import { decodeUpdate, type SessionInfo, UPLINK_INFO } from './settings.js';
import type { SessionNotifier, SessionRequest, SessionStatistics, Transport, TransportSession } from './transport.js';
import { UplinkFollower } from './uplink-follower.js';

interface Ending {
  reason: SessionClosedReason;
  /** What `destroyed` carries. */
  error: NetsessionError | null;
}

/**
 * A per-application network session. Create it with {@link createSession}; it is valid (its
 * `state`, `interface`, … are the daemon's) as soon as that resolves.
 *
 * A live session keeps the process running, like an open socket: `destroy()` it when done, or
 * use `await using`.
 */
export class Session extends SessionValues {
  readonly #transport: Transport;
  /** What the app asked for (CreateSession, then each Change the daemon accepted). */
  #request: SessionRequest;
  #handle: TransportSession | null = null;
  #gotFirst = false;
  readonly #first: Promise<void>;
  #firstDone!: { resolve(): void; reject(err: unknown): void };
  #ending: Ending | null = null;
  #destroying: Promise<void> | null = null;
  readonly #view = new SessionView({
    emit: this.emit.bind(this),
    closedError: () => (this.#ending ? this.#closedError() : null),
    blockedBearers: () => blockedBearers(this.settings, this.#request),
    policyName: () => (this.#handle ? policyName(this.#transport, this.path) : Promise.resolve(null)),
  });
  /** The daemon's services, for the bound uplink's properties (nameservers, metered, …). */
  readonly #uplink = new UplinkFollower({
    changed: () => this.#followUplink(),
    // The daemon's services are back: it probably is too.
    servicesSeen: () => this.#persistence?.poke(),
  });
  /** Set for a persistent session: how it waits for a lost daemon. */
  #persistence: Persistence | null = null;
  /** Each making of the session on the daemon; a notifier of an older one is ignored. */
  #generation = 0;
  readonly #statistics = new StatisticsEvent({
    emitter: this as unknown as EventEmitter,
    ending: () => this.#ending !== null,
    attached: () => this.#handle !== null,
    watch: async (seconds, listener) => {
      this._assertOpen();
      const watch = await extension(this.#transport, 'StatisticsSignal', 'watchStatistics');
      return this.#call(() => watch(this.path, seconds, listener));
    },
  });

  private constructor(transport: Transport, request: SessionRequest) {
    super();
    this.#transport = transport;
    this.#request = request;
    this.#first = new Promise<void>((resolve, reject) => {
      this.#firstDone = { resolve, reject };
    });
    // Rejected when a half-made session ends; whoever waits on it handles that, nobody else must.
    this.#first.catch(() => undefined);
  }

  /**
   * Creates a session on `transport` and resolves once its first Update arrived. Used by
   * {@link createSession}; on failure or abort the half-made session is destroyed.
   * @internal
   */
  static async _open(
    transport: Transport,
    request: SessionRequest,
    opts: WaitOptions,
    persistent?: PersistentOptions | null,
  ): Promise<Session> {
    const s = new Session(transport, request);
    if (persistent) s.#persist(persistent);
    const servicesKnown = s.#uplink.start(transport);
    const check = checkExtensions(transport, request);
    const creating = check
      ? check.then(() => transport.createSession(request, s.#notifier()))
      : transport.createSession(request, s.#notifier());
    const ready = creating.then(async (handle) => {
      s.#handle = handle;
      await Promise.all([s.#first, servicesKnown]);
      // The services may have arrived after the first Update: the uplink's properties now.
      s.#followUplink();
    });
    try {
      await race(ready, opts, 'createSession');
    } catch (err) {
      s.#end('destroyed', null, false);
      // The daemon may still answer CreateSession after we gave up: destroy what it made.
      creating.then((h) => h.destroy()).catch(() => undefined);
      throw err;
    }
    return s;
  }

  // ------------------------------------------------------------------ current values

  /** The session's object path on the daemon (`/sessions/...`). */
  get path(): string {
    return this.#handle?.path ?? '';
  }

  /** Everything the session knows, as one frozen object (replaced, never mutated, on each Update and each change of its uplink's properties). */
  get settings(): SessionInfo {
    return this.#view.info;
  }

  /** True once the session ended (destroyed, released by the daemon, or lost). */
  get destroyed(): boolean {
    return this.#ending !== null;
  }

  // ------------------------------------------------------------------ Session methods

  /**
   * Asks the daemon to connect the session's uplink (`Session.Connect`): the session becomes
   * active again after {@link Session.disconnect}. Updates it causes are applied by the time it resolves.
   */
  connect(): Promise<void>;
  /**
   * Opens a TCP connection to `host:port` that leaves through the session's uplink (bound to
   * its address; see {@link Session.socketOptions}). Throws {@link NotConnectedError} when the
   * session has no address to bind, {@link SourceIPRuleRequiredError} when its `sourceIPRule` is off.
   */
  connect(port: number, host: string, options?: SessionConnectOptions): net.Socket;
  // One implementation for both: no arguments is Session.Connect, a port is a socket.
  connect(...args: unknown[]): Promise<void> | net.Socket {
    if (args.length === 0) return this.#call((h) => h.connect());
    if (typeof args[0] !== 'number')
      throw new InvalidOptionError(
        'port',
        'connect() takes no arguments (Session.Connect) or a port number and a host',
      );
    this._assertOpen();
    return connectBound(this.#view.info, args[0], args[1] as string, args[2] as SessionConnectOptions | undefined);
  }

  /** Detaches the session from its uplink until the next {@link Session.connect} (`Session.Disconnect`). */
  disconnect(): Promise<void> {
    return this.#call((h) => h.disconnect());
  }

  /**
   * Changes settings. Validated first (an {@link InvalidOptionError} sends nothing), then one
   * `Session.Change` per key, in a fixed order. The session's values follow the daemon's
   * Updates, which arrive before each Change's reply: when this resolves they are current. If
   * the daemon rejects a key, the promise rejects with its error; keys before it stay applied.
   */
  async change(options: SessionOptions): Promise<void> {
    const request = toSessionRequest(options);
    this._assertOpen();
    await checkExtensions(this.#transport, request);
    for (const [key, value] of Object.entries(request) as Array<[RequestKey, never]>) {
      // Set before the call: the Updates it causes arrive before its reply, and waits judge them by it.
      const before = this.#request;
      this.#request = { ...before, [key]: value };
      try {
        await this.#call((h) => h.change(key, value));
      } catch (err) {
        if (this.#request[key] === value) this.#request = { ...this.#request, [key]: before[key] };
        throw err;
      }
    }
  }

  /**
   * Per-session traffic counters (netsessiond's `GetStatistics`). Rejects with
   * {@link ExtensionNotSupportedError} when the daemon lacks the `Statistics` capability (a real
   * connmand, or netsessiond without its kernel datapath).
   */
  async statistics(): Promise<SessionStatistics> {
    this._assertOpen();
    const read = await extension(this.#transport, 'Statistics', 'statistics');
    return this.#call(() => read(this.path));
  }

  /**
   * How often the `statistics` event fires while someone listens: `ms` is a whole number of
   * seconds from 1 s to 1 h (default 1000). Throws {@link InvalidOptionError} for anything else.
   * With listeners already there, the daemon is asked at once (the next event comes right away).
   */
  setStatisticsInterval(ms: number): this {
    this.#statistics.setInterval(ms);
    return this;
  }

  /**
   * Claims cgroupv2 `cgroup` (an absolute path in the cgroup2 hierarchy, e.g.
   * `/netsession.run/4242`) for the session: from the moment this resolves, the traffic of every
   * process in that cgroup is marked, routed and counted as the session's, until the session ends
   * (netsessiond's `ClaimCgroup`; `netsessionctl run` is built on it). The daemon lets root claim
   * any cgroup and anyone else only a cgroup directory they own. Rejects with
   * {@link ExtensionNotSupportedError} when the daemon lacks the `ClaimCgroup` capability (a real
   * connmand, or netsessiond without its kernel datapath), or with the daemon's error
   * (`InvalidArgumentsError` for a bad path, `NotFoundError`, `PermissionDeniedError`).
   */
  async claimCgroup(cgroup: string): Promise<void> {
    if (typeof cgroup !== 'string' || !cgroup.startsWith('/'))
      throw new InvalidOptionError('cgroup', `must be an absolute cgroup path, got ${JSON.stringify(cgroup)}`);
    this._assertOpen();
    const claim = await extension(this.#transport, 'ClaimCgroup', 'claimCgroup');
    return this.#call(() => claim(this.path, cgroup));
  }

  /**
   * Ends the session (`Session.Destroy`). Idempotent: later calls return the same promise. The
   * session is closed at once (`destroyed` fires before this resolves); the promise rejects only
   * if the daemon refused (a session the daemon already forgot, or a daemon that is gone, is fine).
   */
  destroy(): Promise<void> {
    if (this.#destroying) return this.#destroying;
    const handle = this.#ending ? null : this.#handle;
    this.#end('destroyed', null);
    this.#destroying = handle
      ? handle.destroy().catch((err: unknown) => {
          if (!isSessionOver(err)) throw err;
        })
      : Promise.resolve();
    return this.#destroying;
  }

  /** `await using s = await createSession()`: destroys the session at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.destroy();
  }

  /** @internal */
  protected get _view(): SessionView {
    return this.#view;
  }

  /**
   * Removes listeners as EventEmitter does; the session keeps following its `statistics`
   * listeners afterwards (it watches them with `newListener`/`removeListener` listeners of its own).
   */
  override removeAllListeners(...args: Parameters<EventEmitter<SessionEvents>['removeAllListeners']>): this {
    super.removeAllListeners(...args);
    const [event] = args;
    if (event === undefined || event === 'newListener' || event === 'removeListener') this.#statistics.follow();
    this.#statistics.sync();
    return this;
  }

  // ------------------------------------------------------------------ internals

  #notifier(generation = this.#generation): SessionNotifier {
    const current = () => generation === this.#generation;
    return {
      update: (settings) => {
        if (current()) this.#onUpdate(settings);
      },
      release: () => {
        if (current()) this.#daemonLost(new SessionClosedError('released', 'the daemon released the session'));
      },
      lost: (error) => {
        if (!current()) return;
        // Only the daemon going away is survivable; a closed transport or a forgotten session is not.
        if (error instanceof DaemonUnavailableError) this.#daemonLost(error);
        else this.#end(error instanceof SessionClosedError ? error.reason : 'lost', error);
      },
    };
  }

  /** Applies the bound uplink's properties from the service list, as an update of their keys. */
  #followUplink(): void {
    if (this.#ending || !this.#gotFirst) return;
    this.#view.apply(this.#uplink.propertiesFor(this.#view.info.interface));
  }

  #onUpdate(wire: Partial<SessionSettings>): void {
    if (this.#ending) return;
    const decoded = decodeUpdate(wire);
    // The properties of the uplink the session is (now) bound to go with the same update.
    const iface = decoded.interface !== undefined ? decoded.interface : this.#view.info.interface;
    const update = { ...decoded, ...this.#uplink.propertiesFor(iface) };
    if (!this.#gotFirst) {
      // The first Update carries every key; nobody can listen yet (createSession has not resolved).
      this.#gotFirst = true;
      this.#view.first(update);
      this.#firstDone.resolve();
      return;
    }
    this.#view.apply(update);
    // The first Update of the session made again: everything is current now.
    if (this.#persistence?.restoredBy()) this.emit('daemon-restored');
  }

  /**
   * Closes the session client-side, once: the uplink values are cleared (with their events, as
   * a last update), iterators end, waiters reject, then `destroyed` (and `error`) fire.
   */
  #end(reason: SessionClosedReason, error: NetsessionError | null, announce = true): void {
    if (this.#ending) return;
    this.#ending = { reason, error };
    this.#persistence?.cancel();
    this.#uplink.stop();
    // A session that ends before its first Update fails createSession with the cause itself (after
    // it, createSession has resolved: no error is built, whose stack trace costs more than the rest).
    if (!this.#gotFirst) this.#firstDone.reject(error ?? this.#closedError());
    if (!announce) return;
    // The app's own destroy() is not a loss of the uplink: the values are cleared without
    // events, so an app that alarms on 'offline' does not alarm on every clean shutdown.
    if (this.#gotFirst) this.#view.close(reason === 'destroyed' && error === null);
    if (error && !(error instanceof SessionClosedError) && this.listenerCount('error') > 0) this.emit('error', error);
    this._closeBindings();
    this.#statistics.sync();
    this.emit('destroyed', error, reason);
  }

  #closedError(): SessionClosedError {
    const ending = this.#ending!;
    if (ending.error instanceof SessionClosedError) return ending.error;
    return new SessionClosedError(ending.reason, undefined, ending.error ? { cause: ending.error } : undefined);
  }

  /** @internal */
  protected _assertOpen(): void {
    if (this.#ending) throw this.#closedError();
  }

  /** Runs a daemon call; an answer meaning "this session is over" closes the session too. */
  async #call<T>(fn: (h: TransportSession) => Promise<T>): Promise<T> {
    this._assertOpen();
    const handle = this.#handle;
    if (!handle)
      throw new DaemonUnavailableError(
        'no-daemon',
        'the session daemon is gone; this persistent session waits for it to return',
      );
    try {
      return await fn(handle);
    } catch (err) {
      if (err instanceof DaemonUnavailableError) this.#daemonLost(err, handle);
      else if (isSessionOver(err)) this.#end('gone', err);
      throw err;
    }
  }

  /**
   * The daemon of generation `handle` is gone. A plain session ends; a persistent one clears its
   * uplink (a real loss, with its events), says so once, and waits for the daemon to return.
   */
  #daemonLost(error: NetsessionError, handle: TransportSession | null = this.#handle): void {
    if (this.#ending || handle !== this.#handle) return;
    if (!this.#persistence?.lose(error)) this.#end(error instanceof SessionClosedError ? error.reason : 'lost', error);
  }

  #persist(options: PersistentOptions): void {
    this.#persistence = new Persistence(options, {
      createAgain: () => this.#transport.createSession(this.#request, this.#notifier(this.#generation)),
      detach: (error) => {
        this.#handle = null;
        this.#generation++;
        this.#view.apply(UPLINK_INFO);
        this.emit('daemon-lost', error);
        this.#statistics.sync();
      },
      attach: (handle) => {
        this.#handle = handle;
        this.#statistics.sync();
      },
      ending: () => this.#ending !== null,
      end: (reason, error) => this.#end(reason, error),
    });
  }
}

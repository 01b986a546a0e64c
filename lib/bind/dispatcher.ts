/**
 * An undici `Dispatcher` that follows a session, and `fetch` through it.
 *
 * Each generation is an undici `Agent` whose connector binds every new connection to the
 * session's address of the moment (undici's `connect.localAddress` is ignored — its client
 * passes its own `localAddress` to the connector — so the connector sets it per call). When the
 * session moves, the dispatcher swaps to a new generation and closes the old one gracefully:
 * requests in flight finish, its idle connections close, nothing new is sent on them.
 *
 * undici costs ~60 ms to load, so it is loaded on first use, not with the SDK.
 */
import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type * as Undici from 'undici';
import { InvalidOptionError } from '../errors.js';
import { type BindableSession, followBinding } from './follow.js';
import { sessionLookup } from './lookup.js';
import { socketOptionsOf } from './options.js';

/**
 * The dispatcher Node's global `fetch` takes (@types/node's copy of undici's types), or `unknown`
 * where the DOM lib's fetch types replace Node's (they have no `dispatcher`).
 */
export type GlobalFetchDispatcher = RequestInit extends { dispatcher?: infer D } ? NonNullable<D> : unknown;

/**
 * What `Session.dispatcher()` returns: an undici 7 `Dispatcher` (the SDK's own undici, for
 * undici's `request`/`fetch`) that is also the type Node's global `fetch` takes — at run time
 * Node's fetch drives it as it drives its own (undici's handler API is the same on both sides),
 * so `fetch(url, { dispatcher: s.dispatcher() })` compiles under `strict` and works.
 */
export type SessionDispatcher = Undici.Dispatcher & GlobalFetchDispatcher;

/** `Omit` over each member of a union (undici's connector options are one). */
type OmitEach<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Options of `Session.dispatcher()`: undici's `Agent` options, less the binding (the session's). */
export type SessionDispatcherOptions = Omit<Undici.Agent.Options, 'connect' | 'localAddress' | 'factory'> & {
  /** Connector options (TLS options, `keepAlive`, …); not a function, and without `localAddress`/`family`. */
  connect?: OmitEach<Undici.buildConnector.BuildOptions, 'localAddress' | 'family'>;
};

type UndiciModule = typeof Undici;
let undici: UndiciModule | null = null;

/** undici, loaded once on first use. */
export function loadUndici(): UndiciModule {
  undici ??= createRequire(import.meta.url)('undici') as UndiciModule;
  return undici;
}

type Connector = Undici.buildConnector.connector;
const FORWARDED = ['connect', 'disconnect', 'connectionError'] as const;

function checkOptions(options: SessionDispatcherOptions): void {
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', 'must be an object');
  const o = options as Record<string, unknown>;
  if (o.localAddress !== undefined)
    throw new InvalidOptionError('localAddress', "is the session's address: it cannot be set");
  if (o.factory !== undefined) throw new InvalidOptionError('factory', 'is not supported by a session dispatcher');
  const c = o.connect as Record<string, unknown> | undefined;
  if (c !== undefined && (c === null || typeof c !== 'object'))
    throw new InvalidOptionError(
      'connect',
      'must be an object of connector options (a custom connector function cannot be bound)',
    );
  if (c?.localAddress !== undefined || c?.family !== undefined)
    throw new InvalidOptionError('connect', "localAddress and family are the session's: they cannot be set");
}

/** A connector that binds each connection to the session's address of the moment. */
function sessionConnector(session: BindableSession, options: SessionDispatcherOptions): Connector {
  const { buildConnector } = loadUndici();
  const base = {
    ...(options.connectTimeout != null ? { timeout: options.connectTimeout } : {}),
    ...(options.allowH2 != null ? { allowH2: options.allowH2 } : {}),
    ...(options.maxCachedSessions != null ? { maxCachedSessions: options.maxCachedSessions } : {}),
    // Names resolve through the uplink's servers (the app's own lookup, if any, wins).
    lookup: sessionLookup(() => session.settings),
    ...options.connect,
  } as Undici.buildConnector.BuildOptions;
  // The family goes to Node's lookup, so a hostname resolves to an address the bound socket can reach.
  const byFamily = { 4: buildConnector({ ...base, family: 4 }), 6: buildConnector({ ...base, family: 6 }) };
  return (opts, callback) => {
    let binding: ReturnType<typeof socketOptionsOf>;
    try {
      binding = socketOptionsOf(session.settings, { host: opts.hostname });
    } catch (err) {
      callback(err as Error, null);
      return;
    }
    byFamily[binding.family]({ ...opts, localAddress: binding.localAddress }, callback);
  };
}

/** Builds the dispatcher of `Session.dispatcher()`. */
export function createSessionDispatcher(
  session: BindableSession,
  options: SessionDispatcherOptions = {},
): SessionDispatcher {
  checkOptions(options);
  const { Agent, Dispatcher } = loadUndici();
  const connect = sessionConnector(session, options);

  class FollowingDispatcher extends Dispatcher {
    #agent: Undici.Agent | null = null;
    #closed = false;
    readonly #retired = new Set<Promise<void>>();
    readonly #unfollow: () => void;

    constructor() {
      super();
      this.#unfollow = followBinding(session, () => this.#retire());
    }

    override dispatch(opts: Undici.Dispatcher.DispatchOptions, handler: Undici.Dispatcher.DispatchHandler): boolean {
      return this.#current().dispatch(opts, handler);
    }

    override close(): Promise<void>;
    override close(callback: () => void): void;
    override close(callback?: () => void): Promise<void> | void {
      const done = this.#shutdown((a) => a.close());
      if (!callback) return done;
      done.then(callback, callback);
    }

    override destroy(): Promise<void>;
    override destroy(err: Error | null): Promise<void>;
    override destroy(callback: () => void): void;
    override destroy(err: Error | null, callback: () => void): void;
    override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
      const err = typeof a === 'function' ? null : (a ?? null);
      const callback = typeof a === 'function' ? a : b;
      const done = this.#shutdown((agent) => agent.destroy(err));
      if (!callback) return done;
      done.then(callback, callback);
    }

    /** The generation new requests go to. After close, a closed agent: it rejects them as undici does. */
    #current(): Undici.Agent {
      if (this.#agent) return this.#agent;
      const agent = new Agent({ ...options, connect } as Undici.Agent.Options);
      const forward =
        (ev: string) =>
        (...args: unknown[]) =>
          (this as EventEmitter).emit(ev, ...args);
      for (const ev of FORWARDED) (agent as EventEmitter).on(ev, forward(ev));
      if (this.#closed) void agent.close();
      this.#agent = agent;
      return agent;
    }

    /** The session moved: later requests go to a new generation, this one finishes what it has. */
    #retire(): void {
      const old = this.#agent;
      if (!old || this.#closed) return;
      this.#agent = null;
      const closing = old.close().catch(() => undefined);
      this.#retired.add(closing);
      void closing.then(() => this.#retired.delete(closing));
    }

    #shutdown(end: (a: Undici.Agent) => Promise<void>): Promise<void> {
      this.#closed = true;
      this.#unfollow();
      const agent = this.#current();
      return Promise.all([end(agent), ...this.#retired]).then(() => undefined);
    }
  }

  return new FollowingDispatcher() as unknown as SessionDispatcher;
}

/** What `Session.fetch` takes: the global `fetch`'s input. */
export type SessionFetchInput = string | URL | Request;

/**
 * A Request of another fetch implementation (undici's own package, a polyfill) as Node's global
 * `Request`, which Node's fetch would otherwise stringify ("[object Request]").
 */
function asGlobalRequest(input: SessionFetchInput): SessionFetchInput {
  if (typeof input === 'string' || input instanceof URL || input instanceof Request) return input;
  const r = input as Request;
  const init: RequestInit & { duplex?: 'half' } = {
    method: r.method,
    headers: r.headers,
    signal: r.signal,
    redirect: r.redirect,
  };
  if (r.body) {
    init.body = r.body;
    init.duplex = 'half';
  }
  return new Request(r.url, init);
}

/**
 * Node's global `fetch` through `dispatcher`, so it takes Node's own `Request`, `FormData`,
 * `Blob` and web streams as any `fetch` call does; fails with the binding's own error rather
 * than `TypeError('fetch failed')` when the session cannot carry it.
 */
export function sessionFetch(
  session: BindableSession,
  dispatcher: SessionDispatcher,
  input: SessionFetchInput,
  init?: RequestInit,
): Promise<Response> {
  let request: SessionFetchInput;
  try {
    request = asGlobalRequest(input);
    const url =
      typeof request === 'string' ? new URL(request) : request instanceof URL ? request : new URL(request.url);
    socketOptionsOf(session.settings, { host: url.hostname });
  } catch (err) {
    return Promise.reject(err);
  }
  return fetch(request, { ...init, dispatcher } as RequestInit);
}

/**
 * `http.Agent` / `https.Agent` that follow a session: each new connection binds to the
 * session's address of the moment, and when the session moves (another uplink or address)
 * pooled idle sockets are destroyed and busy ones are not pooled again, so no request goes
 * out on a socket of the old uplink after the move.
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type BindableSession, followBinding } from './follow.js';
import { sessionLookup } from './lookup.js';
import { type SocketOptions, socketOptionsOf } from './options.js';

type Callback = (err: Error | null, stream: Duplex) => void;
type Connect = (options: http.ClientRequestArgs, callback?: Callback) => Duplex | null | undefined;

/** The session's binding for one connection, or the error that stops it. */
function bindingFor(session: BindableSession, options: http.ClientRequestArgs): SocketOptions {
  const family = options.family === 4 || options.family === 6 ? options.family : undefined;
  const host = options.host ?? options.hostname ?? undefined;
  return socketOptionsOf(session.settings, { family, ...(host ? { host } : {}) });
}

/**
 * Opens a connection bound to the session. A session without an address fails the request
 * through the agent's callback (an `error` on the request), not with a throw out of `http.request`.
 */
function boundConnection(
  session: BindableSession,
  options: http.ClientRequestArgs,
  callback: Callback | undefined,
  connect: Connect,
): Duplex | null | undefined {
  let binding: SocketOptions;
  try {
    binding = bindingFor(session, options);
  } catch (err) {
    if (!callback) throw err;
    callback(err as Error, undefined as unknown as Duplex);
    return undefined;
  }
  // Names resolve through the uplink's servers unless the app brought its own lookup.
  const lookup = options.lookup ?? sessionLookup(() => session.settings);
  return connect({ ...options, lookup, localAddress: binding.localAddress, family: binding.family }, callback);
}

/** True while `socket` is bound to an address the session still has (so it may be pooled). */
function isCurrent(session: BindableSession, socket: Duplex): boolean {
  const local = (socket as Socket).localAddress;
  const info = session.settings;
  if (!info.sourceIPRule || info.state === 'disconnected' || !local) return false;
  return local === info.ipv4?.address || local === info.ipv6?.address;
}

/** Node's `keepSocketAlive` returns a boolean (its typings say void). */
function keptAlive(answer: unknown): boolean {
  return answer !== false;
}

function destroyFreeSockets(agent: http.Agent): void {
  for (const list of Object.values(agent.freeSockets)) for (const s of list ?? []) s.destroy();
}

/** An `http.Agent` bound to a session (see `Session.httpAgent`). */
export class SessionHttpAgent extends http.Agent {
  readonly #session: BindableSession;
  readonly #unfollow: () => void;

  constructor(session: BindableSession, options?: http.AgentOptions) {
    super(options);
    this.#session = session;
    this.#unfollow = followBinding(session, () => destroyFreeSockets(this));
  }

  override createConnection(options: http.ClientRequestArgs, callback?: Callback): Duplex | null | undefined {
    return boundConnection(this.#session, options, callback, (o, cb) => super.createConnection(o, cb));
  }

  override keepSocketAlive(socket: Duplex): boolean {
    // Node's own answer matters too: false when the server's Keep-Alive hint is too short.
    return isCurrent(this.#session, socket) && keptAlive(super.keepSocketAlive(socket));
  }

  /** Destroys its sockets and stops following the session. */
  override destroy(): void {
    this.#unfollow();
    super.destroy();
  }
}

/** An `https.Agent` bound to a session (see `Session.httpsAgent`). */
export class SessionHttpsAgent extends https.Agent {
  readonly #session: BindableSession;
  readonly #unfollow: () => void;

  constructor(session: BindableSession, options?: https.AgentOptions) {
    super(options);
    this.#session = session;
    this.#unfollow = followBinding(session, () => destroyFreeSockets(this));
  }

  override createConnection(options: https.RequestOptions, callback?: Callback): Duplex | null | undefined {
    return boundConnection(this.#session, options, callback, (o, cb) => super.createConnection(o, cb));
  }

  override keepSocketAlive(socket: Duplex): boolean {
    // Node's own answer matters too: false when the server's Keep-Alive hint is too short.
    return isCurrent(this.#session, socket) && keptAlive(super.keepSocketAlive(socket));
  }

  /** Destroys its sockets and stops following the session. */
  override destroy(): void {
    this.#unfollow();
    super.destroy();
  }
}

/**
 * The bind helpers of a session: sockets, agents, an undici dispatcher, `fetch`, UDP and DNS
 * that leave through the session's uplink. {@link Session} extends this class; the helpers
 * themselves (this folder) see only a {@link BindableSession}, so nothing here depends on the
 * session's own module.
 */

import type dgram from 'node:dgram';
import type { promises as dns } from 'node:dns';
import { EventEmitter } from 'node:events';
import type http from 'node:http';
import type https from 'node:https';
import type tls from 'node:tls';
import type { SessionEvents } from '../session-events.js';
import type { SessionInfo } from '../settings.js';
import { SessionHttpAgent, SessionHttpsAgent } from './agents.js';
import {
  createSessionDispatcher,
  type SessionDispatcher,
  type SessionDispatcherOptions,
  type SessionFetchInput,
  sessionFetch,
} from './dispatcher.js';
import type { BindableSession } from './follow.js';
import { type SocketOptions, type SocketOptionsRequest, socketOptionsOf } from './options.js';
import {
  dgramBound,
  resolverBound,
  type SessionDgramOptions,
  type SessionResolverOptions,
  type SessionTlsOptions,
  tlsConnectBound,
} from './sockets.js';

/** A session's bind helpers; see the file comment. */
export abstract class BoundSession extends EventEmitter<SessionEvents> implements BindableSession {
  /** The dispatcher behind `fetch()`, made on first use and closed with the session. */
  #fetchDispatcher: SessionDispatcher | null = null;

  /** Everything the session knows, as one frozen object. */
  abstract get settings(): SessionInfo;
  /** True once the session ended. */
  abstract get destroyed(): boolean;
  /** @internal Throws the session's SessionClosedError once it ended. */
  protected abstract _assertOpen(): void;

  /** @internal The session ended: the dispatcher behind `fetch()` closes. */
  protected _closeBindings(): void {
    this.#fetchDispatcher?.close().catch(() => undefined);
  }

  /**
   * `{ localAddress, family }` that make a socket leave through the session's uplink: IPv4 when
   * the uplink has it (or the family of `host` when it is an IP literal, or `family`). A pure
   * function of the current settings: call it when opening each socket. Throws
   * {@link NotConnectedError} (no uplink, or no address of that family) and
   * {@link SourceIPRuleRequiredError} (the session's `sourceIPRule` is off).
   */
  socketOptions(request?: SocketOptionsRequest): SocketOptions {
    this._assertOpen();
    return socketOptionsOf(this.settings, request);
  }

  /** A TLS connection to `host:port` through the session's uplink (SNI is `host` unless it is an IP). Throws as {@link BoundSession.socketOptions}. */
  tlsConnect(port: number, host: string, options?: SessionTlsOptions): tls.TLSSocket {
    this._assertOpen();
    return tlsConnectBound(this.settings, port, host, options);
  }

  /**
   * An `http.Agent` whose connections leave through the session's uplink, following it: each
   * new connection binds to the address of the moment; when the session moves, idle pooled
   * sockets are destroyed and busy ones are not pooled again. A request made while the session
   * has no address fails with {@link NotConnectedError}. `destroy()` it when done.
   */
  httpAgent(options?: http.AgentOptions): http.Agent {
    this._assertOpen();
    return new SessionHttpAgent(this, options);
  }

  /** The `https.Agent` counterpart of {@link BoundSession.httpAgent}. */
  httpsAgent(options?: https.AgentOptions): https.Agent {
    this._assertOpen();
    return new SessionHttpsAgent(this, options);
  }

  /**
   * An undici `Dispatcher` whose connections leave through the session's uplink, following it:
   * when the session moves, new requests go to a fresh agent and the old one is closed
   * gracefully. Typed for both undici's `request`/`fetch` and Node's global `fetch`
   * (`fetch(url, { dispatcher: s.dispatcher() })` compiles under `strict`). `close()` it when
   * done. It forwards undici's `connect`, `disconnect` and `connectionError` events.
   */
  dispatcher(options?: SessionDispatcherOptions): SessionDispatcher {
    this._assertOpen();
    return createSessionDispatcher(this, options);
  }

  /**
   * Node's global `fetch` through the session's uplink (one dispatcher per session, made on
   * first use, closed when the session ends): it takes what `fetch` takes — a URL, a global
   * `Request`, and `FormData`, `Blob`, `URLSearchParams`, web streams (with `duplex: 'half'`) as
   * bodies. Rejects with {@link NotConnectedError} or {@link SourceIPRuleRequiredError} before
   * anything is sent when the session cannot carry it.
   */
  fetch(input: SessionFetchInput, init?: RequestInit): Promise<Response> {
    try {
      this._assertOpen();
      this.#fetchDispatcher ??= createSessionDispatcher(this);
    } catch (err) {
      return Promise.reject(err);
    }
    return sessionFetch(this, this.#fetchDispatcher, input, init);
  }

  /** A UDP socket bound to the session's address (`'udp4'`/`'udp6'`, default by the uplink's addresses). Throws as {@link BoundSession.socketOptions}. */
  dgram(typeOrOptions?: 'udp4' | 'udp6' | SessionDgramOptions): dgram.Socket {
    this._assertOpen();
    return dgramBound(this.settings, typeOrOptions);
  }

  /**
   * A DNS resolver whose queries leave from the session's addresses. It asks the system's
   * servers unless given others with `setServers` (the uplink's own servers are usually what
   * you want). Bound at creation: make a new one after the session moves.
   */
  resolver(options?: SessionResolverOptions): dns.Resolver {
    this._assertOpen();
    return resolverBound(this.settings, options);
  }
}

/**
 * How agents follow their session: one listener on the session however many agents, resolvers
 * and dispatchers an app makes from it (no MaxListeners warnings, nothing to leak per agent),
 * telling each follower when the binding changed — another uplink, another address, the
 * source rule switched, or the session ended.
 */
import type { SessionInfo } from '../settings.js';
import { bindKey } from './options.js';

/**
 * What the bind helpers need of a session (a `Session` is one): its current settings, whether it
 * ended, and its `update` and `destroyed` events. Declared here, by its user, so the helpers do
 * not depend on the session's module.
 */
export interface BindableSession {
  readonly settings: SessionInfo;
  readonly destroyed: boolean;
  on(event: 'update' | 'destroyed', listener: () => void): unknown;
  once(event: 'destroyed', listener: () => void): unknown;
  off(event: 'update' | 'destroyed', listener: () => void): unknown;
}

class Hub {
  readonly #session: BindableSession;
  readonly #followers = new Set<() => void>();
  #key: string;
  #attached = false;

  constructor(session: BindableSession) {
    this.#session = session;
    this.#key = bindKey(session.settings);
  }

  add(onChange: () => void): () => void {
    if (this.#session.destroyed) return () => undefined;
    this.#followers.add(onChange);
    if (!this.#attached) {
      this.#attached = true;
      this.#key = bindKey(this.#session.settings);
      this.#session.on('update', this.#onUpdate);
      this.#session.once('destroyed', this.#onDestroyed);
    }
    return () => {
      this.#followers.delete(onChange);
      if (this.#followers.size === 0) this.#detach();
    };
  }

  readonly #onUpdate = (): void => {
    const key = bindKey(this.#session.settings);
    if (key === this.#key) return;
    this.#key = key;
    for (const f of [...this.#followers]) f();
  };

  readonly #onDestroyed = (): void => {
    // The session's last update (uplink cleared) came before this; nothing follows it.
    this.#onUpdate();
    this.#followers.clear();
    this.#detach();
  };

  #detach(): void {
    if (!this.#attached) return;
    this.#attached = false;
    this.#session.off('update', this.#onUpdate);
    this.#session.off('destroyed', this.#onDestroyed);
  }
}

const hubs = new WeakMap<BindableSession, Hub>();

/**
 * Calls `onChange` each time what the session's sockets bind to changes (see {@link bindKey}),
 * until the returned function is called or the session ends.
 */
export function followBinding(session: BindableSession, onChange: () => void): () => void {
  let hub = hubs.get(session);
  if (!hub) {
    hub = new Hub(session);
    hubs.set(session, hub);
  }
  return hub.add(onChange);
}

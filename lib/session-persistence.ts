/**
 * A persistent session's side of losing its daemon (`createSession({ persistent })`): it waits
 * for the daemon to return (a {@link Restorer}: backoff, and at once when the services come
 * back), makes the session again with its current settings, and says `daemon-restored` with the
 * first Update of the new one. Aborting the `signal` stops the waiting and ends the session as a
 * plain one would have ended. The session keeps its handle and generation; this keeps the rest.
 */
import {
  DaemonUnavailableError,
  type NetsessionError,
  SessionClosedError,
  type SessionClosedReason,
} from './errors.js';
import { type AttemptOutcome, DEFAULT_MAX_RETRY_DELAY, Restorer } from './restore.js';
import type { PersistentOptions } from './session-events.js';
import type { TransportSession } from './transport.js';

/** What persistence needs of its session. */
export interface PersistenceHost {
  /** CreateSession again, with the current settings and a notifier of the current generation. */
  createAgain(): Promise<TransportSession>;
  /** The session lost its daemon: no handle, a new generation, the uplink cleared, `daemon-lost` told. */
  detach(error: NetsessionError): void;
  /** The session lives on `handle` now. */
  attach(handle: TransportSession): void;
  /** True once the session is ending. */
  ending(): boolean;
  end(reason: SessionClosedReason, error: NetsessionError): void;
}

const reasonOf = (error: NetsessionError): SessionClosedReason =>
  error instanceof SessionClosedError ? error.reason : 'lost';

/** See the file comment. */
export class Persistence {
  readonly #host: PersistenceHost;
  /** Null once the signal aborted. */
  #maxDelay: number | null;
  /** While the session waits for its daemon: the attempts, and the loss that started them. */
  #restorer: Restorer | null = null;
  #loss: NetsessionError | null = null;
  #awaitingRestore = false;

  constructor(options: PersistentOptions, host: PersistenceHost) {
    this.#host = host;
    this.#maxDelay = options.maxRetryDelay ?? DEFAULT_MAX_RETRY_DELAY;
    options.signal?.addEventListener('abort', () => this.#stop(), { once: true });
  }

  /**
   * The daemon is gone: starts waiting for it (once per loss) and returns true; false when the
   * signal aborted, so the session ends as a plain one.
   */
  lose(error: NetsessionError): boolean {
    if (this.#maxDelay === null) return false;
    if (this.#restorer) return true;
    this.#loss = error;
    this.#awaitingRestore = true;
    this.#host.detach(error);
    const restorer: Restorer = new Restorer((): Promise<AttemptOutcome> => this.#attempt(restorer), this.#maxDelay);
    this.#restorer = restorer;
    restorer.start();
    return true;
  }

  /** The daemon's services are back: it probably is too. */
  poke(): void {
    this.#restorer?.poke();
  }

  /** The session ends: no more attempts. */
  cancel(): void {
    this.#restorer?.cancel();
    this.#restorer = null;
  }

  /** An Update arrived: true once, for the first one of the session made again. */
  restoredBy(): boolean {
    if (!this.#awaitingRestore) return false;
    this.#awaitingRestore = false;
    return true;
  }

  /** The signal aborted: a wait under way ends the session as a plain one would have ended. */
  #stop(): void {
    this.#maxDelay = null;
    if (!this.#restorer) return;
    this.cancel();
    const loss = this.#loss ?? new DaemonUnavailableError('daemon-left', 'the session daemon left the bus');
    this.#host.end(reasonOf(loss), loss);
  }

  /** One attempt to make the session again. */
  async #attempt(restorer: Restorer): Promise<AttemptOutcome> {
    let handle: TransportSession;
    try {
      handle = await this.#host.createAgain();
    } catch (err) {
      if (err instanceof DaemonUnavailableError) return 'retry';
      // The new daemon refuses these settings (its policy, a bad state): that ends the session.
      if (this.#restorer === restorer) {
        this.#restorer = null;
        this.#host.end(reasonOf(err as NetsessionError), err as NetsessionError);
      }
      return 'done';
    }
    if (this.#host.ending() || this.#restorer !== restorer) {
      handle.destroy().catch(() => undefined);
      return 'done';
    }
    this.#restorer = null;
    this.#loss = null;
    this.#host.attach(handle);
    return 'done';
  }
}

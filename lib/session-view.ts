/**
 * What a {@link Session} knows and how it tells it: the current settings (one frozen object,
 * replaced on each change), the events of a change, `waitFor` and the `updates()` iterators.
 * Waiters and iterators hear a change before listeners do (a listener may throw). The session
 * owns the daemon side (transport, notifier, persistence) and feeds this view.
 */
import { checkWaitOptions, race, type WaitOptions } from './deadline.js';
import { BearersNotAllowedError, InvalidOptionError, type SessionClosedError } from './errors.js';
import type { Bearer } from './protocol.js';
import {
  CONDITIONS,
  NEEDS_UPLINK,
  type SessionEvents,
  type UpdatesOptions,
  type WaitCondition,
} from './session-events.js';
import { EMPTY_INFO, mergeUpdate, type SessionInfo, type SessionUpdate, UPLINK_INFO } from './settings.js';
import { UpdateStream } from './update-stream.js';

/** What the view needs of its session. */
export interface SessionViewHost {
  emit<K extends keyof SessionEvents>(event: K, ...args: SessionEvents[K]): boolean;
  /** The error a closed session's calls get, or null while it is open. */
  closedError(): SessionClosedError | null;
  /** The bearers asked for when the daemon's policy removed every one of them; else null. */
  blockedBearers(): Bearer[] | null;
  /** The policy group that applies, when the daemon says; else null. */
  policyName(): Promise<string | null>;
}

/** See the file comment. */
export class SessionView {
  readonly #host: SessionViewHost;
  #info: SessionInfo = EMPTY_INFO;
  readonly #streams = new Set<UpdateStream>();
  readonly #waiters = new Set<() => void>();

  constructor(host: SessionViewHost) {
    this.#host = host;
  }

  get info(): SessionInfo {
    return this.#info;
  }

  /** The first Update: every key at once, and nobody can listen yet (createSession has not resolved). */
  first(update: SessionUpdate): void {
    this.#info = mergeUpdate(EMPTY_INFO, update).info;
  }

  /** Merges an update and tells everyone, waiters and iterators before listeners. */
  apply(update: SessionUpdate): void {
    const previous = this.#info;
    const { info, changed } = mergeUpdate(previous, update);
    if (info === previous) return;
    this.#info = info;
    for (const w of [...this.#waiters]) w();
    for (const s of this.#streams) s.push(changed);
    this.#emitChange(previous, changed);
  }

  /**
   * The session ended: the uplink values are cleared (with their events unless `quiet`, as a last
   * update), iterators end and waiters reject.
   */
  close(quiet: boolean): void {
    const previous = this.#info;
    const { info, changed } = mergeUpdate(previous, UPLINK_INFO);
    this.#info = info;
    const moved = info !== previous && !quiet;
    if (moved) for (const s of this.#streams) s.push(changed);
    for (const w of [...this.#waiters]) w();
    for (const s of [...this.#streams]) s.end();
    if (moved) this.#emitChange(previous, changed);
  }

  /** See `Session.waitFor`. */
  waitFor(condition: WaitCondition | ((info: SessionInfo) => boolean), options: WaitOptions): Promise<SessionInfo> {
    try {
      checkWaitOptions(options);
    } catch (err) {
      return Promise.reject(err);
    }
    const test =
      typeof condition === 'function' ? condition : Object.hasOwn(CONDITIONS, condition) ? CONDITIONS[condition] : null;
    if (!test)
      return Promise.reject(
        new InvalidOptionError('condition', `must be ${Object.keys(CONDITIONS).join(', ')} or a function`),
      );
    const what = `waitFor(${typeof condition === 'function' ? 'predicate' : condition})`;
    const needsUplink = typeof condition === 'string' && NEEDS_UPLINK.has(condition);
    let waiter: () => void = () => undefined;
    let blockedSeen = false;
    const work = new Promise<SessionInfo>((resolve, reject) => {
      waiter = () => {
        const closed = this.#host.closedError();
        if (closed) return reject(closed);
        try {
          if (test(this.#info)) return resolve(this.#info);
        } catch (err) {
          return reject(err);
        }
        const blocked = needsUplink && !blockedSeen ? this.#host.blockedBearers() : null;
        if (blocked) blockedSeen = true;
        if (blocked) void this.#host.policyName().then((policy) => reject(new BearersNotAllowedError(blocked, policy)));
      };
      waiter();
      this.#waiters.add(waiter);
    });
    return race(work, options, what, () => this.#waiters.delete(waiter));
  }

  /** See `Session.updates`. */
  updates(options: UpdatesOptions): AsyncIterableIterator<SessionUpdate> {
    checkWaitOptions(options);
    let stream: UpdateStream | null = null;
    stream = new UpdateStream(() => stream && this.#streams.delete(stream), options.signal);
    if (this.#host.closedError()) stream.end();
    if (!stream.ended) this.#streams.add(stream);
    return stream;
  }

  #emitChange(previous: SessionInfo, changed: SessionUpdate): void {
    const info = this.#info;
    const emit = this.#host.emit.bind(this.#host);
    emit('update', changed);
    if (changed.state !== undefined) {
      emit('state', info.state, previous.state);
      if (info.state === 'online') emit('online');
      else if (previous.state === 'online') emit('offline');
    }
    if (Object.hasOwn(changed, 'interface')) emit('interface', info.interface, previous.interface);
    if (Object.hasOwn(changed, 'nameservers')) emit('nameservers', info.nameservers);
    if (Object.hasOwn(changed, 'metered')) emit('metered', info.metered);
    if (Object.hasOwn(changed, 'roaming')) emit('roaming', info.roaming);
    if (Object.hasOwn(changed, 'captivePortal') || (Object.hasOwn(changed, 'portalUrl') && info.captivePortal))
      emit('captivePortal', info.captivePortal, info.portalUrl);
  }
}

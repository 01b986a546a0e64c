/**
 * `createSession()`: the SDK's front door.
 */

import { abortError, checkWaitOptions, type WaitOptions } from './deadline.js';
import { getDefaultTransport, isTransport } from './default-transport.js';
import { InvalidOptionError } from './errors.js';
import { type SessionOptions, toSessionRequest } from './options.js';
import { Session } from './session.js';
import type { PersistentOptions } from './session-events.js';
import type { Transport } from './transport.js';

/** How long `createSession` waits for the daemon by default: D-Bus' own default call timeout. */
export const DEFAULT_CREATE_TIMEOUT = 25_000;

/** Options of {@link createSession}: the session's settings plus how to reach the daemon and how long to wait. */
export interface CreateSessionOptions extends SessionOptions, WaitOptions {
  /** Where the session lives. Default: {@link getDefaultTransport} (the system bus). */
  transport?: Transport;
  /**
   * Survive the daemon: when it goes away (a crash, a restart, a shutdown's Release) the session
   * emits `'daemon-lost'` once, waits for it to return (retrying with a backoff of 50 ms doubling
   * to `maxRetryDelay`, default 1 s, and at once when its services reappear), is made again with
   * its current settings and emits `'daemon-restored'` (with the usual `interface`/`state`
   * events before). It ends only by `destroy()`, the `signal` given here, a closed transport, or a
   * daemon that refuses it. Bound helpers keep working across it. Default false: the session ends
   * with the daemon (`destroyed` with a `DaemonUnavailableError`).
   */
  persistent?: boolean | PersistentOptions;
}

function checkPersistent(value: unknown): PersistentOptions | null {
  if (value === undefined || value === false) return null;
  if (value === true) return {};
  if (value === null || typeof value !== 'object')
    throw new InvalidOptionError('persistent', 'must be a boolean or { signal?, maxRetryDelay? }');
  const { signal, maxRetryDelay, ...rest } = value as PersistentOptions;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined)
    throw new InvalidOptionError('persistent', `unknown key ${unknown} (expected signal, maxRetryDelay)`);
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new InvalidOptionError('persistent', 'signal must be an AbortSignal');
  if (
    maxRetryDelay !== undefined &&
    !(typeof maxRetryDelay === 'number' && maxRetryDelay >= 50 && Number.isFinite(maxRetryDelay))
  ) {
    throw new InvalidOptionError(
      'persistent',
      `maxRetryDelay must be a number of ms from 50, got ${String(maxRetryDelay)}`,
    );
  }
  return { ...(signal ? { signal } : {}), ...(maxRetryDelay !== undefined ? { maxRetryDelay } : {}) };
}

/**
 * Creates a session and resolves once the daemon's first Update arrived, so `state`,
 * `interface`, `ipv4`, … are the daemon's values at once (the state may well be
 * `disconnected`: use `waitFor('online')` to wait for an uplink).
 *
 * Rejects with {@link InvalidOptionError} (bad options; nothing was sent), a daemon error
 * (e.g. {@link InvalidArgumentsError}, {@link PermissionDeniedError}),
 * {@link DaemonUnavailableError} (no daemon or no bus), {@link TimeoutError} (after `timeout`
 * ms, default 25 s) or {@link AbortError} (`signal`). On timeout or abort, a session the daemon
 * already made is destroyed.
 *
 * @example
 * const s = await createSession({ allowedBearers: ['cellular'], connectionType: 'internet' });
 * await s.waitFor('online', { timeout: 10_000 });
 */
export async function createSession(options: CreateSessionOptions = {}): Promise<Session> {
  const request = toSessionRequest(options, ['signal', 'timeout', 'transport', 'persistent']);
  checkWaitOptions(options);
  const persistent = checkPersistent(options.persistent);
  const { signal, timeout = DEFAULT_CREATE_TIMEOUT } = options;
  if (options.transport !== undefined && !isTransport(options.transport)) {
    throw new InvalidOptionError('transport', 'must implement createSession, capabilities and close');
  }
  if (signal?.aborted) throw abortError(signal, 'createSession');
  const transport = options.transport ?? getDefaultTransport();
  return Session._open(transport, request, signal ? { signal, timeout } : { timeout }, persistent);
}

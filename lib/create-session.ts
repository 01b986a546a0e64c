/**
 * `createSession()`: the SDK's front door.
 */
import { getDefaultTransport, isTransport } from './default-transport.js';
import { abortError, checkWaitOptions, type WaitOptions } from './deadline.js';
import { InvalidOptionError } from './errors.js';
import { toSessionRequest, type SessionOptions } from './options.js';
import { Session } from './session.js';
import type { Transport } from './transport.js';

/** How long `createSession` waits for the daemon by default: D-Bus' own default call timeout. */
export const DEFAULT_CREATE_TIMEOUT = 25_000;

/** Options of {@link createSession}: the session's settings plus how to reach the daemon and how long to wait. */
export interface CreateSessionOptions extends SessionOptions, WaitOptions {
  /** Where the session lives. Default: {@link getDefaultTransport} (the system bus). */
  transport?: Transport;
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
  const request = toSessionRequest(options, ['signal', 'timeout', 'transport']);
  checkWaitOptions(options);
  const { signal, timeout = DEFAULT_CREATE_TIMEOUT } = options;
  if (options.transport !== undefined && !isTransport(options.transport)) {
    throw new InvalidOptionError('transport', 'must implement createSession, capabilities, statistics and close');
  }
  if (signal?.aborted) throw abortError(signal, 'createSession');
  const transport = options.transport ?? getDefaultTransport();
  return Session._open(transport, request, signal ? { signal, timeout } : { timeout });
}

/**
 * `signal` and `timeout` for the SDK's waiting calls, handled once: validation, and racing a
 * promise against both with typed errors ({@link AbortError}, {@link TimeoutError}).
 */
import { AbortError, InvalidOptionError, TimeoutError } from './errors.js';

/** Options of every SDK call that can wait. */
export interface WaitOptions {
  /** Aborting it rejects the call with an {@link AbortError} (whose `cause` is the signal's reason). */
  signal?: AbortSignal;
  /** Milliseconds before the call rejects with a {@link TimeoutError}. `Infinity` waits forever. */
  timeout?: number;
}

/** Throws {@link InvalidOptionError} for a `signal` or `timeout` of the wrong kind. */
export function checkWaitOptions(opts: WaitOptions | undefined): void {
  if (opts === undefined) return;
  if (opts === null || typeof opts !== 'object') throw new InvalidOptionError('options', 'must be an object');
  const { signal, timeout } = opts;
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new InvalidOptionError('signal', 'must be an AbortSignal');
  if (timeout !== undefined && (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout < 0)) {
    throw new InvalidOptionError('timeout', `must be a non-negative number of milliseconds, got ${String(timeout)}`);
  }
}

/** The error for an aborted `signal`. */
export function abortError(signal: AbortSignal, what: string): AbortError {
  return new AbortError(`${what} was aborted`, { cause: signal.reason });
}

/**
 * Settles like `work`, unless `signal` aborts or `timeout` expires first. `cleanup` runs exactly
 * once when the race is decided, whichever way (to drop listeners the work registered).
 */
export function race<T>(work: Promise<T>, opts: WaitOptions, what: string, cleanup?: () => void): Promise<T> {
  const { signal, timeout } = opts;
  if (signal?.aborted) {
    cleanup?.();
    work.catch(() => undefined);
    return Promise.reject(abortError(signal, what));
  }
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      cleanup?.();
      fn();
    };
    const onAbort = (): void => settle(() => reject(abortError(signal!, what)));
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeout !== undefined && timeout !== Infinity) {
      timer = setTimeout(
        () => settle(() => reject(new TimeoutError(`${what} timed out after ${timeout} ms`, timeout))),
        timeout,
      );
    }
    work.then(
      (value) => settle(() => resolve(value)),
      (err: unknown) => settle(() => reject(err)),
    );
  });
}

/** The daemon error code `fn` throws, or 'no error': tests compare codes, never messages. */
import type { DaemonError } from '../../daemon/core/errors.js';

export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as DaemonError).code;
  }
  return 'no error';
}

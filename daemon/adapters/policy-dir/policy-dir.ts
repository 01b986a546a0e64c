/**
 * PolicySource over a directory of `*.policy` files (see watched-dir.ts for the watching rules).
 * A malformed file keeps the previous version (the engine's rule).
 */
import { isPolicyFileName } from '../../core/policy-parse.js';
import type { Logger, PolicySource } from '../../ports.js';
import { createWatchedDir, DEFAULT_SETTLE_MS, type WatchedDirOptions } from './watched-dir.js';

/** Size and count caps of a watched directory. */
export type DirCaps = Pick<WatchedDirOptions, 'maxFileBytes' | 'maxFiles'>;

/** How long a file's change events must be quiet before it is read. */
export const POLICY_SETTLE_MS = DEFAULT_SETTLE_MS;

/** Watches `dir` for session policy files. */
export function createPolicyDir(
  dir: string,
  log: Logger,
  settleMs = POLICY_SETTLE_MS,
  caps: DirCaps = {},
): PolicySource {
  return createWatchedDir({
    dir,
    accept: isPolicyFileName,
    label: 'policy',
    pattern: '*.policy',
    log,
    settleMs,
    ...caps,
  });
}

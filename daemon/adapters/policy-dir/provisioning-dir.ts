/**
 * ProvisioningSource over a directory of ConnMan provisioning files (`*.config`, see
 * daemon/core/provisioning.ts); watched like the policy directory (watched-dir.ts).
 */
import { isProvisioningFileName } from '../../core/provisioning-parse.js';
import type { Logger, ProvisioningSource } from '../../ports.js';
import type { DirCaps } from './policy-dir.js';
import { createWatchedDir, DEFAULT_SETTLE_MS } from './watched-dir.js';

/** Watches `dir` for provisioning files. */
export function createProvisioningDir(
  dir: string,
  log: Logger,
  settleMs = DEFAULT_SETTLE_MS,
  caps: DirCaps = {},
): ProvisioningSource {
  return createWatchedDir({
    dir,
    accept: isProvisioningFileName,
    label: 'provisioning',
    pattern: '<letters and digits>.config',
    log,
    settleMs,
    ...caps,
  });
}

/**
 * The two IPv4 sysctls the routing adapter keeps on every managed interface (those in
 * `desired.services`): `src_valid_mark=1` (reverse-path lookups see the packet mark, so a mark
 * restored from conntrack selects our table) and, when the effective rp_filter (max of conf.all
 * and the interface) is strict, `rp_filter=2` on the interface (see {@link rpFilterToWrite}).
 * They are not reverted at clear(): the original values are not remembered, and both settings
 * are harmless without our rules.
 */

import type { RoutingState } from '../../core/kernel-state-types.js';
import type { Logger, SysctlWriter } from '../../ports.js';
import { ipv4Conf, isSysctlIfname } from './sysctl-paths.js';

/** One sysctl write that failed. */
export interface SysctlFailure {
  op: string;
  code: string | null;
  message: string;
}

/**
 * The rp_filter value to write on a managed interface, or null to leave it. The kernel checks
 * with max(conf.all, conf.<if>): only an effective 1 (strict) drops the replies of rerouted
 * traffic, and writing 2 (loose) on the interface alone makes the effective value 2 whatever
 * conf.all says, so conf.all is never touched; 0 (off) and 2 are left as the admin set them.
 */
export function rpFilterToWrite(all: number, iface: number): number | null {
  return Math.max(all, iface) === 1 ? 2 : null;
}

/** Distinct interface names of the desired services, in order. */
export function managedInterfaces(desired: RoutingState): string[] {
  return [...new Set(desired.services.map((s) => s.ifname))];
}

/** Keeps src_valid_mark and rp_filter of the managed interfaces; returns the number of files written. */
export async function ensureRoutingSysctls(
  desired: RoutingState,
  sysctls: SysctlWriter,
  log: Logger,
  failures: SysctlFailure[],
): Promise<number> {
  const ifnames = managedInterfaces(desired);
  if (ifnames.length === 0) return 0;
  const allRp = (await sysctls.read(ipv4Conf('all', 'rp_filter'))) ?? 0;
  let writes = 0;
  const set = async (path: string, value: number): Promise<void> => {
    writes++;
    try {
      await sysctls.write(path, value);
      log('info', `routing: ${path} = ${value}`);
    } catch (err) {
      failures.push({
        op: `write ${path}=${value}`,
        code: (err as NodeJS.ErrnoException).code ?? null,
        message: (err as Error).message,
      });
    }
  };
  for (const ifname of ifnames) {
    if (!isSysctlIfname(ifname)) {
      log('warn', `routing: not setting sysctls of interface ${JSON.stringify(ifname)}: not a usable name`);
      continue;
    }
    const svm = await sysctls.read(ipv4Conf(ifname, 'src_valid_mark'));
    // No file: the interface is gone (its service will disappear with it).
    if (svm === null) {
      log('debug', `routing: no sysctls for ${ifname} (interface gone?)`);
      continue;
    }
    if (svm !== 1) await set(ipv4Conf(ifname, 'src_valid_mark'), 1);
    const target = rpFilterToWrite(allRp, (await sysctls.read(ipv4Conf(ifname, 'rp_filter'))) ?? 0);
    if (target !== null) await set(ipv4Conf(ifname, 'rp_filter'), target);
  }
  return writes;
}

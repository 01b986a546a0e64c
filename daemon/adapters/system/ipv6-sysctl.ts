/**
 * IPv6 switches of managed links through /proc/sys/net/ipv6/conf/<ifname>/: `disable_ipv6`
 * (ConnMan turns IPv6 off on a link whose service is not connected or has `IPv6 = off`: the
 * kernel then also drops its SLAAC and link-local addresses), and `accept_ra` + `autoconf` for
 * `IPv6 = auto`. A value is written only when it differs, so a reconcile on every link event
 * costs three reads.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Ipv6Switches } from '../../ports.js';

/** Names that cannot leave the conf directory (no `/`, no `..`). */
const IFNAME_RE = /^[A-Za-z0-9_.+:@-]{1,15}$/;

export function createIpv6Switches(sysctlRoot = '/proc/sys'): Ipv6Switches {
  async function put(ifname: string, key: string, value: string): Promise<void> {
    const path = join(sysctlRoot, 'net/ipv6/conf', ifname, key);
    const cur = (await readFile(path, 'utf8')).trim();
    if (cur !== value) await writeFile(path, `${value}\n`);
  }
  return {
    async set(ifname, enabled, slaac) {
      if (!IFNAME_RE.test(ifname) || ifname === '.' || ifname === '..')
        throw new Error(`unusable interface name ${JSON.stringify(ifname)}`);
      // RA handling first: re-enabling IPv6 with accept_ra still on would autoconfigure at once.
      await put(ifname, 'accept_ra', slaac ? '1' : '0');
      await put(ifname, 'autoconf', slaac ? '1' : '0');
      await put(ifname, 'disable_ipv6', enabled ? '0' : '1');
    },
  };
}

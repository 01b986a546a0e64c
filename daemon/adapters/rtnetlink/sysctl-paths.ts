/** Paths of the per-interface IPv4 sysctls the routing and link-configuration adapters keep. */

/** Interface names usable as a net/ipv4/conf/<name> path component (never all/default). */
export function isSysctlIfname(name: string): boolean {
  return /^[^/\s]{1,15}$/.test(name) && name !== '.' && name !== '..' && name !== 'all' && name !== 'default';
}

/** `net/ipv4/conf/<ifname>/<key>` (the caller checked `ifname`, or passes `all`). */
export function ipv4Conf(ifname: string, key: string): string {
  return `net/ipv4/conf/${ifname}/${key}`;
}

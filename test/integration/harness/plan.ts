/**
 * The address and naming plan of one sandbox: pure values, no side effects.
 *
 * Uplink k (1-based) gets 198.51.100.8k/29 (router .8k+1, device .8k+2) and 2001:db8:k::/64
 * (router ::1, device ::2); its router reaches the internet namespace over 198.18.k.0/30 and
 * 2001:db8:ffKK::/64 (router .1/::1, internet .2/::2). The internet host's server lives on
 * 203.0.113.80 and 2001:db8:cafe::80 on its loopback.
 */

/** One uplink of the device namespace, as requested. */
export interface UplinkSpec {
  /** Device-side interface name, e.g. `eth-a` (at most 15 characters). */
  name: string;
  /** Give this uplink IPv6 addresses and a v6 default route (default true). */
  v6?: boolean;
  /** Metric of its default routes in the device's main table (default 100·k: eth-a lowest). */
  metric?: number;
}

/** One uplink as built. */
export interface Uplink {
  /** The spec name; also the device-side interface name. */
  name: string;
  /** Device-side interface name (same as `name`). */
  ifname: string;
  /** 1-based position; numbers the subnets, the router namespace and the ifindex. */
  k: number;
  /** ifindex of the device-side interface (10 + k), stable across runs. */
  ifindex: number;
  /** MAC of the device-side interface (`02:00:00:00:00:0k`), stable so service names are too. */
  mac: string;
  routerNs: string;
  /** Router-side interface names: `lan` faces the device, `wan` the internet namespace. */
  routerLan: string;
  routerWan: string;
  /** Metric of this uplink's default routes in the device's main table. */
  metric: number;
  devAddr4: string;
  gw4: string;
  prefix4: number;
  /** The uplink's IPv4 subnet in CIDR notation. */
  subnet4: string;
  devAddr6?: string;
  gw6?: string;
  prefix6?: number;
  subnet6?: string;
  /** Router's address on its link to the internet namespace, and the internet side's. */
  wanRouter4: string;
  wanInet4: string;
  wanRouter6: string;
  wanInet6: string;
  /** Interface name of this router's link inside the internet namespace. */
  inetIfname: string;
}

/** Addresses of the internet host. */
export interface InetPlan {
  addr4: string;
  addr6: string;
  port: number;
  onlineUrl4: string;
  onlineUrl6: string;
}

/** Every name and address of one sandbox. */
export interface TopologyPlan {
  id: string;
  devNs: string;
  inetNs: string;
  uplinks: Uplink[];
  inet: InetPlan;
}

/** Path the online check asks for (ConnMan's). */
export const ONLINE_PATH = '/online/status.html';

/** Uplinks used when none are given. */
export const DEFAULT_UPLINKS: readonly UplinkSpec[] = [{ name: 'eth-a' }, { name: 'eth-b' }, { name: 'eth-c' }];

/** Upper bound that keeps every uplink inside 198.51.100.0/24 with room to spare. */
export const MAX_UPLINKS = 16;

const IFNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
const RESERVED_IFNAMES = new Set(['lo', 'lan', 'wan']);

/** Builds the plan, validating the specs. Throws on a bad name, a duplicate or too many uplinks. */
export function planTopology(id: string, specs: readonly UplinkSpec[]): TopologyPlan {
  if (specs.length < 1 || specs.length > MAX_UPLINKS)
    throw new Error(`need 1..${MAX_UPLINKS} uplinks, got ${specs.length}`);
  const seen = new Set<string>();
  const uplinks = specs.map((spec, i): Uplink => {
    if (!IFNAME.test(spec.name) || RESERVED_IFNAMES.has(spec.name))
      throw new Error(`bad uplink interface name ${JSON.stringify(spec.name)}`);
    if (seen.has(spec.name)) throw new Error(`duplicate uplink name ${spec.name}`);
    seen.add(spec.name);
    const k = i + 1;
    const base = 8 * k;
    const hex = k.toString(16).padStart(2, '0');
    const v6 = spec.v6 ?? true;
    return {
      name: spec.name,
      ifname: spec.name,
      k,
      ifindex: 10 + k,
      mac: `02:00:00:00:00:${hex}`,
      routerNs: `${id}-r${k}`,
      routerLan: 'lan',
      routerWan: 'wan',
      metric: spec.metric ?? 100 * k,
      devAddr4: `198.51.100.${base + 2}`,
      gw4: `198.51.100.${base + 1}`,
      prefix4: 29,
      subnet4: `198.51.100.${base}/29`,
      ...(v6
        ? { devAddr6: `2001:db8:${k}::2`, gw6: `2001:db8:${k}::1`, prefix6: 64, subnet6: `2001:db8:${k}::/64` }
        : {}),
      wanRouter4: `198.18.${k}.1`,
      wanInet4: `198.18.${k}.2`,
      wanRouter6: `2001:db8:ff${hex}::1`,
      wanInet6: `2001:db8:ff${hex}::2`,
      inetIfname: `r${k}`,
    };
  });
  const addr4 = '203.0.113.80';
  const addr6 = '2001:db8:cafe::80';
  return {
    id,
    devNs: `${id}-dev`,
    inetNs: `${id}-inet`,
    uplinks,
    inet: {
      addr4,
      addr6,
      port: 80,
      onlineUrl4: `http://${addr4}${ONLINE_PATH}`,
      onlineUrl6: `http://[${addr6}]${ONLINE_PATH}`,
    },
  };
}

/** All namespaces of a plan, device first, internet last. */
export function namespacesOf(plan: TopologyPlan): string[] {
  return [plan.devNs, ...plan.uplinks.map((u) => u.routerNs), plan.inetNs];
}

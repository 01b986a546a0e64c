/**
 * Bearer detection: which ConnMan service type a link is, or null when it is not a service.
 *
 * The decision ({@link decideBearer}) is pure; the only I/O is {@link readSysfsHints}, a few
 * synchronous reads of `/sys/class/net/<if>/` done once per link (and again after a rename).
 * Note: sysfs shows the devices of the network namespace that mounted it; `ip netns exec`
 * remounts /sys, so a daemon started that way sees its own namespace's devices.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Bearer } from '../../../lib/protocol.js';
import { compileGlob, compileGlobList, type GlobMatcher } from './glob.js';
import { ARPHRD } from './messages/constants.js';

/** One per-interface-name override: first matching glob wins; `ignore` means "not a service". */
export interface BearerOverride {
  glob: string;
  bearer: Bearer | 'ignore';
}

/** Which links become services, and as what. */
export interface BearerPolicy {
  /** Checked first, in order. */
  overrides?: readonly BearerOverride[];
  /** Like `connmand -i`: when non-empty, only matching names are services. */
  include?: readonly string[];
  /** Like `connmand -I`: matching names are never services. */
  ignore?: readonly string[];
}

/** What rtnetlink tells about a link that matters for its bearer. */
export interface BearerLinkInput {
  name: string;
  /** IFLA_INFO_KIND (`veth`, `wireguard`, `tun`, ...), '' for plain devices. */
  kind: string;
  /** ARPHRD_* hardware type (ifi_type). */
  arphrd: number;
  /** IFF_LOOPBACK. */
  loopback: boolean;
  /** Bridge port, bond slave or VRF member (IFLA_MASTER set, or IFF_SLAVE): its master is the service. */
  enslaved: boolean;
}

/** What sysfs tells about a link. */
export interface SysfsHints {
  /** `wireless/` or `phy80211` exists (cfg80211 or wireless-extensions driver). */
  wireless: boolean;
  /** DEVTYPE from `uevent`, '' when absent. */
  devtype: string;
}

/** Layer-3 tunnel kinds that carry traffic to a remote network: they are VPNs. */
const VPN_KINDS = new Set(['wireguard', 'tun', 'xfrm', 'vti', 'vti6', 'ipip', 'gre', 'ip6gre', 'sit', 'ip6tnl']);

const DEVTYPE_BEARER: Readonly<Record<string, Bearer>> = {
  wlan: 'wifi',
  wwan: 'cellular',
  bluetooth: 'bluetooth',
  gadget: 'gadget',
};

/** A {@link BearerPolicy} with its globs compiled once. */
export interface CompiledBearerPolicy {
  overrides: Array<{ match: GlobMatcher; bearer: Bearer | 'ignore' }>;
  /** null when the include list is empty (everything is included). */
  include: GlobMatcher | null;
  ignore: GlobMatcher;
}

/** Compiles the globs of a policy. */
export function compileBearerPolicy(policy: BearerPolicy = {}): CompiledBearerPolicy {
  const include = policy.include ?? [];
  return {
    overrides: (policy.overrides ?? []).map((o) => ({ match: compileGlob(o.glob), bearer: o.bearer })),
    include: include.length > 0 ? compileGlobList(include) : null,
    ignore: compileGlobList(policy.ignore ?? []),
  };
}

/**
 * Decides the bearer of a link. Order:
 * 1. loopback → null (never a service, whatever the config says);
 * 2. overrides, first matching glob wins (`ignore` → null) — an explicit override also beats
 *    the include/ignore lists and the enslaved check;
 * 3. not included, or ignored → null; enslaved (bridge port, bond slave) → null;
 * 4. hardware type gate: only Ethernet-like, PPP, raw-IP, tunnel and ARPHRD_NONE links can be
 *    services; anything else (Wi-Fi monitor interfaces, CAN, InfiniBand, ...) → null;
 * 5. sysfs: wireless → wifi; DEVTYPE wlan/wwan/bluetooth/gadget → wifi/cellular/bluetooth/gadget;
 * 6. link kind / type: L3 tunnels (wireguard, tun, xfrm, vti, ipip, gre, sit, ip6tnl) → vpn;
 *    PPP and raw-IP → cellular; any Ethernet-type link (plain NIC, veth, tap, bridge, bond,
 *    vlan, macvlan) → ethernet; ARPHRD_NONE with an unknown kind → null.
 *
 * `hints` is called at most once, and only when steps 1–4 did not decide.
 */
export function decideBearer(
  link: BearerLinkInput,
  policy: CompiledBearerPolicy,
  hints: () => SysfsHints,
): Bearer | null {
  if (link.loopback || link.arphrd === ARPHRD.LOOPBACK) return null;
  for (const o of policy.overrides) {
    if (o.match(link.name)) return o.bearer === 'ignore' ? null : o.bearer;
  }
  if (policy.include && !policy.include(link.name)) return null;
  if (policy.ignore(link.name)) return null;
  if (link.enslaved) return null;

  const t = link.arphrd;
  const tunnelType =
    t === ARPHRD.TUNNEL || t === ARPHRD.TUNNEL6 || t === ARPHRD.SIT || t === ARPHRD.IPGRE || t === ARPHRD.IP6GRE;
  const cellularType = t === ARPHRD.PPP || t === ARPHRD.RAWIP || t === ARPHRD.PHONET_PIPE;
  if (t !== ARPHRD.ETHER && t !== ARPHRD.NONE && !tunnelType && !cellularType) return null;

  const h = hints();
  if (h.wireless) return 'wifi';
  const fromDevtype = DEVTYPE_BEARER[h.devtype];
  if (fromDevtype) return fromDevtype;

  if (tunnelType) return 'vpn';
  if (cellularType) return 'cellular';
  if (t === ARPHRD.ETHER) return 'ethernet';
  // ARPHRD_NONE: tun (L3 mode), wireguard, xfrm — or something we cannot name.
  return VPN_KINDS.has(link.kind) ? 'vpn' : null;
}

/** Reads the sysfs hints of interface `ifname`; missing files give empty hints (no throw). */
export function readSysfsHints(ifname: string, root = '/sys/class/net'): SysfsHints {
  // A name with `/` or `..` cannot be an interface; never let it walk out of `root`.
  if (ifname === '' || ifname.includes('/') || ifname === '.' || ifname === '..') {
    return { wireless: false, devtype: '' };
  }
  const dir = `${root}/${ifname}`;
  const wireless = existsSync(`${dir}/wireless`) || existsSync(`${dir}/phy80211`);
  let devtype = '';
  try {
    const uevent = readFileSync(`${dir}/uevent`, 'utf8');
    const m = /^DEVTYPE=(.*)$/m.exec(uevent);
    if (m) devtype = (m[1] ?? '').trim();
  } catch {
    // The link may already be gone (or sysfs is not mounted); decide from rtnetlink alone.
  }
  return { wireless, devtype };
}

/**
 * A bearer decider bound to a policy and a sysfs reader (injectable for tests): the function the
 * fact table calls when a link appears or is renamed.
 */
export function createBearerDecider(
  policy: BearerPolicy = {},
  readHints: (ifname: string) => SysfsHints = readSysfsHints,
): (link: BearerLinkInput) => Bearer | null {
  const compiled = compileBearerPolicy(policy);
  return (link) => decideBearer(link, compiled, () => readHints(link.name));
}

/**
 * The address values of a provisioning section (`IPv4`, `IPv6`, `Nameservers`, `Timeservers`,
 * `SearchDomains`, `Domain`), validated: canonical text, contiguous netmasks, gateways inside
 * the subnet (or IPv6 link-local), no unusable addresses. Each parser reports a bad value
 * through `fail`, which the file parser turns into a ProvisioningError naming file, line and key.
 */
import { canonicalAddress, networkOf } from './addresses.js';

/** Reports a bad value; never returns. */
export type Fail = (detail: string) => never;

/** The `IPv4` key. Absent means `dhcp`, as in ConnMan. */
export type IPv4Provision =
  | { method: 'off' }
  | { method: 'dhcp' }
  | { method: 'manual'; address: string; prefixLength: number; gateway: string | null };

/** The `IPv6` key. Absent means `auto` (SLAAC, and DHCPv6 if the router says so), as in ConnMan. */
export type IPv6Provision =
  | { method: 'off' }
  | { method: 'auto' }
  | { method: 'manual'; address: string; prefixLength: number; gateway: string | null };

/** A v4 address in canonical dotted-quad text (no leading zeros: inet_pton rejects them too). */
function v4(text: string): number | null {
  if (canonicalAddress(4, text) !== text) return null;
  return text.split('.').reduce((acc, p) => acc * 256 + Number(p), 0);
}

/** A v6 address in any valid text form, canonical; zones are not addresses. */
function v6(text: string): string | null {
  if (text.includes('%') || !text.includes(':')) return null;
  return canonicalAddress(6, text);
}

function v4Text(n: number): string {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');
}

function v4Mask(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

function unusableV4(n: number): string | null {
  if (n === 0) return 'is the unspecified address';
  if (n >>> 24 === 127) return 'is a loopback address';
  if (n >>> 28 === 0xe) return 'is a multicast address';
  if (n >>> 28 === 0xf) return 'is reserved or the broadcast address';
  return null;
}

function unusableV6(canonical: string): string | null {
  if (canonical === '::') return 'is the unspecified address';
  if (canonical === '::1') return 'is the loopback address';
  if (canonical.startsWith('ff')) return 'is a multicast address';
  if (networkOf(6, canonical, 96) === '::ffff:0:0') return 'is an IPv4-mapped address';
  return null;
}

function isLinkLocalV6(canonical: string): boolean {
  return networkOf(6, canonical, 10) === 'fe80::';
}

export function parseAnyAddress(value: string, fail: Fail): string {
  if (v4(value) !== null) return value;
  const six = v6(value);
  if (six !== null) return six;
  return fail(`'${value}' is not an IPv4 address (dotted quad) or an IPv6 address`);
}

/** DNS names: labels of 1-63 letters, digits, '-' or '_', not starting or ending with '-'. */
function isDomainName(value: string): boolean {
  if (value.length > 253) return false;
  return value.split('.').every((l) => /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(l));
}

export function parseDomain(value: string, fail: Fail): string {
  if (!isDomainName(value)) return fail(`'${value}' is not a domain name`);
  return value;
}

export function parseHost(value: string, fail: Fail): string {
  if (v4(value) !== null) return value;
  const six = v6(value);
  if (six !== null) return six;
  if (!/^[\d.]+$/.test(value) && isDomainName(value)) return value;
  return fail(`'${value}' is neither a host name nor an IP address`);
}

function splitStatic(value: string, what: string, fail: Fail): [string, string, string | null] {
  const parts = value.split('/');
  if (parts.length < 2 || parts.length > 3) return fail(`'${value}' is not ${what}`);
  const [address, mask, gateway] = parts as [string, string, string | undefined];
  if (address === '' || mask === '') return fail(`'${value}' is not ${what}`);
  // "a/m/" is the same as "a/m" to ConnMan; keep accepting it.
  return [address, mask, gateway === undefined || gateway === '' ? null : gateway];
}

export function parseIPv4(value: string, fail: Fail): IPv4Provision {
  const lower = value.toLowerCase();
  if (lower === 'off') return { method: 'off' };
  // ConnMan compares case-insensitively and treats `auto` like `dhcp` for IPv4.
  if (lower === 'dhcp' || lower === 'auto') return { method: 'dhcp' };
  const [addrText, maskText, gwText] = splitStatic(value, 'off, dhcp or address/netmask[/gateway]', fail);
  const address = v4(addrText);
  if (address === null) return fail(`'${addrText}' is not an IPv4 address in dotted-quad form`);
  const bad = unusableV4(address);
  if (bad) return fail(`${addrText} ${bad}`);
  let prefixLength: number;
  if (maskText.includes('.')) {
    const mask = v4(maskText);
    if (mask === null) return fail(`'${maskText}' is not a netmask`);
    const contiguous = Array.from({ length: 33 }, (_, n) => n).find((n) => v4Mask(n) === mask);
    if (contiguous === undefined) return fail(`netmask ${maskText} is not contiguous`);
    prefixLength = contiguous;
  } else {
    if (!/^\d{1,2}$/.test(maskText)) return fail(`'${maskText}' is neither a netmask nor a prefix length`);
    prefixLength = Number(maskText);
  }
  if (prefixLength < 1 || prefixLength > 32) return fail(`prefix length ${prefixLength} is out of range (1-32)`);
  const mask = v4Mask(prefixLength);
  const network = (address & mask) >>> 0;
  const broadcast = (network | ~mask) >>> 0;
  // /31 (RFC 3021) and /32 have no network or broadcast address to avoid.
  const edges = prefixLength <= 30 ? [network, broadcast] : [];
  if (edges.includes(address))
    return fail(`${addrText} is the ${address === network ? 'network' : 'broadcast'} address of /${prefixLength}`);
  let gateway: string | null = null;
  if (gwText !== null) {
    const gw = v4(gwText);
    if (gw === null) return fail(`gateway '${gwText}' is not an IPv4 address in dotted-quad form`);
    if (gw === address) return fail(`gateway ${gwText} is the address itself`);
    if ((gw & mask) >>> 0 !== network) {
      return fail(
        `gateway ${gwText} is outside ${v4Text(network)}/${prefixLength} (off-link gateways are not supported)`,
      );
    }
    if (edges.includes(gw))
      return fail(`gateway ${gwText} is the ${gw === network ? 'network' : 'broadcast'} address of /${prefixLength}`);
    gateway = gwText;
  }
  return { method: 'manual', address: addrText, prefixLength, gateway };
}

export function parseIPv6(value: string, fail: Fail): IPv6Provision {
  const lower = value.toLowerCase();
  if (lower === 'off') return { method: 'off' };
  // ConnMan treats `dhcp` like `auto` for IPv6.
  if (lower === 'auto' || lower === 'dhcp') return { method: 'auto' };
  const [addrText, prefixText, gwText] = splitStatic(value, 'off, auto or address/prefixlength[/gateway]', fail);
  const address = v6(addrText);
  if (address === null) return fail(`'${addrText}' is not an IPv6 address`);
  const bad = unusableV6(address);
  if (bad) return fail(`${addrText} ${bad}`);
  if (!/^\d{1,3}$/.test(prefixText)) return fail(`'${prefixText}' is not a prefix length (IPv6 takes no netmask)`);
  const prefixLength = Number(prefixText);
  if (prefixLength < 1 || prefixLength > 128) return fail(`prefix length ${prefixLength} is out of range (1-128)`);
  let gateway: string | null = null;
  if (gwText !== null) {
    const gw = v6(gwText);
    if (gw === null) return fail(`gateway '${gwText}' is not an IPv6 address`);
    const badGw = unusableV6(gw);
    if (badGw) return fail(`gateway ${gwText} ${badGw}`);
    if (gw === address) return fail(`gateway ${gwText} is the address itself`);
    if (!isLinkLocalV6(gw) && networkOf(6, gw, prefixLength) !== networkOf(6, address, prefixLength)) {
      return fail(
        `gateway ${gwText} is neither link-local nor inside ${networkOf(6, address, prefixLength)}/${prefixLength}`,
      );
    }
    gateway = gw;
  }
  return { method: 'manual', address, prefixLength, gateway };
}

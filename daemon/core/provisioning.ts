/**
 * ConnMan provisioning files (`*.config`, ConnMan's doc/config-format.txt): parsing, validation,
 * matching a file's service sections to links, and the addressing a matched section asks for.
 *
 * Stricter than ConnMan on purpose, like the policy parser: ConnMan logs a warning for unknown
 * keys and silently falls back on some bad values (a bad IPv4 prefix length becomes /32); here
 * every mistake is a {@link ProvisioningError} naming file, line and key, and the first one
 * rejects the whole file, so the caller can keep that file's previous version in force.
 *
 * Decisions (the lead documents them in docs/behaviour.md):
 * - `Type` is required and must be `ethernet`, `gadget` or `wifi` (the three ConnMan provisions;
 *   cellular, bluetooth and vpn are rejected, as ConnMan never applies them).
 * - `Type = wifi` sections are validated and kept, with `supported: false` and a warning, but
 *   never match a link: this daemon does not manage Wi-Fi, and rejecting them would reject the
 *   ethernet sections that share a file written for ConnMan. Wi-Fi-only keys in a non-wifi
 *   section are errors. Secrets (Passphrase, PrivateKeyPassphrase) are never stored.
 * - A section may name `MAC`, `DeviceName`, both (both must match) or neither (any link of that
 *   Type, ConnMan's "first found interface").
 * - Static addresses: IPv4 in canonical dotted quad; the netmask dotted (contiguous) or a prefix
 *   length 1-32; the gateway must lie inside the subnet (no off-link gateways). IPv6 in any
 *   valid text form (stored canonical, RFC 5952), prefix 1-128; the gateway must be link-local
 *   or inside the prefix.
 */
import { readKeyFile, type KeyFileGroup, type KeyFileSyntax } from './keyfile.js';
import type { Bearer } from '../../lib/protocol.js';
import type { Family } from './services.js';
import { ProvisioningError } from './errors.js';
import { canonicalAddress, networkOf } from './kernel-state.js';
import { isValidInterfaceName } from './settings.js';

/** Service types a provisioning section may name (ConnMan provisions exactly these). */
export const PROVISIONED_TYPES = ['ethernet', 'gadget', 'wifi', 'cellular'] as const;
/** A provisioning section's `Type`. */
export type ProvisionedType = (typeof PROVISIONED_TYPES)[number];

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

/** `IPv6.Privacy` (the kernel's use_tempaddr 0/1/2); ConnMan's misspelling `prefered` is read as `preferred`. */
export type IPv6Privacy = 'disabled' | 'enabled' | 'preferred';

/** One `[service_*]` section of a provisioning file, validated. */
export interface ProvisionedService {
  /** The file name as given to {@link parseProvisioningFile}. */
  file: string;
  /** The section's identifier: the group name without `service_`. */
  ident: string;
  /** 0-based position among the file's service sections (later wins ties in matching). */
  index: number;
  /** 1-based line of the section header. */
  line: number;
  type: ProvisionedType;
  /** False for Wi-Fi sections: parsed and kept, never matched. */
  supported: boolean;
  /** `Name` (the SSID for Wi-Fi; a label otherwise), or null. */
  name: string | null;
  /** `MAC`, lower case, or null. */
  mac: string | null;
  /** `DeviceName` (an interface name), or null. */
  deviceName: string | null;
  ipv4: IPv4Provision;
  ipv6: IPv6Provision;
  ipv6Privacy: IPv6Privacy | null;
  /** Canonical addresses, in file order. */
  nameservers: string[];
  searchDomains: string[];
  domain: string | null;
  /** Host names or canonical addresses. */
  timeservers: string[];
  mdns: boolean | null;
  /** netsessiond's `Metered` (null: the bearer's default, cellular metered). */
  metered: boolean | null;
  /** netsessiond's `Roaming` (null: not roaming). */
  roaming: boolean | null;
  /** Things accepted but without effect here, each `file:line: text`. */
  warnings: string[];
}

/** What a matched section asks the link's addressing to be: plain data for an adapter. */
export interface DesiredAddressing {
  /** Static addresses to add (none for dhcp/auto/off). */
  addresses: Array<{ family: Family; address: string; prefixLength: number }>;
  /** Static default-route gateways, at most one per family. */
  gateways: Array<{ family: Family; gateway: string }>;
  /** Run a DHCPv4 client on the link. */
  dhcpv4: boolean;
  /** False when `IPv6 = off`: IPv6 is to be disabled on the link altogether. */
  ipv6: boolean;
  /** Accept router advertisements and autoconfigure (true only for `IPv6 = auto`). */
  slaac: boolean;
  /** null: leave the kernel's setting alone. */
  ipv6Privacy: IPv6Privacy | null;
  /** Static nameservers; empty means "use what DHCP/RA provide". */
  nameservers: string[];
  searchDomains: string[];
  domain: string | null;
}

/** The link facts matching needs. */
export interface ProvisioningLink {
  name: string;
  /** `aa:bb:cc:dd:ee:ff`, or '' when the link has none. */
  mac: string;
  bearer: Bearer | null;
}

/**
 * True for names the provisioning directory watcher should load: ConnMan's rule (letters and
 * digits only, then `.config`), which also keeps any path out.
 */
export function isProvisioningFileName(name: string): boolean {
  return /^[A-Za-z0-9]+\.config$/.test(name);
}

const GLOBAL_KEYS = ['Name', 'Description'] as const;
const COMMON_KEYS = [
  'Type',
  'Name',
  'MAC',
  'DeviceName',
  'IPv4',
  'IPv6',
  'IPv6.Privacy',
  'Nameservers',
  'SearchDomains',
  'Timeservers',
  'Domain',
  'mDNS',
  // netsessiond's own (ConnMan warns about unknown keys and goes on):
  'Metered',
  'Roaming',
] as const;
/** Keys ConnMan reads only for Wi-Fi sections. */
const WIFI_KEYS = [
  'SSID',
  'EAP',
  'CACertFile',
  'ClientCertFile',
  'PrivateKeyFile',
  'PrivateKeyPassphrase',
  'PrivateKeyPassphraseType',
  'Identity',
  'AnonymousIdentity',
  'SubjectMatch',
  'AltSubjectMatch',
  'DomainSuffixMatch',
  'DomainMatch',
  'Phase2',
  'Passphrase',
  'Security',
  'Hidden',
] as const;
const GLOBAL_KEY_SET: ReadonlySet<string> = new Set(GLOBAL_KEYS);
const SERVICE_KEY_SET: ReadonlySet<string> = new Set([...COMMON_KEYS, ...WIFI_KEYS]);
const WIFI_KEY_SET: ReadonlySet<string> = new Set(WIFI_KEYS);

interface Entry {
  value: string;
  line: number;
}

type RawGroup = KeyFileGroup;

type Fail = (detail: string) => never;

/**
 * Parses and validates one provisioning file. `[global]` (Name, Description) is accepted and
 * ignored; every other group must be `[service_<ident>]`.
 * @throws ProvisioningError naming the file, the 1-based line and the key at fault.
 */
export function parseProvisioningFile(file: string, text: string, maxServices = Infinity, cap = maxServices): ProvisionedService[] {
  const groups = splitGroups(file, text, maxServices, cap);
  const out: ProvisionedService[] = [];
  for (const g of groups) {
    if (g.name === 'global') continue;
    out.push(buildService(file, g, out.length));
  }
  return out;
}

const PROVISIONING_SYNTAX: KeyFileSyntax = {
  headerHint: '[global] or [service_<name>]',
  lineHint: 'key = value',
  groupWord: 'group',
  trimGroupName: false,
  checkGroup(name) {
    if (name === 'global') return null;
    if (!name.startsWith('service_')) return `unknown group [${name}] (expected [global] or [service_<name>])`;
    if (!/^service_[\x21-\x7e]+$/.test(name) || /[[\]]/.test(name)) return `group [${name}] needs a name after 'service_' (printable, no spaces)`;
    return null;
  },
  checkKey(group, key, value) {
    const known = group === 'global' ? GLOBAL_KEY_SET : SERVICE_KEY_SET;
    if (!known.has(key)) return `unknown key '${key}' in [${group}] (known keys: ${[...known].join(', ')})`;
    return value === '' ? `${key}: empty value` : null;
  },
  countsGroup: (name) => name !== 'global',
};

/** `MaxProvisioningServices` / `--max-provisioning-services`: sections in force across the directory. */
export const PROVISIONING_SERVICES_CAP = { key: 'MaxProvisioningServices', flag: '--max-provisioning-services' } as const;

function splitGroups(file: string, text: string, maxServices: number, total: number): RawGroup[] {
  // `maxServices` is what is left of the cap once the other files' services are counted.
  const cap = Number.isFinite(maxServices)
    ? { max: maxServices, detail: `service ${maxServices + 1} of this file is over ${PROVISIONING_SERVICES_CAP.key} ${total} (${PROVISIONING_SERVICES_CAP.flag}; ${total - maxServices} in force in other files)` }
    : undefined;
  return readKeyFile(
    text,
    PROVISIONING_SYNTAX,
    (line, detail) => {
      throw new ProvisioningError(file, line, detail);
    },
    cap,
  );
}

function buildService(file: string, g: RawGroup, index: number): ProvisionedService {
  const get = <T>(key: string, parse: (value: string, fail: Fail) => T): T | null => {
    const entry = g.values.get(key);
    if (entry === undefined) return null;
    return parse(entry.value, (detail) => {
      throw new ProvisioningError(file, entry.line, `${key}: ${detail}`);
    });
  };
  const type = get('Type', parseType);
  if (type === null) throw new ProvisioningError(file, g.line, `group [${g.name}] has no Type (ethernet, gadget or wifi)`);
  const warnings: string[] = [];
  if (type === 'wifi') {
    // Validated for shape only; secrets are deliberately not kept.
    get('SSID', parseSsid);
    get('Security', oneOf(['psk', 'ieee8021x', 'none', 'wep']));
    get('EAP', oneOf(['tls', 'ttls', 'peap']));
    get('PrivateKeyPassphraseType', oneOf(['fsid']));
    get('Hidden', parseBoolean);
    warnings.push(`${file}:${g.line}: [${g.name}] is a wifi section; this daemon does not manage Wi-Fi, so it is never applied`);
  } else {
    for (const [key, entry] of g.values) {
      if (WIFI_KEY_SET.has(key)) throw new ProvisioningError(file, entry.line, `${key}: only valid in a Type = wifi section (this one is ${type})`);
    }
  }
  const timeservers = get('Timeservers', (v, fail) => parseList(v, fail, parseHost)) ?? [];
  if (timeservers.length > 0) {
    warnings.push(`${file}:${g.values.get('Timeservers')?.line ?? g.line}: Timeservers are recorded but this daemon runs no time synchronisation`);
  }
  const mdns = get('mDNS', parseBoolean);
  if (mdns !== null) warnings.push(`${file}:${g.values.get('mDNS')?.line ?? g.line}: mDNS is recorded but has no effect here`);
  const service: ProvisionedService = {
    file,
    ident: g.name.slice('service_'.length),
    index,
    line: g.line,
    type,
    supported: type !== 'wifi',
    name: get('Name', (v) => v),
    mac: get('MAC', parseMac),
    deviceName: get('DeviceName', parseDeviceName),
    ipv4: get('IPv4', parseIPv4) ?? { method: 'dhcp' },
    ipv6: get('IPv6', parseIPv6) ?? { method: 'auto' },
    ipv6Privacy: get('IPv6.Privacy', parsePrivacy),
    nameservers: get('Nameservers', (v, fail) => parseList(v, fail, parseAnyAddress)) ?? [],
    searchDomains: get('SearchDomains', (v, fail) => parseList(v, fail, parseDomain)) ?? [],
    domain: get('Domain', parseDomain),
    timeservers,
    mdns,
    metered: get('Metered', parseBoolean),
    roaming: get('Roaming', parseBoolean),
    warnings,
  };
  return service;
}

function parseType(value: string, fail: Fail): ProvisionedType {
  if ((PROVISIONED_TYPES as readonly string[]).includes(value)) return value as ProvisionedType;
  return fail(`'${value}' cannot be provisioned (expected ethernet, gadget, wifi or cellular)`);
}

function oneOf<T extends string>(values: readonly T[]): (value: string, fail: Fail) => T {
  return (value, fail) => ((values as readonly string[]).includes(value) ? (value as T) : fail(`'${value}' is not one of ${values.join(', ')}`));
}

function parseBoolean(value: string, fail: Fail): boolean {
  // g_key_file_get_boolean's spellings.
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  return fail(`'${value}' is not a boolean (true, false, 1 or 0)`);
}

function parseSsid(value: string, fail: Fail): string {
  if (!/^(?:[0-9a-fA-F]{2}){1,32}$/.test(value)) return fail(`'${value}' is not a hexadecimal SSID of 1 to 32 bytes`);
  return value.toLowerCase();
}

function parseMac(value: string, fail: Fail): string {
  if (!/^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$/.test(value)) return fail(`'${value}' is not a MAC address (aa:bb:cc:dd:ee:ff)`);
  const mac = value.toLowerCase();
  if (mac === '00:00:00:00:00:00' || mac === 'ff:ff:ff:ff:ff:ff') return fail(`'${value}' cannot be an interface's address`);
  return mac;
}

function parseDeviceName(value: string, fail: Fail): string {
  if (!isValidInterfaceName(value)) return fail(`'${value}' is not a valid interface name (1-15 characters, no '/', ':' or whitespace)`);
  return value;
}

function parsePrivacy(value: string, fail: Fail): IPv6Privacy {
  if (value === 'disabled' || value === 'enabled' || value === 'preferred') return value;
  if (value === 'prefered') return 'preferred';
  return fail(`'${value}' is not one of disabled, enabled, preferred`);
}

/** GLib list semantics with ',' as separator: one trailing separator is allowed, empty items are not. */
function parseList<T>(value: string, fail: Fail, item: (v: string, fail: Fail) => T): T[] {
  const parts = value.split(',').map((p) => p.trim());
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  const out: T[] = [];
  const seen = new Set<string>();
  for (const p of parts) {
    if (p === '') return fail(`empty item in the list '${value}'`);
    const v = item(p, fail);
    const key = String(v);
    if (seen.has(key)) return fail(`'${p}' appears twice`);
    seen.add(key);
    out.push(v);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Addresses.
// ---------------------------------------------------------------------------------------------

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

function parseAnyAddress(value: string, fail: Fail): string {
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

function parseDomain(value: string, fail: Fail): string {
  if (!isDomainName(value)) return fail(`'${value}' is not a domain name`);
  return value;
}

function parseHost(value: string, fail: Fail): string {
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

function parseIPv4(value: string, fail: Fail): IPv4Provision {
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
  if (edges.includes(address)) return fail(`${addrText} is the ${address === network ? 'network' : 'broadcast'} address of /${prefixLength}`);
  let gateway: string | null = null;
  if (gwText !== null) {
    const gw = v4(gwText);
    if (gw === null) return fail(`gateway '${gwText}' is not an IPv4 address in dotted-quad form`);
    if (gw === address) return fail(`gateway ${gwText} is the address itself`);
    if (((gw & mask) >>> 0) !== network) {
      return fail(`gateway ${gwText} is outside ${v4Text(network)}/${prefixLength} (off-link gateways are not supported)`);
    }
    if (edges.includes(gw)) return fail(`gateway ${gwText} is the ${gw === network ? 'network' : 'broadcast'} address of /${prefixLength}`);
    gateway = gwText;
  }
  return { method: 'manual', address: addrText, prefixLength, gateway };
}

function parseIPv6(value: string, fail: Fail): IPv6Provision {
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
      return fail(`gateway ${gwText} is neither link-local nor inside ${networkOf(6, address, prefixLength)}/${prefixLength}`);
    }
    gateway = gw;
  }
  return { method: 'manual', address, prefixLength, gateway };
}

// ---------------------------------------------------------------------------------------------
// Matching and the desired result.
// ---------------------------------------------------------------------------------------------

/** How specific a section's selector is: MAC and DeviceName (3) > MAC (2) > DeviceName (1) > Type only (0). */
function specificity(s: ProvisionedService): number {
  return (s.mac !== null ? 2 : 0) + (s.deviceName !== null ? 1 : 0);
}

function matches(s: ProvisionedService, link: ProvisioningLink, observed: boolean): boolean {
  // An observed link is configured by another tool: a Wi-Fi section that names it (MAC or
  // DeviceName) still tells its nameservers, metered and roaming.
  const usable = s.supported || (observed && (s.mac !== null || s.deviceName !== null));
  if (!usable || link.bearer === null || s.type !== link.bearer) return false;
  if (s.mac !== null && s.mac !== link.mac.toLowerCase()) return false;
  if (s.deviceName !== null && s.deviceName !== link.name) return false;
  return true;
}

/**
 * The section that provisions `link`, or null. A section applies when its Type equals the link's
 * bearer (a link of unknown bearer matches nothing) and every selector it has (MAC, DeviceName)
 * matches. Among applicable sections the most specific wins (MAC+DeviceName, then MAC, then
 * DeviceName, then Type alone); on a tie the later one wins, ordering by file name (code-unit
 * order) and then by position in the file. The input order does not matter.
 */
export function matchProvisioned(services: readonly ProvisionedService[], link: ProvisioningLink, observed = false): ProvisionedService | null {
  let best: ProvisionedService | null = null;
  for (const s of services) {
    if (!matches(s, link, observed)) continue;
    if (best === null) {
      best = s;
      continue;
    }
    const bySpecificity = specificity(s) - specificity(best);
    const byOrder = s.file === best.file ? s.index - best.index : s.file > best.file ? 1 : -1;
    if (bySpecificity > 0 || (bySpecificity === 0 && byOrder > 0)) best = s;
  }
  return best;
}

/** The addressing a section asks for, as plain data (nothing is applied here). */
export function desiredAddressing(p: ProvisionedService): DesiredAddressing {
  const addresses: DesiredAddressing['addresses'] = [];
  const gateways: DesiredAddressing['gateways'] = [];
  if (p.ipv4.method === 'manual') {
    addresses.push({ family: 4, address: p.ipv4.address, prefixLength: p.ipv4.prefixLength });
    if (p.ipv4.gateway !== null) gateways.push({ family: 4, gateway: p.ipv4.gateway });
  }
  if (p.ipv6.method === 'manual') {
    addresses.push({ family: 6, address: p.ipv6.address, prefixLength: p.ipv6.prefixLength });
    if (p.ipv6.gateway !== null) gateways.push({ family: 6, gateway: p.ipv6.gateway });
  }
  return {
    addresses,
    gateways,
    dhcpv4: p.ipv4.method === 'dhcp',
    ipv6: p.ipv6.method !== 'off',
    slaac: p.ipv6.method === 'auto',
    ipv6Privacy: p.ipv6Privacy,
    nameservers: [...p.nameservers],
    searchDomains: [...p.searchDomains],
    domain: p.domain,
  };
}

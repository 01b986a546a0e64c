/**
 * ConnMan provisioning files (`*.config`, ConnMan's doc/config-format.txt): parsing and
 * validation. Matching a section to a link is provisioning.ts; address values are
 * provisioning-addresses.ts.
 *
 * Stricter than ConnMan on purpose, like the policy parser: ConnMan logs a warning for unknown
 * keys and silently falls back on some bad values (a bad IPv4 prefix length becomes /32); here
 * every mistake is a {@link ProvisioningError} naming file, line and key, and the first one
 * rejects the whole file, so the caller can keep that file's previous version in force.
 *
 * Decisions (docs/behaviour.md lists them for users):
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
import { ProvisioningError } from './errors.js';
import { type KeyFileGroup, type KeyFileSyntax, readKeyFile } from './keyfile.js';
import {
  type Fail,
  type IPv4Provision,
  type IPv6Provision,
  parseAnyAddress,
  parseDomain,
  parseHost,
  parseIPv4,
  parseIPv6,
} from './provisioning-addresses.js';
import { isValidInterfaceName } from './settings.js';

/** Service types a provisioning section may name (ConnMan provisions exactly these). */
export const PROVISIONED_TYPES = ['ethernet', 'gadget', 'wifi', 'cellular'] as const;
/** A provisioning section's `Type`. */
export type ProvisionedType = (typeof PROVISIONED_TYPES)[number];

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

type RawGroup = KeyFileGroup;

/**
 * Parses and validates one provisioning file. `[global]` (Name, Description) is accepted and
 * ignored; every other group must be `[service_<ident>]`.
 * @throws ProvisioningError naming the file, the 1-based line and the key at fault.
 */
export function parseProvisioningFile(
  file: string,
  text: string,
  maxServices = Infinity,
  cap = maxServices,
): ProvisionedService[] {
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
    if (!/^service_[\x21-\x7e]+$/.test(name) || /[[\]]/.test(name))
      return `group [${name}] needs a name after 'service_' (printable, no spaces)`;
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
export const PROVISIONING_SERVICES_CAP = {
  key: 'MaxProvisioningServices',
  flag: '--max-provisioning-services',
} as const;

function splitGroups(file: string, text: string, maxServices: number, total: number): RawGroup[] {
  // `maxServices` is what is left of the cap once the other files' services are counted.
  const cap = Number.isFinite(maxServices)
    ? {
        max: maxServices,
        detail: `service ${maxServices + 1} of this file is over ${PROVISIONING_SERVICES_CAP.key} ${total} (${PROVISIONING_SERVICES_CAP.flag}; ${total - maxServices} in force in other files)`,
      }
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
  if (type === null)
    throw new ProvisioningError(file, g.line, `group [${g.name}] has no Type (ethernet, gadget or wifi)`);
  const warnings: string[] = [];
  if (type === 'wifi') {
    // Validated for shape only; secrets are deliberately not kept.
    get('SSID', parseSsid);
    get('Security', oneOf(['psk', 'ieee8021x', 'none', 'wep']));
    get('EAP', oneOf(['tls', 'ttls', 'peap']));
    get('PrivateKeyPassphraseType', oneOf(['fsid']));
    get('Hidden', parseBoolean);
    warnings.push(
      `${file}:${g.line}: [${g.name}] is a wifi section; this daemon does not manage Wi-Fi, so it is never applied`,
    );
  } else {
    for (const [key, entry] of g.values) {
      if (WIFI_KEY_SET.has(key))
        throw new ProvisioningError(
          file,
          entry.line,
          `${key}: only valid in a Type = wifi section (this one is ${type})`,
        );
    }
  }
  const timeservers = get('Timeservers', (v, fail) => parseList(v, fail, parseHost)) ?? [];
  if (timeservers.length > 0) {
    warnings.push(
      `${file}:${g.values.get('Timeservers')?.line ?? g.line}: Timeservers are recorded but this daemon runs no time synchronisation`,
    );
  }
  const mdns = get('mDNS', parseBoolean);
  if (mdns !== null)
    warnings.push(`${file}:${g.values.get('mDNS')?.line ?? g.line}: mDNS is recorded but has no effect here`);
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
  return (value, fail) =>
    (values as readonly string[]).includes(value)
      ? (value as T)
      : fail(`'${value}' is not one of ${values.join(', ')}`);
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
  if (!/^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$/.test(value))
    return fail(`'${value}' is not a MAC address (aa:bb:cc:dd:ee:ff)`);
  const mac = value.toLowerCase();
  if (mac === '00:00:00:00:00:00' || mac === 'ff:ff:ff:ff:ff:ff')
    return fail(`'${value}' cannot be an interface's address`);
  return mac;
}

function parseDeviceName(value: string, fail: Fail): string {
  if (!isValidInterfaceName(value))
    return fail(`'${value}' is not a valid interface name (1-15 characters, no '/', ':' or whitespace)`);
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

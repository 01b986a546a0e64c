/**
 * Parser for `*.policy` files: the GLib key-file subset that ConnMan's `session_policy_local`
 * reads, plus our keys (`cgroup`, `AllowedInterface`, `SourceIPRule`). Stricter than ConnMan on
 * purpose: every mistake is a {@link PolicyParseError} with file and line, because a policy that
 * silently does less than its author meant is a security problem. Differences from ConnMan are
 * listed in docs/behaviour.md.
 */

import { type Bearer, CONNECTION_TYPES, type ConnectionType } from '../../lib/protocol.js';
import { PolicyParseError, UnknownBearerError } from './errors.js';
import { type KeyFileGroup, type KeyFileSyntax, readKeyFile } from './keyfile.js';
import { isValidInterfaceName, parseBearerList } from './settings.js';

/** ConnMan's roaming values. Stored and reported only; nothing acts on them (as in ConnMan). */
export type RoamingPolicy = 'default' | 'always' | 'forbidden' | 'national' | 'international';

/** One `[group]` of a policy file, validated. */
export interface PolicyGroup {
  /** File name, e.g. `foo.policy`. */
  file: string;
  /** Group name as written, e.g. `policy_foo`. */
  name: string;
  /** Position of the group in its file (0-based); orders groups deterministically. */
  index: number;
  /** User name or decimal uid (ConnMan accepted names only). */
  uid: string | null;
  /** Group name or decimal gid. */
  gid: string | null;
  /** Absolute cgroupv2 path; matches that cgroup and everything below it (our extension). */
  cgroup: string | null;
  /** SELinux type, e.g. `foo_t`. */
  selinux: string | null;
  /** `null`: key absent, every bearer (including vpn) is allowed. `[]`: sessions never connect. */
  allowedBearers: Bearer[] | null;
  /** `null`: key absent, same as `any`. */
  connectionType: ConnectionType | null;
  /** Forced interface, or `null` for none (absent or `*`). Our extension. */
  allowedInterface: string | null;
  /** Forced SourceIPRule, or `null` for the user's own value. Our extension. */
  sourceIPRule: boolean | null;
  priority: boolean;
  emergencyCall: boolean;
  /** Defaults to `default` (ConnMan's code default; its documentation wrongly says `forbidden`). */
  roamingPolicy: RoamingPolicy;
}

/** RoamingPolicy values ConnMan knows (they have no effect there or here; stored and reported only). */
export const ROAMING_POLICIES: readonly RoamingPolicy[] = [
  'default',
  'always',
  'forbidden',
  'national',
  'international',
];

/** Keys a group may hold; anything else is rejected so typos do not go unnoticed. */
const KEYS = [
  'uid',
  'gid',
  'selinux',
  'cgroup',
  'AllowedBearers',
  'ConnectionType',
  'Priority',
  'EmergencyCall',
  'RoamingPolicy',
  'AllowedInterface',
  'SourceIPRule',
] as const;
type Key = (typeof KEYS)[number];
const KEY_SET: ReadonlySet<string> = new Set(KEYS);

/**
 * True for names the policy directory watcher should load: ConnMan's rule (no leading '.',
 * ends in `.policy`) plus "a plain name", so a path can never be smuggled in.
 */
export function isPolicyFileName(name: string): boolean {
  return (
    !name.startsWith('.') &&
    name.endsWith('.policy') &&
    name.length > '.policy'.length &&
    !name.includes('/') &&
    !name.includes('\0')
  );
}

type RawGroup = KeyFileGroup;

/**
 * Parses one policy file. Every group is parsed (no `policy_` prefix check, as in ConnMan);
 * the first error rejects the whole file, so the caller can keep that file's previous version.
 * @throws PolicyParseError naming the file, the 1-based line and what is wrong.
 */
export function parsePolicyFile(file: string, text: string, maxGroups = Infinity, cap = maxGroups): PolicyGroup[] {
  const raw = splitGroups(file, text, maxGroups, cap);
  return raw.map((g, index) => buildGroup(file, g, index));
}

const POLICY_SYNTAX: KeyFileSyntax = {
  headerHint: '[name]',
  lineHint: 'key=value',
  groupWord: '[group]',
  trimGroupName: true,
  checkGroup: (name) => (name === '' || /[\p{Cc}]/u.test(name) ? 'group name must be non-empty printable text' : null),
  checkKey: (_group, key) => (KEY_SET.has(key) ? null : `unknown key '${key}' (known keys: ${KEYS.join(', ')})`),
};

/** `MaxPolicyGroups` / `--max-policy-groups`: groups in force across the policy directory. */
export const POLICY_GROUPS_CAP = { key: 'MaxPolicyGroups', flag: '--max-policy-groups' } as const;

function splitGroups(file: string, text: string, maxGroups: number, total: number): RawGroup[] {
  // `maxGroups` is what is left of the cap once the other files' groups are counted.
  const cap = Number.isFinite(maxGroups)
    ? {
        max: maxGroups,
        detail: `group ${maxGroups + 1} of this file is over ${POLICY_GROUPS_CAP.key} ${total} (${POLICY_GROUPS_CAP.flag}; ${total - maxGroups} in force in other files)`,
      }
    : undefined;
  return readKeyFile(
    text,
    POLICY_SYNTAX,
    (line, detail) => {
      throw new PolicyParseError(file, line, detail);
    },
    cap,
  );
}

function buildGroup(file: string, g: RawGroup, index: number): PolicyGroup {
  const get = <T>(key: Key, parse: (value: string, fail: (detail: string) => never) => T): T | null => {
    const entry = g.values.get(key);
    if (entry === undefined) return null;
    return parse(entry.value, (detail) => {
      throw new PolicyParseError(file, entry.line, `${key}: ${detail}`);
    });
  };
  const out: PolicyGroup = {
    file,
    name: g.name,
    index,
    uid: get('uid', parseId),
    gid: get('gid', parseId),
    cgroup: get('cgroup', parseCgroup),
    selinux: get('selinux', parseSelinux),
    allowedBearers: get('AllowedBearers', parseBearers),
    connectionType: get('ConnectionType', parseConnectionType),
    allowedInterface: get('AllowedInterface', parseInterface),
    sourceIPRule: get('SourceIPRule', parseBoolean),
    priority: get('Priority', parseBoolean) ?? false,
    emergencyCall: get('EmergencyCall', parseBoolean) ?? false,
    roamingPolicy: get('RoamingPolicy', parseRoaming) ?? 'default',
  };
  if (out.uid === null && out.gid === null && out.cgroup === null && out.selinux === null) {
    throw new PolicyParseError(file, g.line, `group [${g.name}] has no identity key (uid, gid, selinux or cgroup)`);
  }
  return out;
}

type Fail = (detail: string) => never;

/** Largest valid uid/gid: (uid_t)-1 is "no id" to the kernel. */
const MAX_ID = 0xfffffffe;

function parseId(value: string, fail: Fail): string {
  if (value === '') return fail('empty value (give a name or a decimal id)');
  if (/[\s:,]/.test(value)) return fail(`'${value}' is not a single name or decimal id`);
  if (/^\d+$/.test(value)) {
    // Numeric ids are compared as decimal strings, so only the canonical spelling can ever match.
    if (!/^(0|[1-9]\d*)$/.test(value) || Number(value) > MAX_ID) return fail(`'${value}' is not a valid decimal id`);
  }
  return value;
}

function parseSelinux(value: string, fail: Fail): string {
  if (value === '') return fail('empty value (give an SELinux type such as foo_t)');
  // The match is against the type field only; a full context would silently never match.
  if (value.includes(':')) return fail(`'${value}' looks like a full context; give only the type (e.g. foo_t)`);
  if (/\s/.test(value)) return fail(`'${value}' is not a single SELinux type`);
  return value;
}

function parseCgroup(value: string, fail: Fail): string {
  if (!value.startsWith('/'))
    return fail(`'${value}' must be an absolute cgroupv2 path such as /system.slice/app.service`);
  if (/[\p{Cc}]/u.test(value)) return fail('path contains control characters');
  if (value === '/') return value;
  const segments = value.slice(1).split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) {
    return fail(`'${value}' is not a normalised path (no empty, '.' or '..' segments, no trailing '/')`);
  }
  return value;
}

function parseBearers(value: string, fail: Fail): Bearer[] {
  try {
    return parseBearerList(value.split(/[\s,;]+/));
  } catch (e) {
    if (e instanceof UnknownBearerError) return fail(e.message);
    throw e;
  }
}

function parseConnectionType(value: string, fail: Fail): ConnectionType {
  if (!(CONNECTION_TYPES as readonly string[]).includes(value))
    return fail(`'${value}' is not one of ${CONNECTION_TYPES.join(', ')}`);
  return value as ConnectionType;
}

function parseRoaming(value: string, fail: Fail): RoamingPolicy {
  if (!(ROAMING_POLICIES as readonly string[]).includes(value))
    return fail(`'${value}' is not one of ${ROAMING_POLICIES.join(', ')}`);
  return value as RoamingPolicy;
}

function parseBoolean(value: string, fail: Fail): boolean {
  const v = value.toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  return fail(`'${value}' is not a boolean (true, false, 1 or 0)`);
}

/** `*` means "no restriction from the policy": stored like an absent key, so the user's value applies. */
function parseInterface(value: string, fail: Fail): string | null {
  if (value === '*') return null;
  if (!isValidInterfaceName(value))
    return fail(`'${value}' is not a valid interface name (1-15 characters, no '/', ':' or whitespace; * for any)`);
  return value;
}

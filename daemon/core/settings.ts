/**
 * Validation of session settings as clients send them (CreateSession's dict, Change's pair).
 * Accepts what ConnMan accepts; rejects the rest with one typed error per condition. The
 * deliberate differences from ConnMan are listed in docs/behaviour.md.
 */
import {
  BEARERS,
  type Bearer,
  CONNECTION_TYPES,
  type ConnectionType,
  CREATE_SETTING_SIGNATURES,
  DEFAULT_BEARERS,
  isValidInterfaceName,
  type RequestKey,
  SETTING_SIGNATURES,
} from '../../lib/protocol.js';
import {
  BadConnectionTypeError,
  BadInterfaceNameError,
  ReadOnlySettingError,
  UnknownBearerError,
  UnknownSettingError,
  WrongTypeError,
} from './errors.js';

/** A D-Bus variant as the bus adapter hands it over: its signature and its decoded value. */
export interface RawValue {
  signature: string;
  value: unknown;
}

/** What a client asked for (before policy). Absent keys keep their defaults. */
export interface RequestedSettings {
  /** Expanded and de-duplicated, in the client's order. `null` means "not given" (all defaults). */
  allowedBearers: Bearer[] | null;
  connectionType: ConnectionType;
  /** `null` means any interface (also what `*` and `""` mean). */
  allowedInterface: string | null;
  sourceIPRule: boolean;
  contextIdentifier: string;
  /** Prefer unmetered uplinks; a metered one only while no unmetered one is eligible (extension). */
  avoidMetered: boolean;
}

/** Defaults for a session that passed an empty dict. */
export function defaultRequest(): RequestedSettings {
  return {
    allowedBearers: null,
    connectionType: 'any',
    allowedInterface: null,
    sourceIPRule: false,
    contextIdentifier: '',
    avoidMetered: false,
  };
}

const BEARER_SET: ReadonlySet<string> = new Set(BEARERS);

/**
 * Parses a bearer list: `*` expands in place to ConnMan's default five, empty strings are
 * skipped, duplicates keep their first position, anything else unknown is an error.
 */
export function parseBearerList(items: readonly string[]): Bearer[] {
  const out: Bearer[] = [];
  const seen = new Set<Bearer>();
  const push = (b: Bearer): void => {
    if (!seen.has(b)) {
      seen.add(b);
      out.push(b);
    }
  };
  for (const item of items) {
    if (item === '') continue;
    if (item === '*') {
      DEFAULT_BEARERS.forEach(push);
      continue;
    }
    if (!BEARER_SET.has(item)) throw new UnknownBearerError(item);
    push(item as Bearer);
  }
  return out;
}

export { isValidInterfaceName } from '../../lib/protocol.js';

function expectSignature(key: string, raw: RawValue, expected: string): void {
  if (raw.signature !== expected) throw new WrongTypeError(key, expected, raw.signature);
}

function parseInterface(raw: string): string | null {
  if (raw === '' || raw === '*') return null;
  if (!isValidInterfaceName(raw)) throw new BadInterfaceNameError(raw);
  return raw;
}

function parseConnectionType(raw: string): ConnectionType {
  if (!(CONNECTION_TYPES as readonly string[]).includes(raw)) throw new BadConnectionTypeError(raw);
  return raw as ConnectionType;
}

/**
 * Applies one key/value to a copy of `base` and returns the copy. Shared by CreateSession and
 * Change so both validate identically. Throws without touching `base`.
 */
export function applySetting(base: RequestedSettings, key: string, raw: RawValue): RequestedSettings {
  if (!Object.hasOwn(CREATE_SETTING_SIGNATURES, key)) {
    if (Object.hasOwn(SETTING_SIGNATURES, key)) throw new ReadOnlySettingError(key);
    throw new UnknownSettingError(key);
  }
  const k = key as RequestKey;
  expectSignature(k, raw, CREATE_SETTING_SIGNATURES[k]);
  const next = { ...base };
  switch (k) {
    case 'AllowedBearers': {
      const items = raw.value;
      if (!Array.isArray(items) || items.some((x) => typeof x !== 'string'))
        throw new WrongTypeError(k, 'as', raw.signature);
      next.allowedBearers = parseBearerList(items as string[]);
      break;
    }
    case 'ConnectionType':
      next.connectionType = parseConnectionType(String(raw.value));
      break;
    case 'AllowedInterface':
      next.allowedInterface = parseInterface(String(raw.value));
      break;
    case 'SourceIPRule':
      if (typeof raw.value !== 'boolean') throw new WrongTypeError(k, 'b', raw.signature);
      next.sourceIPRule = raw.value;
      break;
    case 'ContextIdentifier':
      next.contextIdentifier = String(raw.value);
      break;
    case 'AvoidMetered':
      if (typeof raw.value !== 'boolean') throw new WrongTypeError(k, 'b', raw.signature);
      next.avoidMetered = raw.value;
      break;
    default: {
      const never: never = k;
      throw new UnknownSettingError(never);
    }
  }
  return next;
}

/** Validates a whole CreateSession dict. Any bad key rejects the whole call. */
export function parseCreateSettings(dict: Readonly<Record<string, RawValue>>): RequestedSettings {
  let out = defaultRequest();
  for (const [key, raw] of Object.entries(dict)) out = applySetting(out, key, raw);
  return out;
}

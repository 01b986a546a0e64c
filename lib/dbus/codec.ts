/**
 * ConnMan's wire values and dbus-next's Variants: encoding CreateSession/Change values with their
 * exact signatures, decoding Update dicts and GetStatistics. A key whose signature is not
 * ConnMan's is dropped rather than trusted (a strict client, as ConnMan's own tools are).
 */
import dbus from 'dbus-next';
import { CREATE_SETTING_SIGNATURES, SETTING_SIGNATURES, STATISTICS_KEYS, type RequestKey, type SessionSettings } from '../protocol.js';
import type { SessionRequest, SessionStatistics } from '../transport.js';

const { Variant } = dbus;
/** dbus-next's Variant instance. */
export type DBusVariant = InstanceType<typeof Variant>;

/** One setting as the Variant CreateSession's dict and Change take. */
export function encodeSetting(key: RequestKey, value: unknown): DBusVariant {
  return new Variant(CREATE_SETTING_SIGNATURES[key], Array.isArray(value) ? [...value] : value);
}

/** CreateSession's `a{sv}`. */
export function encodeRequest(request: SessionRequest): Record<string, DBusVariant> {
  const out: Record<string, DBusVariant> = {};
  for (const [key, value] of Object.entries(request)) {
    if (value !== undefined) out[key] = encodeSetting(key as RequestKey, value);
  }
  return out;
}

function isVariant(v: unknown): v is DBusVariant {
  return v instanceof Variant;
}

function plainDict(v: unknown): Record<string, unknown> | null {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return null;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = isVariant(x) ? x.value : x;
  return out;
}

function valueFits(signature: string, value: unknown): boolean {
  switch (signature) {
    case 's':
      return typeof value === 'string';
    case 'b':
      return typeof value === 'boolean';
    case 'as':
      return Array.isArray(value) && value.every((x) => typeof x === 'string');
    case 'a{sv}':
      return value !== null && typeof value === 'object' && !Array.isArray(value);
    default:
      return false;
  }
}

/** Decodes an Update's `a{sv}`: known keys with ConnMan's signature, nested dicts unwrapped. */
export function decodeSettings(dict: unknown): Partial<SessionSettings> {
  const out: Record<string, unknown> = {};
  if (!dict || typeof dict !== 'object') return out;
  for (const [key, v] of Object.entries(dict as Record<string, unknown>)) {
    if (!Object.hasOwn(SETTING_SIGNATURES, key) || !isVariant(v)) continue;
    const signature = SETTING_SIGNATURES[key as keyof typeof SETTING_SIGNATURES];
    if (v.signature !== signature || !valueFits(signature, v.value)) continue;
    out[key] = signature === 'a{sv}' ? plainDict(v.value) : v.value;
  }
  return out as Partial<SessionSettings>;
}

/** Decodes GetStatistics' `a{sv}` (every value a `t`, i.e. a BigInt); missing counters are 0. */
export function decodeStatistics(dict: unknown): SessionStatistics {
  const d = (dict && typeof dict === 'object' ? dict : {}) as Record<string, unknown>;
  const get = (key: string): bigint => {
    const v = d[key];
    const x = isVariant(v) ? v.value : v;
    return typeof x === 'bigint' ? x : typeof x === 'number' ? BigInt(x) : 0n;
  };
  return {
    rxBytes: get(STATISTICS_KEYS.rxBytes),
    txBytes: get(STATISTICS_KEYS.txBytes),
    rxPackets: get(STATISTICS_KEYS.rxPackets),
    txPackets: get(STATISTICS_KEYS.txPackets),
  };
}

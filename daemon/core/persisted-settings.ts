/**
 * The daemon's persisted settings (ConnMan's `settings` file plus the per-service `Favorite` and
 * `AutoConnect` flags) as a typed value, and its text form.
 *
 * Format: JSON, two-space indented, keys sorted, one trailing newline. Chosen over ConnMan's INI
 * (GKeyFile) because the file is not shared with ConnMan's tools (only the D-Bus API is
 * compatible), JSON.parse is a complete, well-specified parser (an INI reader would be
 * hand-written, with its own escaping and duplicate-group questions), and the nested value maps
 * onto it directly. Sorted keys make the text a function of the value: equal settings give
 * byte-equal files, so a write can be skipped when nothing changed and diffs stay readable.
 *
 * `decode` never throws: a corrupt or hand-broken file must not stop the daemon. Whatever cannot
 * be used is dropped with a warning and the default takes its place.
 */
import { BEARERS, type Bearer } from '../../lib/protocol.js';

/** Per-service persisted flags. */
export interface PersistedService {
  favorite: boolean;
  autoConnect: boolean;
}

/** Everything netsessiond keeps across restarts. */
export interface PersistedSettings {
  version: 1;
  /** Manager.OfflineMode. */
  offlineMode: boolean;
  /** Technology.Powered of every bearer. */
  technologies: Record<Bearer, { powered: boolean }>;
  /** By service id (an object path element: `[A-Za-z0-9_]+`). */
  services: Record<string, PersistedService>;
}

/** Result of {@link decodeSettings}. */
export interface DecodedSettings {
  state: PersistedSettings;
  /** One line per thing dropped or defaulted, for the log. */
  warnings: string[];
  /**
   * False when nothing of the file could be used (not JSON, not an object): overwriting it would
   * destroy what someone may want back, so the caller should not save over it.
   */
  usable: boolean;
}

/** The only version this code writes. */
export const SETTINGS_VERSION = 1;

/** Most services kept from a settings file: far above any device's links, and a bound on memory. */
export const MAX_SAVED_SERVICES = 1024;

/** Service ids become D-Bus object path elements, so only these characters can be real ids. */
const SERVICE_ID_RE = /^[A-Za-z0-9_]+$/;

/** Settings of a fresh install: online, every technology powered (as ConnMan), no services. */
export function defaultSettings(): PersistedSettings {
  return {
    version: 1,
    offlineMode: false,
    technologies: Object.fromEntries(BEARERS.map((b) => [b, { powered: true }])) as Record<
      Bearer,
      { powered: boolean }
    >,
    services: {},
  };
}

/** JSON with object keys sorted at every level (arrays keep their order). */
function sortedJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortedJson);
  if (v !== null && typeof v === 'object') {
    // fromEntries defines own properties, so an id like `__proto__` stays data.
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortedJson((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

/** The text form of `state` (stable: equal values give equal text). Only known fields are written. */
export function encodeSettings(state: PersistedSettings): string {
  const value = {
    version: SETTINGS_VERSION,
    offlineMode: state.offlineMode,
    technologies: Object.fromEntries(BEARERS.map((b) => [b, { powered: state.technologies[b]?.powered ?? true }])),
    services: Object.fromEntries(
      Object.entries(state.services).map(([id, s]) => [id, { favorite: s.favorite, autoConnect: s.autoConnect }]),
    ),
  };
  return `${JSON.stringify(sortedJson(value), null, 2)}\n`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string'
    ? `string ${JSON.stringify(v.slice(0, 40))}`
    : typeof v === 'object'
      ? 'an object'
      : `${typeof v} ${String(v)}`;
}

function quote(key: string): string {
  return JSON.stringify(key.length > 60 ? `${key.slice(0, 60)}...` : key);
}

/** Reads a boolean field of `obj`, warning (and returning `fallback`) when absent or not a boolean. */
function bool(
  obj: Record<string, unknown>,
  key: string,
  fallback: boolean,
  where: string,
  warnings: string[],
): boolean {
  if (!Object.hasOwn(obj, key)) {
    warnings.push(`${where}: ${key} missing, using ${fallback}`);
    return fallback;
  }
  const v = obj[key];
  if (typeof v === 'boolean') return v;
  warnings.push(`${where}: ${key} is ${describe(v)}, not a boolean; using ${fallback}`);
  return fallback;
}

function unknownKeys(obj: Record<string, unknown>, known: readonly string[], where: string, warnings: string[]): void {
  for (const k of Object.keys(obj)) if (!known.includes(k)) warnings.push(`${where}: unknown key ${quote(k)} dropped`);
}

function decodeTechnologies(v: unknown, out: PersistedSettings, warnings: string[]): void {
  if (!isRecord(v)) {
    warnings.push(`technologies is ${describe(v)}, not an object; every technology powered`);
    return;
  }
  for (const [bearer, t] of Object.entries(v)) {
    if (!(BEARERS as readonly string[]).includes(bearer)) {
      warnings.push(`technologies: unknown bearer ${quote(bearer)} dropped`);
      continue;
    }
    const where = `technologies.${bearer}`;
    if (!isRecord(t)) {
      warnings.push(`${where} is ${describe(t)}, not an object; powered`);
      continue;
    }
    unknownKeys(t, ['powered'], where, warnings);
    out.technologies[bearer as Bearer] = { powered: bool(t, 'powered', true, where, warnings) };
  }
}

function decodeServices(v: unknown, warnings: string[]): Record<string, PersistedService> {
  if (!isRecord(v)) {
    warnings.push(`services is ${describe(v)}, not an object; no service settings`);
    return {};
  }
  const entries: Array<[string, PersistedService]> = [];
  const all = Object.keys(v);
  if (all.length > MAX_SAVED_SERVICES)
    warnings.push(`services: ${all.length} entries, over the cap of ${MAX_SAVED_SERVICES}; the rest dropped`);
  for (const id of all.slice(0, MAX_SAVED_SERVICES)) {
    const s = v[id];
    if (!SERVICE_ID_RE.test(id)) {
      warnings.push(`services: invalid service id ${quote(id)} dropped`);
      continue;
    }
    const where = `services.${id}`;
    if (!isRecord(s)) {
      warnings.push(`${where} is ${describe(s)}, not an object; dropped`);
      continue;
    }
    unknownKeys(s, ['favorite', 'autoConnect'], where, warnings);
    const favorite = bool(s, 'favorite', false, where, warnings);
    // ConnMan turns AutoConnect on when a service becomes a favorite, so that is the fallback.
    const autoConnect = bool(s, 'autoConnect', favorite, where, warnings);
    entries.push([id, { favorite, autoConnect }]);
  }
  return Object.fromEntries(entries);
}

/**
 * Parses the text form. Never throws: unparsable text gives the defaults; unknown keys, bad
 * values and invalid ids are dropped (defaults used) with one warning each. A version other than
 * 1 is read best-effort (known keys only), with a warning.
 */
export function decodeSettings(text: string): DecodedSettings {
  const warnings: string[] = [];
  const state = defaultSettings();
  if (text.trim() === '') {
    warnings.push('settings file is empty; using defaults');
    return { state, warnings, usable: true };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    warnings.push(`settings file is not valid JSON (${(e as Error).message}); using defaults`);
    return { state, warnings, usable: false };
  }
  if (!isRecord(raw)) {
    warnings.push(`settings file holds ${describe(raw)}, not an object; using defaults`);
    return { state, warnings, usable: false };
  }
  if (raw.version !== SETTINGS_VERSION) {
    warnings.push(
      `settings version is ${Object.hasOwn(raw, 'version') ? describe(raw.version) : 'missing'}, expected ${SETTINGS_VERSION}; reading the keys this version knows`,
    );
  }
  unknownKeys(raw, ['version', 'offlineMode', 'technologies', 'services'], 'settings', warnings);
  if (Object.hasOwn(raw, 'offlineMode')) state.offlineMode = bool(raw, 'offlineMode', false, 'settings', warnings);
  if (Object.hasOwn(raw, 'technologies')) decodeTechnologies(raw.technologies, state, warnings);
  if (Object.hasOwn(raw, 'services')) state.services = decodeServices(raw.services, warnings);
  return { state, warnings, usable: true };
}

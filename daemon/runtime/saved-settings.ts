/**
 * The settings that survive a restart (OfflineMode, Technology.Powered, managed services'
 * AutoConnect and Favorite): read once before the first link is seen, written whenever they
 * change. The file format is core/persisted-settings.ts; the Store port writes atomically.
 * A file that cannot be read is never overwritten: the operator may want it back.
 */
import type { Bearer } from '../../lib/protocol.js';
import type { Engine } from '../core/engine.js';
import { decodeSettings, defaultSettings, encodeSettings, type PersistedSettings } from '../core/persisted-settings.js';
import type { Logger, Store } from '../ports.js';

/** Store key of the persisted switches. */
export const SETTINGS_KEY = 'settings';

export interface SavedSettingsDeps {
  engine: Engine;
  store?: Store;
  log: Logger;
}

export class SavedSettings {
  readonly #d: SavedSettingsDeps;
  #persisted: PersistedSettings | null = null;
  #lastSaved = '';
  /** False when the settings file could not be read or the store is read-only: never written then. */
  #saving = true;
  #chain: Promise<void> = Promise.resolve();

  constructor(deps: SavedSettingsDeps) {
    this.#d = deps;
  }

  /** Resolves once every write asked for so far is done (or failed and was logged). */
  get written(): Promise<void> {
    return this.#chain;
  }

  /** Restores OfflineMode and Powered before the first link is seen, so nothing flaps at start. */
  async restore(): Promise<void> {
    const { store, log, engine } = this.#d;
    if (!store) return;
    const where = store.describe?.(SETTINGS_KEY) ?? SETTINGS_KEY;
    const noSaving = (why: string) => {
      this.#saving = false;
      log(
        'warn',
        `settings: ${where} ${why}: running with default settings and without saving them; fix: repair or remove ${where}, then restart the daemon`,
      );
    };
    if (store.writable === false)
      log(
        'warn',
        `settings: the state directory of ${where} is not writable: settings changes will not be saved; fix: make it writable, then restart the daemon`,
      );
    this.#saving = store.writable !== false;
    let text: string | null;
    try {
      text = await store.read(SETTINGS_KEY);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return noSaving(`cannot be read (${e.code ?? e.message.slice(where.length + 2)})`);
    }
    if (text === null) return;
    const { state, warnings, usable } = decodeSettings(text);
    if (!usable) return noSaving(`is corrupt (${warnings.join('; ')})`);
    // A hand-broken file can hold thousands of bad entries: a few lines say enough.
    for (const w of warnings.slice(0, 5)) log('warn', `settings: ${w}`);
    if (warnings.length > 5) log('warn', `settings: ${warnings.length - 5} more problem(s) in ${where}`);
    this.#persisted = state;
    const powered = Object.fromEntries(Object.entries(state.technologies).map(([b, t]) => [b, t.powered]));
    engine.registry.restore(state.offlineMode, powered);
    engine.restoreServiceFlags(state.services);
    this.#lastSaved = encodeSettings(this.#now());
    log('info', `settings restored: OfflineMode ${state.offlineMode}`);
  }

  /** Writes the settings when they changed; writes are serialised and atomic (the store's). */
  persist(): void {
    const { store, log } = this.#d;
    if (!store || !this.#saving) return;
    const state = this.#now();
    const text = encodeSettings(state);
    if (text === this.#lastSaved) return;
    this.#lastSaved = text;
    this.#persisted = state;
    this.#chain = this.#chain
      .then(() => store.write(SETTINGS_KEY, text))
      .catch((err: unknown) => log('error', `settings not saved: ${(err as Error).message}`));
  }

  /** The settings as they are now: switches from the registry, service flags from manage mode. */
  #now(): PersistedSettings {
    const { engine } = this.#d;
    const sw = engine.registry.switches();
    const base = this.#persisted ?? defaultSettings();
    const technologies = { ...base.technologies };
    for (const [b, p] of Object.entries(sw.powered) as Array<[Bearer, boolean]>) technologies[b] = { powered: p };
    // Flags of services this run does not manage are kept for when they are managed again.
    const services = engine.manage.enabled ? { ...base.services, ...engine.manage.persisted() } : base.services;
    return { ...base, offlineMode: sw.offline, technologies, services };
  }
}

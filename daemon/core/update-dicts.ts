/**
 * Update dicts by content: equal changes (every session created on one service gets the same
 * first Update, and the same last one) are turned into one PropDict object, built once. The bus
 * adapter keeps each PropDict's encoded body by identity, so a recurring Update costs a lookup
 * here and none there. Before, the adapter keyed its bodies by the dict's JSON, ~700 characters
 * per first Update built and hashed on every call: with building the PropDict, 45 µs of a paced
 * create's ~300 µs in the daemon (docs/architecture.md, "Where a paced CreateSession's time goes").
 */
import { BoundedMap } from './bounded-map.js';
import { type PropDict, updateDict } from './properties.js';
import type { SettingsDelta } from './updates.js';

/**
 * A value's part of a key, unambiguous whatever a string holds (a client's ContextIdentifier
 * included): a type letter, strings with their length first, lists with their count, dict
 * entries with their key's length first and a terminator. Settings hold strings, booleans,
 * string lists and flat dicts of strings and numbers; anything else still gets a distinct tag.
 */
function keyPart(v: unknown): string {
  if (typeof v === 'string') return `s${v.length}:${v}`;
  if (typeof v === 'boolean') return v ? 't' : 'f';
  if (typeof v === 'number') return `n${v};`;
  if (Array.isArray(v)) {
    let out = `a${v.length}:`;
    for (const x of v) out += keyPart(x);
    return out;
  }
  if (v !== null && typeof v === 'object') {
    let out = 'd';
    for (const k in v) if (Object.hasOwn(v, k)) out += `${k.length}:${k}${keyPart((v as Record<string, unknown>)[k])}`;
    return `${out};`;
  }
  return v === undefined ? 'u' : 'z';
}

/**
 * The key of an Update's content: each setting's name (one of a fixed set) and its value's
 * part, which ends itself, so the next name starts where it ends. Built by hand: cheaper than
 * JSON for the parts that are lists and dicts (1.8–3.2 against 3.0–4.7 µs per first Update, hot).
 */
export function updateKey(changes: SettingsDelta): string {
  let key = '';
  for (const [name, value] of changes) key += name + keyPart(value);
  return key;
}

/** The PropDicts of recent Update contents (at most `limit`; a stream of one-off contents empties it now and then). */
export class UpdateDicts {
  readonly #byKey: BoundedMap<string, PropDict>;

  constructor(limit = 256) {
    this.#byKey = new BoundedMap(limit);
  }

  /** The PropDict of `changes`; the same object for equal changes while it is remembered. Never to be modified. */
  dictOf(changes: SettingsDelta): PropDict {
    const key = updateKey(changes);
    return this.#byKey.get(key) ?? this.#byKey.set(key, updateDict(changes));
  }
}

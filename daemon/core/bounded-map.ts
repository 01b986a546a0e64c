/**
 * A map of things built once and used again (encoded messages, parsed addresses), with a bound:
 * it is emptied when full, so a stream of one-off keys costs a rebuild now and then, never
 * unbounded memory. No recency bookkeeping: the recurring keys are few and come back at once.
 */
export class BoundedMap<K, V> {
  readonly #map = new Map<K, V>();

  constructor(readonly limit: number) {}

  get(key: K): V | undefined {
    return this.#map.get(key);
  }

  /** Remembers `value` for `key` (emptying the map first when it holds `limit` entries); returns `value`. */
  set(key: K, value: V): V {
    if (this.#map.size >= this.limit) this.#map.clear();
    this.#map.set(key, value);
    return value;
  }

  get size(): number {
    return this.#map.size;
  }
}

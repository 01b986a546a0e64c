/**
 * A function of an object, computed once per object. For values derived from records that are
 * never modified once built — routing parts and rules, prepared services, encoded messages,
 * interface descriptions — which the daemon meets again call after call. The values live in a
 * WeakMap, so each goes with its object.
 */
export function memoByObject<K extends object, V>(compute: (key: K) => V): (key: K) => V {
  const memo = new WeakMap<K, V>();
  return (key) => {
    let value = memo.get(key);
    if (value === undefined) {
      value = compute(key);
      memo.set(key, value);
    }
    return value;
  };
}

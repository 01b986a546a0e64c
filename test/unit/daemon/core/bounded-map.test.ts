import { describe, expect, it } from 'vitest';
import { BoundedMap } from '../../../../daemon/core/bounded-map.js';

describe('BoundedMap', () => {
  it('remembers values, returns what it was given, and empties itself when full', () => {
    const m = new BoundedMap<string, number>(2);
    expect(m.get('a')).toBeUndefined();
    expect(m.set('a', 1)).toBe(1);
    expect(m.set('b', 2)).toBe(2);
    expect([m.get('a'), m.get('b'), m.size]).toEqual([1, 2, 2]);
    // Full: the next key empties it first, so its size never passes the bound.
    m.set('c', 3);
    expect([m.get('a'), m.get('b'), m.get('c'), m.size]).toEqual([undefined, undefined, 3, 1]);
  });
});

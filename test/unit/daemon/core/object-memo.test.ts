import { describe, expect, it } from 'vitest';
import { memoByObject } from '../../../../daemon/core/object-memo.js';

describe('memoByObject', () => {
  it('computes once per object, separately for equal but distinct objects', () => {
    let calls = 0;
    const json = memoByObject((o: { a: number }) => {
      calls++;
      return JSON.stringify(o);
    });
    const x = { a: 1 };
    expect(json(x)).toBe('{"a":1}');
    expect(json(x)).toBe('{"a":1}');
    expect(calls).toBe(1);
    expect(json({ a: 1 })).toBe('{"a":1}');
    expect(calls).toBe(2);
  });
});

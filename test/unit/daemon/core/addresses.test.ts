/**
 * Address parses are remembered (addresses.ts): what one caller does with its bytes must not
 * reach the next caller, and a cached answer equals a fresh one.
 */
import { describe, expect, it } from 'vitest';
import { addressBytes, canonicalAddress, networkOf } from '../../../../daemon/core/addresses.js';

describe('remembered address parses', () => {
  it('hand out copies: changing the bytes, or networkOf clearing host bits, leaves the next answer intact', () => {
    const first = addressBytes(4, '198.51.100.18')!;
    first[3] = 0;
    expect(networkOf(4, '198.51.100.18', 24)).toBe('198.51.100.0');
    expect(addressBytes(4, '198.51.100.18')).toEqual([198, 51, 100, 18]);
    expect(networkOf(6, '2001:db8::1:2', 112)).toBe('2001:db8::1:0');
    expect(canonicalAddress(6, '2001:db8::1:2')).toBe('2001:db8::1:2');
  });

  it('give the same answers the second time, invalid text included', () => {
    for (const [f, a] of [
      [4, '198.51.100.300'],
      [6, '2001:DB8:0:0:0:0:0:1'],
      [6, 'nope'],
      [4, '203.0.113.7'],
    ] as const) {
      const once = [canonicalAddress(f, a), addressBytes(f, a)];
      expect([canonicalAddress(f, a), addressBytes(f, a)]).toEqual(once);
    }
    expect(canonicalAddress(6, '2001:DB8:0:0:0:0:0:1')).toBe('2001:db8::1');
    expect(canonicalAddress(4, '198.51.100.300')).toBeNull();
  });
});

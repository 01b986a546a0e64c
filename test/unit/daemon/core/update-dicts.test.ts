/**
 * Update dicts by content (core/update-dicts.ts).
 *
 * | input                                                         | expected                                   |
 * |---------------------------------------------------------------|--------------------------------------------|
 * | two equal first Updates, built apart                          | one PropDict object, equal to updateDict's |
 * | a value changed in a list, a dict or a string                 | another object                             |
 * | ContextIdentifiers that would run into the next setting       | different keys (lengths go first)          |
 * | more contents than the limit                                  | still right, the oldest forgotten          |
 */
import { describe, expect, it } from 'vitest';
import { updateDict } from '../../../../daemon/core/properties.js';
import { UpdateDicts, updateKey } from '../../../../daemon/core/update-dicts.js';
import { fullUpdate } from '../../../../daemon/core/updates.js';
import { sessionSettings } from '../../../fakes/settings.js';

const settings = sessionSettings;

describe('UpdateDicts', () => {
  it('gives equal contents one PropDict, the one updateDict builds', () => {
    const dicts = new UpdateDicts();
    const a = dicts.dictOf(fullUpdate(settings()));
    const b = dicts.dictOf(fullUpdate(settings()));
    expect(b).toBe(a);
    expect(a).toEqual(updateDict(fullUpdate(settings())));
  });

  it('gives any changed value another PropDict', () => {
    const dicts = new UpdateDicts();
    const base = dicts.dictOf(fullUpdate(settings()));
    const variants = [
      settings({ AllowedBearers: ['ethernet'] }),
      settings({ AllowedBearers: ['wifi', 'ethernet'] }),
      settings({
        IPv4: { Method: 'dhcp', Address: '198.51.100.11', Netmask: '255.255.255.0', Gateway: '198.51.100.1' },
      }),
      settings({ IPv6: { Method: 'auto', Address: '2001:db8::1', PrefixLength: 64, Privacy: 'disabled' } }),
      settings({ IPv6: { Method: 'auto', Address: '2001:db8::1', PrefixLength: 65, Privacy: 'disabled' } }),
      settings({ SourceIPRule: true }),
      settings({ ContextIdentifier: 'x' }),
    ];
    const seen = new Set([base]);
    for (const v of variants) {
      const d = dicts.dictOf(fullUpdate(v));
      expect(seen.has(d)).toBe(false);
      expect(d).toEqual(updateDict(fullUpdate(v)));
      seen.add(d);
    }
  });

  it('keeps strings apart whatever they hold: lengths go first', () => {
    const one = updateKey(
      new Map<string, unknown>([
        ['ContextIdentifier', 'as'],
        ['SourceIPRule', false],
      ]) as never,
    );
    const two = updateKey(
      new Map<string, unknown>([
        ['ContextIdentifier', 'asSourceIPRulef'],
        ['SourceIPRule', false],
      ]) as never,
    );
    expect(one).not.toBe(two);
    const a = updateKey(fullUpdate(settings({ ContextIdentifier: 's1:x', AllowedInterface: '*' })));
    const b = updateKey(fullUpdate(settings({ ContextIdentifier: 's1:', AllowedInterface: 'x*' })));
    expect(a).not.toBe(b);
  });

  it('stays right past its limit', () => {
    const dicts = new UpdateDicts(4);
    for (let i = 0; i < 20; i++) {
      const s = settings({ ContextIdentifier: `c${i % 6}` });
      expect(dicts.dictOf(fullUpdate(s))).toEqual(updateDict(fullUpdate(s)));
    }
  });
});

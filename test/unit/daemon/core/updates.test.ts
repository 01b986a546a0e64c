import { describe, expect, it } from 'vitest';
import { deltaUpdate, fullUpdate, fullUpdateOf, sameValue } from '../../../../daemon/core/updates.js';
import { SETTING_KEYS, type SessionSettings } from '../../../../lib/protocol.js';
import { sessionSettings } from '../../../fakes/settings.js';

const base: SessionSettings = sessionSettings();

describe('Update computation', () => {
  it('the first Update from the two halves is the one from the whole settings', () => {
    const { State, Name, IPv4, IPv6, Interface, Bearer, ...own } = base;
    const of = fullUpdateOf({ State, Name, IPv4, IPv6, Interface, Bearer }, own);
    expect([...of]).toEqual([...fullUpdate(base)]);
  });

  it('the first Update has all 11 keys in wire order', () => {
    expect([...fullUpdate(base).keys()]).toEqual(SETTING_KEYS);
    expect(SETTING_KEYS).toEqual([
      'State',
      'Name',
      'IPv4',
      'IPv6',
      'Interface',
      'Bearer',
      'ConnectionType',
      'AllowedBearers',
      'AllowedInterface',
      'ContextIdentifier',
      'SourceIPRule',
    ]);
  });
  it('nothing changed -> empty delta', () => {
    expect(deltaUpdate(base, structuredClone(base)).size).toBe(0);
  });
  it('a changed State alone', () => {
    expect([...deltaUpdate(base, { ...base, State: 'online' })]).toEqual([['State', 'online']]);
  });
  it('a service change sends the whole service group in order', () => {
    const next = {
      ...base,
      Name: 'wlan0',
      Interface: 'wlan0',
      Bearer: 'wifi' as const,
      IPv4: { ...base.IPv4, Address: '198.51.100.9' },
    };
    expect([...deltaUpdate(base, next).keys()]).toEqual(['Name', 'IPv4', 'IPv6', 'Interface', 'Bearer']);
  });
  it('an address change on the same service sends only that family', () => {
    const next = { ...base, IPv4: { ...base.IPv4, Address: '198.51.100.9' } };
    expect([...deltaUpdate(base, next).keys()]).toEqual(['IPv4']);
  });
  it('list order matters, dict key order does not', () => {
    expect(deltaUpdate(base, { ...base, AllowedBearers: ['wifi', 'ethernet'] }).has('AllowedBearers')).toBe(true);
    expect(sameValue({ a: 1, b: 2 }, { b: 2, a: 1 })).toBe(true);
    expect(sameValue({ a: 1 }, { a: 1, b: undefined })).toBe(false);
    expect(sameValue([1, [2]], [1, [2]])).toBe(true);
  });
  it('keys of a multi-key delta come out in wire order whatever changed first', () => {
    const next = { ...base, SourceIPRule: true, State: 'disconnected' as const, ConnectionType: 'internet' as const };
    expect([...deltaUpdate(base, next).keys()]).toEqual(['State', 'ConnectionType', 'SourceIPRule']);
  });
});

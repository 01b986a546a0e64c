/**
 * Option validation and the camelCase -> ConnMan mapping (lib/options.ts), and the Update
 * decoding it mirrors (lib/settings.ts).
 */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, isValidInterfaceName, OPTION_KEYS } from '../../../lib/index.js';
import { toSessionRequest } from '../../../lib/options.js';
import { CREATE_SETTING_SIGNATURES, EXTENSION_REQUEST_KEYS, SETTING_KEYS } from '../../../lib/protocol.js';
import { decodeUpdate, EMPTY_INFO, INFO_KEYS, mergeUpdate } from '../../../lib/settings.js';

function rejects(options: unknown, option: string, message?: RegExp): void {
  let err: unknown;
  try {
    toSessionRequest(options);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(InvalidOptionError);
  expect((err as InvalidOptionError).option).toBe(option);
  if (message) expect((err as InvalidOptionError).message).toMatch(message);
}

describe('toSessionRequest', () => {
  it('maps every option to its ConnMan key, in wire order', () => {
    const out = toSessionRequest({
      avoidMetered: true,
      contextIdentifier: 'c',
      sourceIPRule: true,
      allowedInterface: 'wwan0',
      connectionType: 'internet',
      allowedBearers: ['cellular', '*'],
    });
    expect(out).toEqual({
      AllowedBearers: ['cellular', '*'],
      ConnectionType: 'internet',
      AllowedInterface: 'wwan0',
      SourceIPRule: true,
      ContextIdentifier: 'c',
      AvoidMetered: true,
    });
    expect(Object.keys(out)).toEqual(Object.keys(CREATE_SETTING_SIGNATURES));
  });

  it('the option table covers exactly the keys a client may send', () => {
    expect(Object.values(OPTION_KEYS).sort()).toEqual(Object.keys(CREATE_SETTING_SIGNATURES).sort());
    // Extension keys (AvoidMetered) are requests only: no Update carries them back.
    for (const [option, key] of Object.entries(OPTION_KEYS))
      if (!Object.hasOwn(EXTENSION_REQUEST_KEYS, key)) expect(INFO_KEYS[key as keyof typeof INFO_KEYS]).toBe(option);
    expect(toSessionRequest({ avoidMetered: false })).toEqual({ AvoidMetered: false });
    expect(() => toSessionRequest({ avoidMetered: 'yes' })).toThrow(
      /avoidMetered: must be a boolean|must be a boolean/,
    );
  });

  it('treats undefined options and undefined values as absent', () => {
    expect(toSessionRequest(undefined)).toEqual({});
    expect(toSessionRequest({ connectionType: undefined })).toEqual({});
    expect(toSessionRequest({ allowedBearers: [] })).toEqual({ AllowedBearers: [] });
  });

  it("sends '*' for any interface ('' included: connmand's CreateSession would bind nothing)", () => {
    expect(toSessionRequest({ allowedInterface: '' })).toEqual({ AllowedInterface: '*' });
    expect(toSessionRequest({ allowedInterface: '*' })).toEqual({ AllowedInterface: '*' });
  });

  it('rejects what the daemon would reject, naming the option', () => {
    rejects(null, 'options');
    rejects([], 'options');
    rejects('x', 'options');
    rejects({ allowedBearer: ['wifi'] }, 'allowedBearer', /unknown option/);
    rejects({ allowedBearers: 'wifi' }, 'allowedBearers', /array/);
    rejects({ allowedBearers: ['wifi', 'lte'] }, 'allowedBearers', /unknown bearer "lte"/);
    rejects({ allowedBearers: [''] }, 'allowedBearers');
    rejects({ allowedBearers: [1] }, 'allowedBearers');
    rejects({ connectionType: 'online' }, 'connectionType');
    rejects({ connectionType: '' }, 'connectionType');
    rejects({ allowedInterface: 'x'.repeat(16) }, 'allowedInterface', /valid interface name/);
    rejects({ allowedInterface: 'a b' }, 'allowedInterface');
    rejects({ allowedInterface: 'eth0:1' }, 'allowedInterface');
    rejects({ allowedInterface: 7 }, 'allowedInterface');
    rejects({ sourceIPRule: 'yes' }, 'sourceIPRule');
    rejects({ contextIdentifier: 5 }, 'contextIdentifier');
    rejects({ contextIdentifier: 'a\0b' }, 'contextIdentifier', /NUL/);
  });

  it('lets the caller skip its own keys', () => {
    expect(toSessionRequest({ signal: 1, timeout: 2, sourceIPRule: false }, ['signal', 'timeout'])).toEqual({
      SourceIPRule: false,
    });
    rejects({ signal: 1 }, 'signal');
  });
});

describe('isValidInterfaceName', () => {
  it("follows Linux's dev_valid_name (bytes, not characters)", () => {
    expect(isValidInterfaceName('wwan0')).toBe(true);
    expect(isValidInterfaceName('x'.repeat(15))).toBe(true);
    expect(isValidInterfaceName('é'.repeat(8))).toBe(false);
    for (const bad of ['', '.', '..', 'a/b', 'a:b', 'a\tb', 'a\0']) expect(isValidInterfaceName(bad)).toBe(false);
  });
});

describe('decodeUpdate / mergeUpdate', () => {
  it('turns ConnMan empties into null and camelCases every key', () => {
    expect(Object.keys(INFO_KEYS)).toEqual(SETTING_KEYS);
    expect(
      decodeUpdate({
        Name: '',
        Interface: '',
        Bearer: '',
        IPv4: {},
        IPv6: {},
        ConnectionType: '',
        AllowedInterface: '',
      }),
    ).toEqual({
      name: null,
      interface: null,
      bearer: null,
      ipv4: null,
      ipv6: null,
      connectionType: null,
      allowedInterface: '*',
    });
    expect(
      decodeUpdate({
        IPv6: { Method: 'auto', Address: '2001:db8::1', PrefixLength: 64, Gateway: 'fe80::1', Privacy: 'prefered' },
      }),
    ).toEqual({
      ipv6: { method: 'auto', address: '2001:db8::1', prefixLength: 64, gateway: 'fe80::1', privacy: 'prefered' },
    });
  });

  it('reports only the keys whose value changed, and keeps the object when nothing did', () => {
    const a = mergeUpdate(EMPTY_INFO, { state: 'online', interface: 'eth0', ipv4: { address: '198.51.100.7' } }).info;
    const b = mergeUpdate(a, { state: 'online', interface: 'eth1', ipv4: { address: '198.51.100.7' } });
    expect(b.changed).toEqual({ interface: 'eth1' });
    const c = mergeUpdate(b.info, { allowedBearers: [] });
    expect(c.changed).toEqual({});
    expect(c.info).toBe(b.info);
  });
});

import { describe, expect, it } from 'vitest';
import { DBUS_ERROR_OF } from '../../../../daemon/core/errors.js';
import {
  applySetting,
  defaultRequest,
  isValidInterfaceName,
  parseBearerList,
  parseCreateSettings,
} from '../../../../daemon/core/settings.js';
import { codeOf } from '../../../fakes/errors.js';
import { as, bool, str } from '../../../fakes/links.js';

describe('parseBearerList', () => {
  it('expands * in place to the five default bearers, without vpn', () => {
    expect(parseBearerList(['*'])).toEqual(['ethernet', 'wifi', 'bluetooth', 'cellular', 'gadget']);
    expect(parseBearerList(['wifi', '*'])).toEqual(['wifi', 'ethernet', 'bluetooth', 'cellular', 'gadget']);
  });
  it('skips empty strings and duplicates, keeps vpn when named', () => {
    expect(parseBearerList(['', 'cellular', 'vpn', 'cellular'])).toEqual(['cellular', 'vpn']);
    expect(parseBearerList([])).toEqual([]);
  });
  it('rejects an unknown bearer', () => {
    expect(codeOf(() => parseBearerList(['ethernet', 'lte']))).toBe('NSD_ERR_UNKNOWN_BEARER');
  });
});

describe('CreateSession settings', () => {
  it('defaults for an empty dict', () => {
    expect(parseCreateSettings({})).toEqual(defaultRequest());
  });
  it('accepts every ConnMan key with its signature', () => {
    const r = parseCreateSettings({
      AllowedBearers: as(['cellular', 'wifi']),
      ConnectionType: str('internet'),
      AllowedInterface: str('wwan0'),
      SourceIPRule: bool(true),
      ContextIdentifier: str('ctx-1'),
      AvoidMetered: bool(true),
    });
    expect(r).toEqual({
      allowedBearers: ['cellular', 'wifi'],
      connectionType: 'internet',
      allowedInterface: 'wwan0',
      sourceIPRule: true,
      contextIdentifier: 'ctx-1',
      avoidMetered: true,
    });
  });
  it('treats AllowedInterface "" and "*" as any (ConnMan stores "" as matching nothing)', () => {
    expect(parseCreateSettings({ AllowedInterface: str('') }).allowedInterface).toBeNull();
    expect(parseCreateSettings({ AllowedInterface: str('*') }).allowedInterface).toBeNull();
  });
  it.each([
    ['unknown key', { Priority: bool(true) }, 'NSD_ERR_UNKNOWN_SETTING'],
    ['read-only key', { State: str('online') }, 'NSD_ERR_READ_ONLY_SETTING'],
    ['wrong type for AllowedBearers', { AllowedBearers: str('wifi') }, 'NSD_ERR_WRONG_TYPE'],
    ['wrong type for SourceIPRule', { SourceIPRule: str('true') }, 'NSD_ERR_WRONG_TYPE'],
    ['wrong type for ConnectionType', { ConnectionType: { signature: 'u', value: 1 } }, 'NSD_ERR_WRONG_TYPE'],
    ['unknown bearer', { AllowedBearers: as(['wifi', 'wimax']) }, 'NSD_ERR_UNKNOWN_BEARER'],
    ['bad interface name', { AllowedInterface: str('eth0/1') }, 'NSD_ERR_BAD_INTERFACE_NAME'],
    ['too long interface name', { AllowedInterface: str('abcdefghijklmnop') }, 'NSD_ERR_BAD_INTERFACE_NAME'],
    ['bad connection type', { ConnectionType: str('bogus') }, 'NSD_ERR_BAD_CONNECTION_TYPE'],
  ])('rejects %s with InvalidArguments', (_name, dict, code) => {
    expect(codeOf(() => parseCreateSettings(dict))).toBe(code);
    expect(DBUS_ERROR_OF[code as keyof typeof DBUS_ERROR_OF]).toBe('InvalidArguments');
  });
  it('applySetting never mutates its input', () => {
    const base = defaultRequest();
    const frozen = Object.freeze({ ...base });
    const next = applySetting(frozen, 'SourceIPRule', bool(true));
    expect(frozen.sourceIPRule).toBe(false);
    expect(next.sourceIPRule).toBe(true);
  });
});

describe('isValidInterfaceName', () => {
  it.each(['eth0', 'wlp3s0', 'a', 'wwan0.1', 'x-y_z', '123456789012345'])('accepts %s', (n) =>
    expect(isValidInterfaceName(n)).toBe(true),
  );
  it.each(['', '.', '..', 'a b', 'a:b', 'a/b', '1234567890123456'])('rejects %j', (n) =>
    expect(isValidInterfaceName(n)).toBe(false),
  );
});

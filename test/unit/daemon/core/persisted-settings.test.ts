import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeSettings,
  defaultSettings,
  encodeSettings,
  type PersistedSettings,
} from '../../../../daemon/core/persisted-settings.js';
import { BEARERS } from '../../../../lib/protocol.js';

const bool = fc.boolean();
const arbSettings: fc.Arbitrary<PersistedSettings> = fc.record({
  version: fc.constant(1 as const),
  offlineMode: bool,
  technologies: fc.record(
    Object.fromEntries(BEARERS.map((b) => [b, fc.record({ powered: bool })])) as Record<
      (typeof BEARERS)[number],
      fc.Arbitrary<{ powered: boolean }>
    >,
  ),
  services: fc.dictionary(fc.stringMatching(/^[A-Za-z0-9_]{1,30}$/), fc.record({ favorite: bool, autoConnect: bool })),
});

function sample(): PersistedSettings {
  const s = defaultSettings();
  s.offlineMode = true;
  s.technologies.wifi.powered = false;
  s.services.wifi_0011aabbccdd_wlan0 = { favorite: true, autoConnect: false };
  s.services.ethernet_0200c633640a_cable = { favorite: true, autoConnect: true };
  return s;
}

describe('persisted settings codec', () => {
  it('defaults: online, every technology powered, no services', () => {
    const d = defaultSettings();
    expect(d).toEqual({
      version: 1,
      offlineMode: false,
      technologies: Object.fromEntries(BEARERS.map((b) => [b, { powered: true }])),
      services: {},
    });
  });

  it('encodes as sorted, indented JSON, independent of insertion order', () => {
    const a = sample();
    const b = sample();
    b.services = Object.fromEntries(Object.entries(b.services).reverse());
    const text = encodeSettings(a);
    expect(encodeSettings(b)).toBe(text);
    expect(text.endsWith('}\n')).toBe(true);
    expect(text).toContain('\n  "offlineMode": true,\n');
    expect(text.indexOf('ethernet_0200c633640a_cable')).toBeLessThan(text.indexOf('wifi_0011aabbccdd_wlan0'));
    expect(text.indexOf('"autoConnect"')).toBeLessThan(text.indexOf('"favorite"'));
  });

  it('writes only the known fields', () => {
    const s = sample() as PersistedSettings & { extra?: number };
    s.extra = 1;
    (s.services.wifi_0011aabbccdd_wlan0 as unknown as Record<string, unknown>).password = 'x';
    const text = encodeSettings(s);
    expect(text).not.toContain('extra');
    expect(text).not.toContain('password');
  });

  it('round-trips every valid value without warnings', () => {
    fc.assert(
      fc.property(arbSettings, (s) => {
        const { state, warnings } = decodeSettings(encodeSettings(s));
        expect(warnings).toEqual([]);
        expect(state).toEqual(s);
        expect(encodeSettings(state)).toBe(encodeSettings(s));
      }),
    );
  });

  it('keeps a service id like __proto__ as data', () => {
    const s = defaultSettings();
    Object.defineProperty(s.services, '__proto__', { value: { favorite: true, autoConnect: true }, enumerable: true });
    const { state, warnings } = decodeSettings(encodeSettings(s));
    expect(warnings).toEqual([]);
    expect(Object.getPrototypeOf(state.services)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(state.services, '__proto__')?.value).toEqual({
      favorite: true,
      autoConnect: true,
    });
  });

  it.each([
    ['empty', '', /empty/],
    ['whitespace', ' \n', /empty/],
    ['truncated', encodeSettings({ ...defaultSettings(), offlineMode: true }).slice(0, 30), /not valid JSON/],
    ['an array', '[1,2]', /an array, not an object/],
    ['null', 'null', /null, not an object/],
    ['a number', '42', /number 42/],
  ])('a corrupt file (%s) gives the defaults with a warning', (_name, text, warning) => {
    const { state, warnings } = decodeSettings(text);
    expect(state).toEqual(defaultSettings());
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(warning);
  });

  it('drops unknown keys and bad values one by one, keeping the rest', () => {
    const text = JSON.stringify({
      version: 1,
      offlineMode: 'yes',
      colour: 'blue',
      technologies: {
        wifi: { powered: false },
        ethernet: { powered: 1, speed: 9 },
        bluetooth: 'off',
        modem: { powered: false },
      },
      services: {
        ethernet_0200c633640a_cable: { favorite: true, autoConnect: false },
        'bad/id': { favorite: true, autoConnect: true },
        wifi_ab_wlan0: { favorite: true },
        wifi_cd_wlan1: { autoConnect: 'true' },
        vpn_x: [true],
      },
    });
    const { state, warnings } = decodeSettings(text);
    const expected = defaultSettings();
    expected.technologies.wifi.powered = false;
    expected.services = {
      ethernet_0200c633640a_cable: { favorite: true, autoConnect: false },
      // AutoConnect follows Favorite when missing, as ConnMan sets it on a new favorite.
      wifi_ab_wlan0: { favorite: true, autoConnect: true },
      wifi_cd_wlan1: { favorite: false, autoConnect: false },
    };
    expect(state).toEqual(expected);
    expect(warnings).toEqual([
      'settings: unknown key "colour" dropped',
      'settings: offlineMode is string "yes", not a boolean; using false',
      'technologies.ethernet: unknown key "speed" dropped',
      'technologies.ethernet: powered is number 1, not a boolean; using true',
      'technologies.bluetooth is string "off", not an object; powered',
      'technologies: unknown bearer "modem" dropped',
      'services: invalid service id "bad/id" dropped',
      'services.wifi_ab_wlan0: autoConnect missing, using true',
      'services.wifi_cd_wlan1: favorite missing, using false',
      'services.wifi_cd_wlan1: autoConnect is string "true", not a boolean; using false',
      'services.vpn_x is an array, not an object; dropped',
    ]);
  });

  it('reads another version best-effort, with a warning', () => {
    const text = JSON.stringify({ version: 2, offlineMode: true, technologies: [], services: null });
    const { state, warnings } = decodeSettings(text);
    expect(state).toEqual({ ...defaultSettings(), offlineMode: true });
    expect(warnings).toEqual([
      'settings version is number 2, expected 1; reading the keys this version knows',
      'technologies is an array, not an object; every technology powered',
      'services is null, not an object; no service settings',
    ]);
    expect(decodeSettings('{}').warnings).toEqual([
      'settings version is missing, expected 1; reading the keys this version knows',
    ]);
  });

  it('never throws, whatever the text or JSON value', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.jsonValue().map((v) => JSON.stringify(v)),
          fc.jsonValue().map((v) => JSON.stringify({ version: 1, technologies: v, services: v })),
        ),
        (text) => {
          const { state } = decodeSettings(text);
          expect(typeof state.offlineMode).toBe('boolean');
          expect(Object.keys(state.technologies).sort()).toEqual([...BEARERS].sort());
        },
      ),
    );
  });
});

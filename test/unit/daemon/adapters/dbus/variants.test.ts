import { describe, expect, it } from 'vitest';
import {
  decodeDict,
  encodeDict,
  encodeValue,
  fromVariant,
  splitSignature,
  toVariant,
} from '../../../../../daemon/adapters/dbus/variants.js';
import type { PropDict } from '../../../../../daemon/core/properties.js';
import { marshallMessage } from '../../../../../lib/dbus/marshall.js';
import { Message, Variant } from '../../../../../lib/dbus/message.js';
import { unmarshallMessage } from '../../../../../lib/dbus/unmarshall.js';
import {
  CREATE_SETTING_SIGNATURES,
  IPV4_SIGNATURES,
  IPV6_SIGNATURES,
  SETTING_KEYS,
  SETTING_SIGNATURES,
} from '../../../../../lib/protocol.js';

// The wire module's marshaller and parser: a round trip here is a round trip through wire bytes.
function throughWire(signature: string, body: unknown[]): unknown[] {
  const msg = new Message({ path: '/t', interface: 'org.example.T', member: 'M', signature, body });
  return unmarshallMessage(marshallMessage(msg, 1)).body;
}

/** PropDict -> Variants -> wire -> Variants -> RawValues. */
function roundTrip(dict: PropDict): Record<string, unknown> {
  const [back] = throughWire('a{sv}', [encodeDict(dict)]) as [Record<string, Variant>];
  return decodeDict(back);
}

const firstUpdate: PropDict = {
  State: { signature: 's', value: 'online' },
  Name: { signature: 's', value: 'Wired' },
  IPv4: {
    signature: 'a{sv}',
    value: {
      Method: { signature: IPV4_SIGNATURES.Method, value: 'dhcp' },
      Address: { signature: IPV4_SIGNATURES.Address, value: '198.51.100.2' },
      Netmask: { signature: IPV4_SIGNATURES.Netmask, value: '255.255.255.252' },
      Gateway: { signature: IPV4_SIGNATURES.Gateway, value: '198.51.100.1' },
    },
  },
  IPv6: {
    signature: 'a{sv}',
    value: {
      Method: { signature: IPV6_SIGNATURES.Method, value: 'auto' },
      Address: { signature: IPV6_SIGNATURES.Address, value: '2001:db8::2' },
      PrefixLength: { signature: IPV6_SIGNATURES.PrefixLength, value: 64 },
      Gateway: { signature: IPV6_SIGNATURES.Gateway, value: '2001:db8::1' },
      Privacy: { signature: IPV6_SIGNATURES.Privacy, value: 'disabled' },
    },
  },
  Interface: { signature: 's', value: 'veth-a' },
  Bearer: { signature: 's', value: 'ethernet' },
  ConnectionType: { signature: 's', value: 'internet' },
  AllowedBearers: { signature: 'as', value: ['ethernet', 'wifi'] },
  AllowedInterface: { signature: 's', value: '*' },
  ContextIdentifier: { signature: 's', value: '' },
  SourceIPRule: { signature: 'b', value: true },
};

describe('variants: settings round trips through wire bytes', () => {
  it('covers every Update key with the signature lib/protocol.ts gives it', () => {
    expect(Object.keys(firstUpdate)).toEqual(SETTING_KEYS);
    for (const k of SETTING_KEYS) expect(firstUpdate[k]!.signature).toBe(SETTING_SIGNATURES[k]);
  });

  it('a first Update (nested a{sv} IPv4/IPv6, y PrefixLength, as, b) comes back equal and in order', () => {
    const back = roundTrip(firstUpdate);
    expect(back).toEqual(firstUpdate);
    expect(Object.keys(back)).toEqual(SETTING_KEYS);
    const v6 = (back.IPv6 as { value: Record<string, { signature: string; value: unknown }> }).value;
    expect(v6.PrefixLength).toEqual({ signature: 'y', value: 64 });
    expect(Object.keys(v6)).toEqual(Object.keys(IPV6_SIGNATURES));
  });

  it('empty IPv4/IPv6 dicts (a disconnected Update) survive', () => {
    const dict: PropDict = {
      State: { signature: 's', value: 'disconnected' },
      IPv4: { signature: 'a{sv}', value: {} },
      IPv6: { signature: 'a{sv}', value: {} },
    };
    expect(roundTrip(dict)).toEqual(dict);
  });

  it('every CreateSession setting signature decodes to what settings.ts expects', () => {
    const sample: Record<string, unknown> = { as: ['ethernet', '*'], s: 'internet', b: false };
    const dict: PropDict = {};
    for (const [k, sig] of Object.entries(CREATE_SETTING_SIGNATURES)) dict[k] = { signature: sig, value: sample[sig] };
    const back = roundTrip(dict);
    expect(back).toEqual(dict);
    expect(Array.isArray((back.AllowedBearers as { value: unknown }).value)).toBe(true);
  });

  it('t is BigInt both ways, beyond 2^53', () => {
    const big = 2n ** 63n + 5n;
    const dict: PropDict = { 'RX.Bytes': { signature: 't', value: big }, 'TX.Bytes': { signature: 't', value: 0n } };
    const back = roundTrip(dict);
    expect(back['RX.Bytes']).toEqual({ signature: 't', value: big });
    expect(typeof (back['TX.Bytes'] as { value: unknown }).value).toBe('bigint');
  });

  it('coerces numbers to BigInt for t/x and BigInt to number for y/u/q', () => {
    expect(encodeValue('t', 42)).toBe(42n);
    expect(encodeValue('x', '-7')).toBe(-7n);
    expect(encodeValue('y', 64n)).toBe(64);
    expect(encodeValue('u', 7n)).toBe(7);
    const back = roundTrip({ MTU: { signature: 'q', value: 1500n }, Count: { signature: 't', value: 3 } });
    expect(back).toEqual({ MTU: { signature: 'q', value: 1500 }, Count: { signature: 't', value: 3n } });
  });

  it('nested a{sv} inside a{sv} (ListSessions Settings) keeps every level tagged', () => {
    const dict: PropDict = {
      Owner: { signature: 's', value: ':1.7' },
      UID: { signature: 'u', value: 65534 },
      Settings: { signature: 'a{sv}', value: { IPv6: firstUpdate.IPv6!, State: firstUpdate.State! } },
    };
    expect(roundTrip(dict)).toEqual(dict);
  });

  it('a(oa{sv}) (GetServices) encodes structs with nested dicts', () => {
    const body = encodeValue('a(oa{sv})', [
      ['/net/connman/service/ethernet_a', { State: { signature: 's', value: 'ready' } }],
      ['/net/connman/service/ethernet_b', {}],
    ]);
    const [back] = throughWire('a(oa{sv})', [body]) as [Array<[string, Record<string, Variant>]>];
    expect(back.map(([p]) => p)).toEqual(['/net/connman/service/ethernet_a', '/net/connman/service/ethernet_b']);
    expect(decodeDict(back[0]![1])).toEqual({ State: { signature: 's', value: 'ready' } });
    expect(back[1]![1]).toEqual({});
  });

  it('Maps are accepted for dicts', () => {
    const back = roundTrip({
      IPv4: { signature: 'a{sv}', value: new Map([['Method', { signature: 's', value: 'off' }]]) },
    });
    expect(back).toEqual({ IPv4: { signature: 'a{sv}', value: { Method: { signature: 's', value: 'off' } } } });
  });

  it('a `__proto__` key is an ordinary key, not a prototype', () => {
    const dict: PropDict = JSON.parse('{"__proto__": {"signature": "s", "value": "x"}}') as PropDict;
    const encoded = encodeDict(dict);
    expect(Object.keys(encoded)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(encoded)).toBe(Object.prototype);
  });
});

describe('variants: incoming values', () => {
  it('fromVariant unwraps nested variants into RawValues', () => {
    const v = new Variant('a{sv}', {
      Method: new Variant('s', 'manual'),
      Inner: new Variant('av', [new Variant('u', 1)]),
    });
    expect(fromVariant(v)).toEqual({
      signature: 'a{sv}',
      value: {
        Method: { signature: 's', value: 'manual' },
        Inner: { signature: 'av', value: [{ signature: 'u', value: 1 }] },
      },
    });
    expect(fromVariant(new Variant('as', ['ethernet']))).toEqual({ signature: 'as', value: ['ethernet'] });
  });

  it('a Change(sv) value from the wire becomes a RawValue', () => {
    const [name, value] = throughWire('sv', ['AllowedBearers', new Variant('as', ['wifi', 'ethernet'])]) as [
      string,
      Variant,
    ];
    expect(name).toBe('AllowedBearers');
    expect(fromVariant(value)).toEqual({ signature: 'as', value: ['wifi', 'ethernet'] });
  });

  it('ay stays a Buffer', () => {
    const [v] = throughWire('v', [toVariant({ signature: 'ay', value: Buffer.from([1, 2, 3]) })]) as [Variant];
    const raw = fromVariant(v);
    expect(raw.signature).toBe('ay');
    expect(Buffer.isBuffer(raw.value)).toBe(true);
    expect([...(raw.value as Buffer)]).toEqual([1, 2, 3]);
  });
});

describe('variants: signatures and bad input', () => {
  it('splits signatures into complete types', () => {
    expect(splitSignature('a{sv}o')).toEqual(['a{sv}', 'o']);
    expect(splitSignature('oa{sv}h')).toEqual(['o', 'a{sv}', 'h']);
    expect(splitSignature('a(oa{sv})ao')).toEqual(['a(oa{sv})', 'ao']);
    expect(splitSignature('')).toEqual([]);
  });

  it('rejects malformed signatures and values that cannot fit', () => {
    expect(() => splitSignature('a{sv')).toThrow(/unterminated/);
    expect(() => splitSignature('z')).toThrow(/bad character/);
    expect(() => encodeValue('t', 1.5)).toThrow(/integer/);
    expect(() => encodeValue('a{sv}', ['x'])).toThrow(/dict/);
    expect(() => encodeValue('as', 'x')).toThrow(/array/);
    expect(() => encodeValue('v', 'plain')).toThrow(/signature, value/);
    expect(() => toVariant({ signature: 'ss', value: 'x' })).toThrow(/single complete/);
  });
});

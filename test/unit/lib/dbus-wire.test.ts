/**
 * The project's D-Bus wire codec (lib/dbus/marshall.ts, unmarshall.ts, signature.ts): round trips
 * of every type in both byte orders, cross-checked against an independent implementation
 * (dbus-next, a devDependency), malformed input rejected with MalformedMessageError, and fuzzed.
 */
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { marshallBody, marshallMessage } from '../../../lib/dbus/marshall.js';
import {
  isBusName,
  isInterfaceName,
  isMemberName,
  isObjectPath,
  Message,
  MessageFlag,
  MessageType,
  Variant,
} from '../../../lib/dbus/message.js';
import { parseSignature, SignatureError, splitSignature } from '../../../lib/dbus/signature.js';
import { frameLength, MalformedMessageError, unmarshallMessage } from '../../../lib/dbus/unmarshall.js';

const require = createRequire(import.meta.url);
const { unmarshall: nextUnmarshall } = require('dbus-next/lib/message.js') as { unmarshall(b: Buffer): unknown };
const { marshallMessage: nextMarshall, messageToJsFmt } = require('dbus-next/lib/marshall-compat.js') as {
  marshallMessage(m: unknown): [Buffer];
  messageToJsFmt(m: unknown): {
    body: unknown[];
    signature: string;
    path: string;
    member: string;
    interface: string;
    serial: number;
    flags: number;
  };
};
const NextMessage = (
  require('dbus-next') as { Message: new (m: object) => unknown; Variant: new (s: string, v: unknown) => unknown }
).Message;
const NextVariant = (require('dbus-next') as { Variant: new (s: string, v: unknown) => unknown }).Variant;

function call(signature: string, body: unknown[], extra: Partial<Message> = {}): Message {
  return Object.assign(
    new Message({
      destination: 'org.example.Dest',
      path: '/org/example/o',
      interface: 'org.example.I',
      member: 'Do',
      signature,
      body,
    }),
    extra,
  );
}

function roundTrip(msg: Message, bigEndian: boolean): Message {
  const bytes = marshallMessage(msg, 42, bigEndian);
  expect(bytes[0]).toBe(bigEndian ? 0x42 : 0x6c);
  expect(frameLength(bytes, 0)).toBe(bytes.length);
  return unmarshallMessage(bytes);
}

const EVERY_TYPE: Array<[string, unknown, unknown?]> = [
  ['y', 255],
  ['b', true],
  ['b', false],
  ['n', -32768],
  ['q', 65535],
  ['i', -2147483648],
  ['u', 4294967295],
  ['x', -(2n ** 63n)],
  ['t', 2n ** 64n - 1n],
  ['d', -1.5e300],
  ['s', 'grüße ☃ 𝄞'],
  ['o', '/net/connman/service/ethernet_02_cable'],
  ['g', 'a{sv}(iu)'],
  ['v', new Variant('as', ['a', 'b'])],
  ['ay', Buffer.from([0, 1, 254, 255])],
  [
    'a{sv}',
    {
      State: new Variant('s', 'online'),
      IPv4: new Variant('a{sv}', { Address: new Variant('s', '198.51.100.2') }),
      Prefix: new Variant('y', 64),
    },
  ],
  ['a{uv}', { 7: new Variant('b', false) }],
  [
    'a(oa{sv})',
    [
      ['/a', { K: new Variant('t', 3n) }],
      ['/b', {}],
    ],
  ],
  ['(ybnqiuxtdsog)', [1, true, -2, 3, -4, 5, -6n, 7n, 0.25, 's', '/', 'v']],
  ['aa{sv}', [{}, { A: new Variant('d', 2.5) }]],
  ['ax', []],
  ['a(ti)', []],
  ['av', [new Variant('v', new Variant('i', -1))]],
];

describe('wire codec: round trips', () => {
  for (const bigEndian of [false, true]) {
    it(`every type the project uses, ${bigEndian ? 'big' : 'little'}-endian`, () => {
      for (const [sig, value] of EVERY_TYPE) {
        const back = roundTrip(call(sig, [value]), bigEndian);
        expect(back.signature).toBe(sig);
        expect(back.body).toEqual([value]);
      }
    });
  }

  it('keeps header fields, flags and serial', () => {
    const back = roundTrip(call('s', ['x'], { flags: MessageFlag.NO_REPLY_EXPECTED, sender: ':1.5' }), false);
    expect(back).toMatchObject({
      type: MessageType.METHOD_CALL,
      serial: 42,
      flags: 1,
      path: '/org/example/o',
      interface: 'org.example.I',
      member: 'Do',
      destination: 'org.example.Dest',
      sender: ':1.5',
    });
    const err = roundTrip(
      Message.newError(Object.assign(call('', []), { serial: 9, sender: ':1.3' }), 'net.connman.Error.Failed', 'why'),
      true,
    );
    expect(err).toMatchObject({
      type: MessageType.ERROR,
      replySerial: 9,
      destination: ':1.3',
      errorName: 'net.connman.Error.Failed',
      body: ['why'],
    });
    const sig = roundTrip(
      Message.newSignal('/', 'net.connman.Manager', 'ServicesChanged', 'a(oa{sv})ao', [[], ['/x']]),
      false,
    );
    expect(sig).toMatchObject({ type: MessageType.SIGNAL, path: '/', member: 'ServicesChanged', body: [[], ['/x']] });
  });

  it('accepts the values the code holds: numbers for t, BigInt for u, Maps for dicts, plain {signature, value} for v', () => {
    const back = roundTrip(
      call('tuva{sv}', [3, 7n, { signature: 'q', value: 1500 }, new Map([['k', { signature: 's', value: 'v' }]])]),
      false,
    );
    expect(back.body).toEqual([3n, 7, new Variant('q', 1500), { k: new Variant('s', 'v') }]);
  });

  it('a `__proto__` key is an ordinary key', () => {
    const dict = JSON.parse('{"__proto__": {"signature": "s", "value": "x"}}') as Record<string, unknown>;
    const [back] = roundTrip(call('a{sv}', [dict]), false).body as [Record<string, unknown>];
    expect(Object.keys(back)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
  });

  it('strings on both sides of the short-ASCII path, and dicts as objects with inherited keys', () => {
    const strings = ['', 'a', 'x'.repeat(64), 'x'.repeat(65), 'é', `${'x'.repeat(63)}é`, `${'x'.repeat(70)}ü€😀`];
    for (const s of strings) {
      const back = roundTrip(call('s', [s]), false);
      expect(back.body).toEqual([s]);
      // The same bytes as an independent encoder's UTF-8.
      const text = Buffer.from(s, 'utf8');
      const wire = marshallMessage(call('s', [s]), 1);
      expect(wire.subarray(wire.length - text.length - 1, wire.length - 1)).toEqual(text);
    }
    for (const bad of ['a\0b', `${'x'.repeat(70)}\0`, `é\0`])
      expect(() => marshallMessage(call('s', [bad]), 1)).toThrow(/NUL/);
    expect(() => marshallMessage(call('o', ['/a\0b']), 1)).toThrow(TypeError);
    // Only own keys go out, as with Object.entries; an inherited one does not.
    const dict = Object.create({ inherited: { signature: 's', value: 'no' } }) as Record<string, unknown>;
    dict.own = { signature: 's', value: 'yes' };
    dict.nested = { signature: 'a{sv}', value: { k: { signature: 'u', value: 5 } } };
    expect(roundTrip(call('a{sv}', [dict]), true).body).toEqual([
      { own: new Variant('s', 'yes'), nested: new Variant('a{sv}', { k: new Variant('u', 5) }) },
    ]);
  });

  it('refuses to send what does not fit, before any byte is written', () => {
    expect(() => marshallMessage(call('y', [256]), 1)).toThrow(TypeError);
    expect(() => marshallMessage(call('t', [-1]), 1)).toThrow(TypeError);
    expect(() => marshallMessage(call('b', [1]), 1)).toThrow(/boolean/);
    expect(() => marshallMessage(call('s', ['a\0b']), 1)).toThrow(/NUL/);
    expect(() => marshallMessage(call('o', ['not/a/path']), 1)).toThrow(/object path/);
    expect(() => marshallMessage(call('v', ['plain']), 1)).toThrow(/signature, value/);
    expect(() => marshallMessage(call('(ss)', [['x']]), 1)).toThrow(/2-element/);
    expect(() => marshallMessage(call('ss', ['x']), 1)).toThrow(/wants 2 values/);
    expect(() => marshallMessage(call('h', [3]), 1)).toThrow(/file descriptors/);
    expect(() => marshallMessage(call('', [], { path: 'bad' }), 1)).toThrow(/invalid path/);
    expect(() => marshallMessage(call('', [], { member: '1x' }), 1)).toThrow(/invalid member/);
    expect(() => marshallMessage(call('', [], { destination: 'nodots' }), 1)).toThrow(/invalid destination/);
  });
});

describe('wire codec: against dbus-next, an independent implementation', () => {
  const toNext = (v: unknown): unknown => {
    if (v instanceof Variant) return new NextVariant(v.signature, toNext(v.value));
    if (Buffer.isBuffer(v)) return v;
    if (Array.isArray(v)) return v.map(toNext);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toNext(x)]));
    return v;
  };
  const fromNext = (v: unknown): unknown => {
    if (v instanceof (NextVariant as unknown as typeof Variant))
      return new Variant((v as Variant).signature, fromNext((v as Variant).value));
    if (Buffer.isBuffer(v)) return v;
    if (Array.isArray(v)) return v.map(fromNext);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fromNext(x)]));
    return v;
  };
  // Structs of every basic type and integer-keyed dicts are covered by the round trips above.
  // dbus-next refuses the minimum int64 itself (its range check is off by one): -5 instead.
  const CASES = EVERY_TYPE.filter(([sig]) => !['(ybnqiuxtdsog)', 'a{uv}'].includes(sig)).map(
    ([sig, v]): [string, unknown] => [sig, sig === 'x' ? -5n : v],
  );

  it('our bytes parse to the same values in dbus-next', () => {
    for (const [sig, value] of CASES) {
      const bytes = marshallMessage(call(sig, [value]), 5);
      const theirs = messageToJsFmt(nextUnmarshall(bytes));
      expect(theirs).toMatchObject({ signature: sig, serial: 5, member: 'Do', path: '/org/example/o' });
      expect(fromNext(theirs.body)).toEqual([value]);
    }
  });

  it("dbus-next's bytes parse to the same values here", () => {
    for (const [sig, value] of CASES) {
      const msg = new NextMessage({
        serial: 6,
        destination: 'org.example.Dest',
        path: '/org/example/o',
        interface: 'org.example.I',
        member: 'Do',
        signature: sig,
        body: [toNext(value)],
      });
      const [bytes] = nextMarshall(msg);
      const ours = unmarshallMessage(bytes);
      expect(ours).toMatchObject({ signature: sig, serial: 6, member: 'Do' });
      expect(ours.body).toEqual([value]);
    }
  });
});

function expectMalformed(bytes: Buffer, pattern: RegExp): void {
  expect(() => unmarshallMessage(bytes)).toThrow(MalformedMessageError);
  expect(() => unmarshallMessage(bytes)).toThrow(pattern);
}

describe('wire codec: malformed input', () => {
  const good = (): Buffer => marshallMessage(call('bs', [true, 'hello']), 3);

  it('rejects truncation, a bad byte order and a bad version', () => {
    const b = good();
    expectMalformed(b.subarray(0, b.length - 1), /truncated|body length/);
    expect(() => frameLength(Buffer.from([0x58, ...b.subarray(1, 16)]), 0)).toThrow(/byte-order/);
    const v2 = Buffer.from(b);
    v2[3] = 2;
    expect(() => frameLength(v2, 0)).toThrow(/version/);
  });

  it('rejects lengths beyond the limits without reading them', () => {
    const b = Buffer.from(good());
    b.writeUInt32LE(2 ** 27, 4);
    expect(() => frameLength(b, 0)).toThrow(/message of/);
    b.writeUInt32LE(2 ** 26 + 1, 12);
    expect(() => frameLength(b, 0)).toThrow(/header fields of/);
  });

  it('rejects a boolean other than 0/1, bad padding, bad UTF-8, NUL in strings, a bad path in the body', () => {
    const bodyAt = (b: Buffer) => b.length - b.readUInt32LE(4);
    let b = Buffer.from(good());
    b.writeUInt32LE(2, bodyAt(b));
    expectMalformed(b, /boolean 2/);
    b = Buffer.from(marshallMessage(call('yu', [1, 2]), 3));
    b[bodyAt(b) + 1] = 9;
    expectMalformed(b, /padding/);
    b = Buffer.from(good());
    b[bodyAt(b) + 8] = 0xff;
    expectMalformed(b, /UTF-8/);
    b = Buffer.from(good());
    b[bodyAt(b) + 9] = 0;
    expectMalformed(b, /NUL inside/);
    b = Buffer.from(marshallMessage(call('o', ['/ab']), 3));
    b[bodyAt(b) + 5] = '-'.charCodeAt(0);
    expectMalformed(b, /object path/);
  });

  it('a bad body still yields the header, so a method call can get an error reply', () => {
    const b = Buffer.from(good());
    b.writeUInt32LE(7, b.length - b.readUInt32LE(4));
    try {
      unmarshallMessage(b);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(MalformedMessageError);
      expect((err as MalformedMessageError).header).toMatchObject({
        type: MessageType.METHOD_CALL,
        serial: 3,
        member: 'Do',
      });
    }
  });

  it('rejects bad signatures, overlong arrays, missing required fields, trailing bytes, serial 0', () => {
    let b = Buffer.from(marshallMessage(call('v', [new Variant('s', 'x')]), 3));
    const at = b.indexOf(Buffer.from([1, 0x73, 0]), b.length - 12);
    b[at + 1] = 0x7a; // 'z'
    expectMalformed(b, /bad character/);
    b = Buffer.from(marshallMessage(call('ay', [Buffer.from([1])]), 3));
    b.writeUInt32LE(1000, b.length - 5);
    expectMalformed(b, /truncated/);
    b = Buffer.from(marshallMessage(Message.newSignal('/p', 'a.b', 'S'), 3));
    // Turn the signal into a method return: it then lacks a reply serial.
    b[1] = MessageType.METHOD_RETURN;
    expectMalformed(b, /reply serial/);
    b = Buffer.from(marshallMessage(call('y', [1]), 3));
    b.writeUInt32LE(0, 8);
    expectMalformed(b, /serial 0/);
    const body = Buffer.from(marshallMessage(call('y', [1]), 3));
    const longer = Buffer.concat([body, Buffer.from([0])]);
    longer.writeUInt32LE(2, 4);
    expectMalformed(longer, /bytes left/);
  });

  it('bounds nesting: 33 nested arrays and 65 nested variants are refused', () => {
    expect(() => parseSignature(`${'a'.repeat(33)}y`)).toThrow(SignatureError);
    expect(() => parseSignature(`${'('.repeat(33)}y${')'.repeat(33)}`)).toThrow(/nested structs/);
    expect(() => parseSignature('{sv}')).toThrow(/outside an array/);
    expect(() => parseSignature('a{vs}')).toThrow(/basic type/);
    expect(() => parseSignature('()')).toThrow(/empty struct/);
    expect(splitSignature('a(oa{sv})ao')).toEqual(['a(oa{sv})', 'ao']);
    let v: unknown = 1;
    for (let i = 0; i < 65; i++) v = new Variant(i === 0 ? 'y' : 'v', v);
    const bytes = marshallMessage(call('v', [v]), 3);
    expectMalformed(bytes, /nested too deeply/);
  });
});

describe('names and paths', () => {
  it('object paths by the specification (a loop, checked against the grammar as a regular expression)', () => {
    const grammar = /^\/(?:[A-Za-z0-9_]+(?:\/[A-Za-z0-9_]+)*)?$/;
    for (const p of ['/', '/a', '/net/connman/service/ethernet_0a_cable', '/a_B9/c'])
      expect(isObjectPath(p)).toBe(true);
    for (const p of ['', 'a', '/a/', '//', '/a//b', '/a-b', '/é', '/a.b']) expect(isObjectPath(p)).toBe(false);
    fc.assert(
      fc.property(fc.stringMatching(/^[/a-z_.\-9]{0,8}$/), (p) => {
        expect(isObjectPath(p)).toBe(grammar.test(p));
      }),
      { numRuns: 2000 },
    );
  });

  it('interface, member and bus names', () => {
    expect(isInterfaceName('net.connman.Manager')).toBe(true);
    expect(isInterfaceName('net')).toBe(false);
    expect(isInterfaceName('net.1x')).toBe(false);
    expect(isMemberName('CreateSession')).toBe(true);
    expect(isMemberName('Create.Session')).toBe(false);
    expect(isBusName(':1.42')).toBe(true);
    expect(isBusName('net.connman')).toBe(true);
    expect(isBusName('org.freedesktop.DBus')).toBe(true);
    expect(isBusName('connman')).toBe(false);
    expect(isBusName(`a.${'b'.repeat(255)}`)).toBe(false);
  });
});

describe('wire codec: fuzz', () => {
  type Typed = { sig: string; value: unknown };
  const leaf: fc.Arbitrary<Typed> = fc.oneof(
    fc.integer({ min: 0, max: 255 }).map((value) => ({ sig: 'y', value })),
    fc.boolean().map((value) => ({ sig: 'b', value })),
    fc.integer({ min: -32768, max: 32767 }).map((value) => ({ sig: 'n', value })),
    fc.integer({ min: 0, max: 65535 }).map((value) => ({ sig: 'q', value })),
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((value) => ({ sig: 'i', value })),
    fc.integer({ min: 0, max: 2 ** 32 - 1 }).map((value) => ({ sig: 'u', value })),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((value) => ({ sig: 'x', value })),
    fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((value) => ({ sig: 't', value })),
    fc.double({ noNaN: true }).map((value) => ({ sig: 'd', value })),
    fc
      .string({ unit: 'grapheme' })
      .filter((s) => !s.includes('\0'))
      .map((value) => ({ sig: 's', value })),
    fc
      .array(fc.stringMatching(/^[A-Za-z0-9_]+$/), { maxLength: 3 })
      .map((els) => ({ sig: 'o', value: `/${els.join('/')}` })),
    fc.uint8Array({ maxLength: 16 }).map((a) => ({ sig: 'ay', value: Buffer.from(a) })),
  );
  const typed: fc.Arbitrary<Typed> = fc.letrec<{ t: Typed }>((tie) => ({
    t: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      tie('t').map((inner) => ({ sig: 'v', value: new Variant(inner.sig, inner.value) })),
      fc
        .array(tie('t'), { minLength: 1, maxLength: 3 })
        .map((items) => ({ sig: `(${items.map((i) => i.sig).join('')})`, value: items.map((i) => i.value) })),
      // `ay` always reads back as a Buffer.
      tie('t').chain((proto) =>
        fc.constant({
          sig: `a${proto.sig}`,
          value: proto.sig === 'y' ? Buffer.from([proto.value as number]) : [proto.value, proto.value],
        }),
      ),
      fc
        .dictionary(
          fc.string({ maxLength: 6 }).filter((k) => !k.includes('\0')),
          tie('t').map((x) => new Variant(x.sig, x.value)),
          { maxKeys: 3 },
        )
        .map((value) => ({ sig: 'a{sv}', value })),
    ),
  })).t;

  it('any typed value round trips in both byte orders', () => {
    fc.assert(
      fc.property(fc.array(typed, { maxLength: 3 }), fc.boolean(), (items, be) => {
        const sig = items.map((i) => i.sig).join('');
        fc.pre(sig.length <= 255);
        let msg: Message;
        try {
          msg = call(
            sig,
            items.map((i) => i.value),
          );
          parseSignature(sig);
        } catch {
          return; // nesting beyond the limits: not a message
        }
        const back = roundTrip(msg, be);
        expect(back.body).toEqual(msg.body);
      }),
      { numRuns: 300 },
    );
  });

  it('a body marshalled once (bodyBytes) makes the same message bytes as encoding it; big-endian ignores them', () => {
    fc.assert(
      fc.property(fc.array(typed, { minLength: 1, maxLength: 3 }), fc.boolean(), (items, be) => {
        const sig = items.map((i) => i.sig).join('');
        fc.pre(sig.length <= 255);
        let msg: Message;
        let bytes: Buffer;
        try {
          msg = call(
            sig,
            items.map((i) => i.value),
          );
          bytes = marshallBody(sig, msg.body);
        } catch {
          return; // nesting beyond the limits: not a message
        }
        const plain = marshallMessage(msg, 7, be);
        msg.bodyBytes = bytes;
        expect(marshallMessage(msg, 7, be).equals(plain)).toBe(true);
        // The bytes are copied as they are: stale ones would show.
        if (!be && bytes.length > 0) {
          msg.bodyBytes = Buffer.from(bytes).fill(0xee);
          expect(marshallMessage(msg, 7, be).equals(plain)).toBe(false);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('corrupted bytes are read or rejected with MalformedMessageError, never anything else', () => {
    const sample = marshallMessage(
      call('a{sv}ao(tb)', [
        { IPv4: new Variant('a{sv}', { Address: new Variant('s', '198.51.100.2') }) },
        ['/a', '/b'],
        [5n, true],
      ]),
      9,
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(sample.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.nat(sample.length),
        (edits, cut) => {
          const b = Buffer.from(sample.subarray(0, Math.max(16, cut)));
          for (const [at, byte] of edits) if (at < b.length) b[at] = byte;
          try {
            const len = frameLength(b, 0);
            if (len > b.length) return;
            unmarshallMessage(b, 0, len);
          } catch (err) {
            expect(err).toBeInstanceOf(MalformedMessageError);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('random bytes are rejected with MalformedMessageError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 200 }), (a) => {
        const b = Buffer.from(a);
        b[0] = 0x6c;
        b[3] = 1;
        try {
          const len = frameLength(b, 0);
          if (len > b.length) return;
          unmarshallMessage(b, 0, len);
        } catch (err) {
          expect(err).toBeInstanceOf(MalformedMessageError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

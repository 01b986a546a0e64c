/**
 * The D-Bus transport's wire codec and its error mapping (no bus needed): exact ConnMan
 * signatures out, strict decoding in, bus error names turned into the right SDK errors.
 */

import { describe, expect, it } from 'vitest';
import { decodeSettings, decodeStatistics, encodeRequest } from '../../../lib/dbus/codec.js';
import { Variant } from '../../../lib/dbus/message.js';
import {
  DaemonUnavailableError,
  ExtensionNotSupportedError,
  InvalidArgumentsError,
  SessionClosedError,
  UnknownDaemonError,
} from '../../../lib/errors.js';
import { errorFromReply } from '../../../lib/reply-errors.js';

describe('encodeRequest', () => {
  it("gives every CreateSession key ConnMan's signature", () => {
    const dict = encodeRequest({
      AllowedBearers: ['cellular', '*'],
      ConnectionType: 'internet',
      AllowedInterface: 'wwan0',
      SourceIPRule: true,
      ContextIdentifier: 'c',
    });
    expect(Object.fromEntries(Object.entries(dict).map(([k, v]) => [k, [v.signature, v.value]]))).toEqual({
      AllowedBearers: ['as', ['cellular', '*']],
      ConnectionType: ['s', 'internet'],
      AllowedInterface: ['s', 'wwan0'],
      SourceIPRule: ['b', true],
      ContextIdentifier: ['s', 'c'],
    });
  });
});

describe('decodeSettings', () => {
  it('unwraps known keys and nested dicts', () => {
    const out = decodeSettings({
      State: new Variant('s', 'online'),
      IPv4: new Variant('a{sv}', { Address: new Variant('s', '198.51.100.7'), Method: new Variant('s', 'dhcp') }),
      IPv6: new Variant('a{sv}', { PrefixLength: new Variant('y', 64) }),
      AllowedBearers: new Variant('as', ['wifi']),
      SourceIPRule: new Variant('b', false),
    });
    expect(out).toEqual({
      State: 'online',
      IPv4: { Address: '198.51.100.7', Method: 'dhcp' },
      IPv6: { PrefixLength: 64 },
      AllowedBearers: ['wifi'],
      SourceIPRule: false,
    });
  });

  it('drops unknown keys and values whose signature is not ConnMan’s', () => {
    expect(
      decodeSettings({
        Extra: new Variant('s', 'x'),
        State: new Variant('u', 1),
        SourceIPRule: new Variant('s', 'true'),
        Name: 'raw',
      }),
    ).toEqual({});
    expect(decodeSettings(null)).toEqual({});
  });
});

describe('decodeStatistics', () => {
  it('reads t values as BigInt, missing ones as 0', () => {
    expect(decodeStatistics({ 'RX.Bytes': new Variant('t', 5n), 'TX.Bytes': new Variant('t', 7n) })).toEqual({
      rxBytes: 5n,
      txBytes: 7n,
      rxPackets: 0n,
      txPackets: 0n,
    });
  });
});

describe('errorFromReply', () => {
  const ext = { kind: 'extension', feature: 'Statistics', onSession: true } as const;
  it('turns bus errors into SDK meanings, depending on the call', () => {
    expect(errorFromReply('org.freedesktop.DBus.Error.ServiceUnknown', 'x', { kind: 'manager' })).toBeInstanceOf(
      DaemonUnavailableError,
    );
    expect(errorFromReply('org.freedesktop.DBus.Error.NameHasNoOwner', 'x', { kind: 'session' })).toMatchObject({
      reason: 'no-daemon',
    });
    expect(errorFromReply('org.freedesktop.DBus.Error.UnknownMethod', 'x', ext)).toBeInstanceOf(
      ExtensionNotSupportedError,
    );
    expect(errorFromReply('org.freedesktop.DBus.Error.UnknownInterface', 'x', ext)).toMatchObject({
      feature: 'Statistics',
    });
    expect(errorFromReply('org.freedesktop.DBus.Error.UnknownObject', 'x', { kind: 'session' })).toMatchObject({
      reason: 'gone',
    });
    expect(errorFromReply('org.freedesktop.DBus.Error.UnknownObject', 'x', ext)).toBeInstanceOf(SessionClosedError);
    // On a ConnMan method, the bus's UnknownMethod is just an unexpected daemon error.
    expect(errorFromReply('org.freedesktop.DBus.Error.UnknownMethod', 'x', { kind: 'session' })).toBeInstanceOf(
      UnknownDaemonError,
    );
    expect(errorFromReply('net.connman.Error.InvalidArguments', 'bad', { kind: 'session' })).toBeInstanceOf(
      InvalidArgumentsError,
    );
  });
});

/**
 * The bind helpers' pure decision: which address a socket binds to, from the session's settings.
 *
 * | settings / request                                   | expected                                   |
 * |------------------------------------------------------|--------------------------------------------|
 * | connected, v4 + v6, no request                       | v4 (IPv4 preferred)                        |
 * | family 6, or an IPv6 literal host (bracketed too)    | v6                                         |
 * | only v6                                              | v6 without a request, NotConnected for 4   |
 * | disconnected / no interface                          | NotConnectedError                          |
 * | sourceIPRule off                                     | SourceIPRuleRequiredError                  |
 * | family 5, family contradicting the host literal      | InvalidOptionError                         |
 * | bindKey                                              | changes with interface, addresses, rule    |
 */
import { describe, expect, it } from 'vitest';
import { bindKey, familyOfHost } from '../../../lib/bind/options.js';
import {
  InvalidOptionError,
  NotConnectedError,
  type SessionInfo,
  SourceIPRuleRequiredError,
  socketOptionsOf,
} from '../../../lib/index.js';
import { EMPTY_INFO } from '../../../lib/settings.js';

const V4 = '198.51.100.18';
const V6 = '2001:db8:2::2';

function info(over: Partial<SessionInfo> = {}): SessionInfo {
  return {
    ...EMPTY_INFO,
    state: 'online',
    interface: 'eth-b',
    bearer: 'wifi',
    name: 'eth-b',
    ipv4: { address: V4 },
    ipv6: { address: V6, prefixLength: 64 },
    sourceIPRule: true,
    ...over,
  };
}

describe('socketOptionsOf', () => {
  it('prefers IPv4, and returns a frozen { localAddress, family }', () => {
    const o = socketOptionsOf(info());
    expect(o).toEqual({ localAddress: V4, family: 4 });
    expect(Object.isFrozen(o)).toBe(true);
    expect(socketOptionsOf(info(), { host: 'example.org' })).toEqual({ localAddress: V4, family: 4 });
  });

  it('takes IPv6 when asked, or when the host is an IPv6 literal', () => {
    expect(socketOptionsOf(info(), { family: 6 })).toEqual({ localAddress: V6, family: 6 });
    expect(socketOptionsOf(info(), { host: '2001:db8:cafe::80' })).toEqual({ localAddress: V6, family: 6 });
    expect(socketOptionsOf(info(), { host: '[2001:db8:cafe::80]' })).toEqual({ localAddress: V6, family: 6 });
    expect(socketOptionsOf(info(), { host: '203.0.113.80' })).toEqual({ localAddress: V4, family: 4 });
  });

  it('falls back to IPv6 on a v6-only uplink, and says when the wanted family is missing', () => {
    const v6only = info({ ipv4: null });
    expect(socketOptionsOf(v6only)).toEqual({ localAddress: V6, family: 6 });
    expect(() => socketOptionsOf(v6only, { family: 4 })).toThrow(NotConnectedError);
    expect(() => socketOptionsOf(v6only, { host: '203.0.113.80' })).toThrow(/no IPv4 address/);
    expect(() => socketOptionsOf(info({ ipv6: null }), { family: 6 })).toThrow(/no IPv6 address/);
    expect(() => socketOptionsOf(info({ ipv4: null, ipv6: null }))).toThrow(NotConnectedError);
    expect(() => socketOptionsOf(info({ ipv4: { method: 'dhcp' } }), { family: 4 })).toThrow(NotConnectedError);
  });

  it('refuses a session without an uplink', () => {
    expect(() => socketOptionsOf(EMPTY_INFO)).toThrow(NotConnectedError);
    expect(() => socketOptionsOf(info({ state: 'disconnected' }))).toThrow(NotConnectedError);
    expect(() => socketOptionsOf(info({ interface: null }))).toThrow(NotConnectedError);
    // The 'connected' state (no online check yet) is an uplink all the same.
    expect(socketOptionsOf(info({ state: 'connected' }))).toEqual({ localAddress: V4, family: 4 });
  });

  it('refuses a session without the source rule, with the remedy in the message', () => {
    const err = (() => {
      try {
        socketOptionsOf(info({ sourceIPRule: false }));
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(SourceIPRuleRequiredError);
    expect((err as SourceIPRuleRequiredError).code).toBe('NS_ERR_SOURCE_IP_RULE_REQUIRED');
    expect((err as Error).message).toMatch(/sourceIPRule: true/);
  });

  it('checks family', () => {
    expect(() => socketOptionsOf(info(), { family: 5 as never })).toThrow(InvalidOptionError);
    expect(() => socketOptionsOf(info(), { family: 4, host: '2001:db8::1' })).toThrow(InvalidOptionError);
    expect(() => socketOptionsOf(info(), { family: 6, host: '203.0.113.80' })).toThrow(/IPv4 address/);
  });
});

describe('familyOfHost', () => {
  it('knows IP literals and nothing else', () => {
    expect([
      familyOfHost('198.51.100.1'),
      familyOfHost('::1'),
      familyOfHost('[::1]'),
      familyOfHost('example.org'),
      familyOfHost(''),
      familyOfHost(undefined),
    ]).toEqual([4, 6, 6, null, null, null]);
  });
});

describe('bindKey', () => {
  it('changes exactly when what sockets bind to changes', () => {
    const k = bindKey(info());
    expect(bindKey(info({ bearer: 'ethernet', name: 'x', allowedBearers: ['wifi'] }))).toBe(k);
    expect(bindKey(info({ interface: 'eth-c' }))).not.toBe(k);
    expect(bindKey(info({ ipv4: { address: '198.51.100.26' } }))).not.toBe(k);
    expect(bindKey(info({ ipv6: null }))).not.toBe(k);
    expect(bindKey(info({ sourceIPRule: false }))).not.toBe(k);
    expect(bindKey(info({ state: 'disconnected' }))).not.toBe(k);
    expect(bindKey(info({ state: 'connected' }))).toBe(k);
  });
});

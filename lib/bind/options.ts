/**
 * The bind helpers' one decision, as a pure function of a session's settings: which local
 * address (and address family) a socket must bind to so that it leaves through the session's
 * uplink. Every wrapper (net, tls, http, undici, dgram, dns) calls this at the moment it opens a
 * socket, so they all agree and all follow the session.
 */
import { isIP } from 'node:net';
import { InvalidOptionError, NotConnectedError, SourceIPRuleRequiredError } from '../errors.js';
import type { SessionInfo } from '../settings.js';

/** An IP version. */
export type IpFamily = 4 | 6;

/** What {@link socketOptionsOf} (and `session.socketOptions()`) take. */
export interface SocketOptionsRequest {
  /**
   * Address family to bind. Default: the family of `host` when it is an IP literal, else IPv4
   * when the uplink has an IPv4 address, else IPv6.
   */
  family?: IpFamily;
  /** The peer, when known: an IP literal decides the family (a hostname does not). */
  host?: string;
}

/** Socket options that bind a socket to a session's uplink: spread them into `net.connect`, `http.request`, … */
export interface SocketOptions {
  /** The session's address of that family. */
  readonly localAddress: string;
  /** Its family; passed to Node's lookup so a hostname resolves to an address of the same family. */
  readonly family: IpFamily;
}

/** The family of an IP literal (brackets allowed, as in URLs), or null for a hostname. */
export function familyOfHost(host: string | undefined): IpFamily | null {
  if (!host) return null;
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const v = isIP(bare);
  return v === 4 || v === 6 ? v : null;
}

/**
 * The local address and family a socket must bind to so that it leaves through the session's
 * uplink. Throws {@link NotConnectedError} when the session has no uplink or no address of the
 * needed family, {@link SourceIPRuleRequiredError} when the session's `sourceIPRule` is off
 * (binding would not choose the uplink), {@link InvalidOptionError} for a bad `family`, or when
 * `family` contradicts an IP-literal `host`.
 */
export function socketOptionsOf(info: SessionInfo, request: SocketOptionsRequest = {}): SocketOptions {
  const { family, host } = request;
  if (family !== undefined && family !== 4 && family !== 6)
    throw new InvalidOptionError('family', `must be 4 or 6, got ${String(family)}`);
  const hostFamily = familyOfHost(host);
  if (family !== undefined && hostFamily !== null && family !== hostFamily) {
    throw new InvalidOptionError('family', `is ${family} but host ${host} is an IPv${hostFamily} address`);
  }
  if (info.state === 'disconnected' || info.interface === null)
    throw new NotConnectedError("the session has no uplink: wait for it with waitFor('connected')");
  if (!info.sourceIPRule) {
    throw new SourceIPRuleRequiredError(
      `binding to the session's address picks its uplink only with sourceIPRule: create the session with { sourceIPRule: true } or call change({ sourceIPRule: true })`,
    );
  }
  const v4 = info.ipv4?.address || null;
  const v6 = info.ipv6?.address || null;
  const wanted = family ?? hostFamily;
  if (wanted === 4 || (wanted === null && v4)) {
    if (!v4) throw new NotConnectedError(`the session's uplink ${info.interface} has no IPv4 address`);
    return Object.freeze({ localAddress: v4, family: 4 as const });
  }
  if (!v6)
    throw new NotConnectedError(
      `the session's uplink ${info.interface} has no ${wanted === 6 ? 'IPv6 address' : 'address'}`,
    );
  return Object.freeze({ localAddress: v6, family: 6 as const });
}

/** What decides where sockets bind: a change of it means pooled sockets are stale. */
export function bindKey(info: SessionInfo): string {
  return `${info.state === 'disconnected' ? '' : (info.interface ?? '')}|${info.ipv4?.address ?? ''}|${info.ipv6?.address ?? ''}|${info.sourceIPRule}`;
}

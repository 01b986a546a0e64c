/**
 * The one-shot bind helpers: a TCP or TLS socket, a UDP socket and a DNS resolver bound to the
 * session's address at the moment they are made. They do not follow a later move (a connected
 * socket cannot change its source address): make a new one on the session's `interface` event.
 */
import dgram from 'node:dgram';
import { promises as dns, type ResolverOptions } from 'node:dns';
import net from 'node:net';
import tls from 'node:tls';
import { InvalidOptionError } from '../errors.js';
import type { SessionInfo } from '../settings.js';
import { sessionLookup } from './lookup.js';
import { familyOfHost, type IpFamily, socketOptionsOf } from './options.js';

/** Options of `Session.connect(port, host, options)`: `net.connect`'s, less what the session decides. */
export interface SessionConnectOptions
  extends Omit<net.TcpNetConnectOpts, 'port' | 'host' | 'localAddress' | 'family'> {
  /** Address family (default: the host literal's, else IPv4 when the uplink has it). */
  family?: IpFamily;
}

/** Options of `Session.tlsConnect(port, host, options)`: `tls.connect`'s, less what the session decides. */
export interface SessionTlsOptions
  extends Omit<tls.ConnectionOptions, 'port' | 'host' | 'localAddress' | 'family' | 'path' | 'socket'> {
  /** Address family (default: the host literal's, else IPv4 when the uplink has it). */
  family?: IpFamily;
}

/** Options of `Session.dgram(options)`. */
export interface SessionDgramOptions extends Omit<dgram.SocketOptions, 'type'> {
  /** `udp4` or `udp6`. Default: `udp4` when the uplink has an IPv4 address, else `udp6`. */
  type?: 'udp4' | 'udp6';
  /** Local port to bind (default 0: any). */
  port?: number;
}

/** Options of `Session.resolver(options)`: Node's `Resolver` options. */
export type SessionResolverOptions = ResolverOptions;

function checkHost(host: unknown): asserts host is string {
  if (typeof host !== 'string' || host === '')
    throw new InvalidOptionError('host', 'must be a non-empty host name or address');
}

/** A TCP connection to `host:port` bound to the session's address. */
export function connectBound(
  info: SessionInfo,
  port: number,
  host: string,
  options: SessionConnectOptions = {},
): net.Socket {
  checkHost(host);
  const { family, ...rest } = options;
  const b = socketOptionsOf(info, { host, ...(family !== undefined ? { family } : {}) });
  return net.connect({
    lookup: sessionLookup(() => info),
    ...rest,
    port,
    host,
    localAddress: b.localAddress,
    family: b.family,
  });
}

/** A TLS connection to `host:port` bound to the session's address; SNI is `host` unless it is an IP. */
export function tlsConnectBound(
  info: SessionInfo,
  port: number,
  host: string,
  options: SessionTlsOptions = {},
): tls.TLSSocket {
  checkHost(host);
  const { family, ...rest } = options;
  const b = socketOptionsOf(info, { host, ...(family !== undefined ? { family } : {}) });
  const servername = familyOfHost(host) === null ? host : undefined;
  // tls.connect hands localAddress and family to the underlying net.Socket (Node's typings omit them).
  return tls.connect({
    lookup: sessionLookup(() => info),
    ...(servername ? { servername } : {}),
    ...rest,
    port,
    host,
    localAddress: b.localAddress,
    family: b.family,
  } as tls.ConnectionOptions);
}

/**
 * A UDP socket bound to the session's address (the bind is under way when this returns; sends
 * made before it completes wait for it, they never leave from the wildcard address).
 */
export function dgramBound(info: SessionInfo, typeOrOptions: 'udp4' | 'udp6' | SessionDgramOptions = {}): dgram.Socket {
  const options: SessionDgramOptions = typeof typeOrOptions === 'string' ? { type: typeOrOptions } : typeOrOptions;
  if (options === null || typeof options !== 'object')
    throw new InvalidOptionError('options', "must be 'udp4', 'udp6' or an options object");
  const { type, port = 0, ...rest } = options;
  if (type !== undefined && type !== 'udp4' && type !== 'udp6')
    throw new InvalidOptionError('type', `must be 'udp4' or 'udp6', got ${String(type)}`);
  const b = socketOptionsOf(info, type ? { family: type === 'udp6' ? 6 : 4 } : {});
  // send() to a host name resolves it through the uplink's servers too.
  const socket = dgram.createSocket({
    lookup: sessionLookup(() => info) as dgram.SocketOptions['lookup'],
    ...rest,
    type: b.family === 6 ? 'udp6' : 'udp4',
  });
  socket.bind({ address: b.localAddress, port });
  return socket;
}

/**
 * A DNS resolver whose queries leave from the session's addresses (`setLocalAddress`) to the
 * uplink's own servers (the session's `nameservers`); the system's servers only when the uplink
 * has none.
 */
export function resolverBound(info: SessionInfo, options?: SessionResolverOptions): dns.Resolver {
  // Validates the session (connected, source rule) and that it has some address.
  socketOptionsOf(info);
  const resolver = new dns.Resolver(options);
  // A family the uplink lacks keeps the wildcard: queries to such servers cannot leave this way anyway.
  resolver.setLocalAddress(info.ipv4?.address || '0.0.0.0', info.ipv6?.address || '::0');
  if (info.nameservers.length > 0) {
    try {
      resolver.setServers([...info.nameservers]);
    } catch {
      // A server c-ares cannot take: the system's servers stand in (as without any).
    }
  }
  return resolver;
}

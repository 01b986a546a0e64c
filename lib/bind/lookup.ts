/**
 * Name resolution through the session's uplink: a `lookup` function (the shape `net.connect`,
 * `http.Agent` and undici's connector take) that asks the uplink's own DNS servers — the
 * session's `nameservers` — from the session's addresses, so the query leaves by the uplink like
 * the connection after it (Android's `Network.getAllByName`). Only when the uplink has no servers
 * (or the daemon does not publish them) does it fall back to the system resolver (`dns.lookup`,
 * i.e. /etc/resolv.conf and nsswitch), whose queries may leave by any uplink.
 */
import dns from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import type { SessionInfo } from '../settings.js';

/** One resolver per settings object: settings are frozen and replaced on every change, so this is per uplink and servers. */
const resolvers = new WeakMap<SessionInfo, dns.Resolver | null>();

/**
 * A callback-style resolver on the uplink's servers, queries leaving from the session's
 * addresses; null when the uplink has no (usable) servers.
 */
export function uplinkResolver(info: SessionInfo): dns.Resolver | null {
  let r = resolvers.get(info);
  if (r !== undefined) return r;
  r = null;
  if (info.nameservers.length > 0) {
    try {
      const resolver = new dns.Resolver();
      // A family the uplink lacks keeps the wildcard: servers of that family cannot be reached this way anyway.
      resolver.setLocalAddress(info.ipv4?.address || '0.0.0.0', info.ipv6?.address || '::0');
      resolver.setServers([...info.nameservers]);
      r = resolver;
    } catch {
      // A server c-ares cannot take (e.g. a scoped link-local one): the system resolver stands in.
      r = null;
    }
  }
  resolvers.set(info, r);
  return r;
}

type Address = { address: string; family: 4 | 6 };

/** A/AAAA through `resolver`: the family asked for, or (family 0) IPv4 first, then IPv6. */
function resolveBoth(
  resolver: dns.Resolver,
  hostname: string,
  family: number,
  done: (err: NodeJS.ErrnoException | null, list: Address[]) => void,
): void {
  const ask = (f: 4 | 6, next: (err: NodeJS.ErrnoException | null, list: Address[]) => void): void => {
    const cb = (err: NodeJS.ErrnoException | null, addresses: string[]) =>
      next(err, err ? [] : addresses.map((address) => ({ address, family: f })));
    if (f === 4) resolver.resolve4(hostname, cb);
    else resolver.resolve6(hostname, cb);
  };
  if (family === 4 || family === 6) {
    ask(family, done);
    return;
  }
  ask(4, (err4, list4) => {
    if (list4.length > 0) return done(null, list4);
    ask(6, (err6, list6) => done(list6.length > 0 ? null : (err4 ?? err6), list6));
  });
}

/**
 * The `lookup` for sockets of a session: the uplink's servers from `info()` at the moment of each
 * lookup, else the system resolver.
 */
export function sessionLookup(info: () => SessionInfo): LookupFunction {
  return (hostname, opts, callback) => {
    // dgram passes the family as a bare number (lookup(host, 4, cb)), net and undici an object.
    const options: dns.LookupOptions = typeof opts === 'number' ? { family: opts } : (opts ?? {});
    const resolver = uplinkResolver(info());
    // An address literal (dgram looks up its bind address too) is no name to ask a server about.
    if (!resolver || isIP(hostname) !== 0) return dns.lookup(hostname, options, callback as never);
    const family =
      typeof options.family === 'number'
        ? options.family
        : options.family === 'IPv6'
          ? 6
          : options.family === 'IPv4'
            ? 4
            : 0;
    resolveBoth(resolver, hostname, family, (err, list) => {
      if (err || list.length === 0) {
        const e: NodeJS.ErrnoException =
          err ?? Object.assign(new Error(`queryA ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
        (e as { hostname?: string }).hostname = hostname;
        return (callback as (err: NodeJS.ErrnoException) => void)(e);
      }
      if (options.all) return (callback as (err: null, addresses: Address[]) => void)(null, list);
      (callback as (err: null, address: string, family: number) => void)(null, list[0]!.address, list[0]!.family);
    });
  };
}

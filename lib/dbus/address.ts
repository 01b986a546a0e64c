/**
 * D-Bus server addresses: which socket to connect to. Only unix sockets are supported (the
 * system bus and every test bus are); abstract names come back with a leading NUL.
 */

/** The D-Bus specification's default system bus address. */
export const DEFAULT_SYSTEM_BUS = 'unix:path=/var/run/dbus/system_bus_socket';

/** Where to connect: the first socket path (abstract names start with NUL). Throws for other transports. */
export function socketPathOf(address: string): string {
  return socketPathsOf(address)[0]!;
}

/**
 * Every unix socket of an address list (`a;b`), in its order (abstract names start with NUL):
 * a client tries them in turn. Throws when there is none.
 */
export function socketPathsOf(address: string): string[] {
  const tried: string[] = [];
  const paths: string[] = [];
  for (const one of address.split(';')) {
    const colon = one.indexOf(':');
    const transport = colon < 0 ? one : one.slice(0, colon);
    if (transport !== 'unix') {
      if (one !== '') tried.push(transport);
      continue;
    }
    const params = new Map<string, string>();
    for (const kv of one.slice(colon + 1).split(',')) {
      const eq = kv.indexOf('=');
      if (eq > 0) params.set(kv.slice(0, eq), decodeURIComponent(kv.slice(eq + 1)));
    }
    const path = params.get('path');
    const abstract = params.get('abstract');
    if (path) paths.push(path);
    else if (abstract) paths.push(`\0${abstract}`);
    else tried.push('unix without path= or abstract=');
  }
  if (paths.length > 0) return paths;
  throw new Error(
    `unsupported D-Bus address '${address}'${tried.length ? ` (${tried.join(', ')})` : ''}: only unix:path= and unix:abstract= are supported`,
  );
}

/** The `guid=` of an address's first entry that has one (the server's identity), or null. */
export function guidOf(address: string): string | null {
  const m = /(?:^|[:,])guid=([0-9a-fA-F]{32})(?:[,;]|$)/.exec(address);
  return m ? m[1]!.toLowerCase() : null;
}

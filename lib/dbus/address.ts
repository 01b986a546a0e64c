/**
 * D-Bus server addresses: which socket to connect to. Only unix sockets are supported (the
 * system bus and every test bus are); abstract names come back with a leading NUL.
 */

/** The D-Bus specification's default system bus address. */
export const DEFAULT_SYSTEM_BUS = 'unix:path=/var/run/dbus/system_bus_socket';

/** Where to connect: the socket path (abstract names start with NUL). Throws for other transports. */
export function socketPathOf(address: string): string {
  const tried: string[] = [];
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
    if (path) return path;
    const abstract = params.get('abstract');
    if (abstract) return `\0${abstract}`;
    tried.push('unix without path= or abstract=');
  }
  throw new Error(`unsupported D-Bus address '${address}'${tried.length ? ` (${tried.join(', ')})` : ''}: only unix:path= and unix:abstract= are supported`);
}

/**
 * The built-in uplink probes: a TCP connect and an HTTP GET, each through the probed session's
 * uplink (the bind helpers), each ending as soon as `signal` aborts.
 */
import { loadUndici } from '../bind/dispatcher.js';
import type { Session } from '../session.js';

/**
 * Checks one uplink: resolves when the target was reached through `session`, rejects
 * otherwise. It must stop (and reject) when `signal` aborts: the monitor aborts it on timeout.
 */
export type UplinkProbe = (session: Session, signal: AbortSignal) => Promise<void>;

/** Resolves when a TCP connection to `host:port` through the session is established (then closes it). */
export function tcpProbe(host: string, port: number): UplinkProbe {
  return (session, signal) =>
    new Promise<void>((resolve, reject) => {
      signal.throwIfAborted();
      const socket = session.connect(port, host);
      const finish = (err?: unknown): void => {
        signal.removeEventListener('abort', onAbort);
        socket.destroy();
        if (err === undefined) resolve();
        else reject(err);
      };
      const onAbort = (): void => finish(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', () => finish());
      socket.once('error', (err) => finish(err));
    });
}

/** Resolves when `GET url` through the session answers 200–399 (redirects are not followed). */
export function httpProbe(url: string): UplinkProbe {
  // Loaded now rather than inside the first probe, whose timeout would pay for it.
  loadUndici();
  return async (session, signal) => {
    const res = await session.fetch(url, { signal, redirect: 'manual' });
    // Read the body so the connection can be reused by the next probe.
    await res.arrayBuffer();
    if (res.status < 200 || res.status >= 400) throw new Error(`GET ${url} answered ${res.status}`);
  };
}

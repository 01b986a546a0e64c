/**
 * `monitorUplinks` options: validated and defaulted in one place, before anything starts.
 */
import { isIP } from 'node:net';
import { isTransport } from '../default-transport.js';
import { InvalidOptionError } from '../errors.js';
import type { ServiceInfo } from '../manager-transport.js';
import type { Transport } from '../transport.js';
import { httpProbe, tcpProbe, type UplinkProbe } from './probes.js';

/** Options of {@link monitorUplinks}. */
export interface MonitorUplinksOptions {
  /**
   * What to reach: `'host:port'` (`'[2001:db8::1]:443'` for IPv6) for the TCP probe, an
   * `http://` or `https://` URL for the HTTP probe. Not needed with a custom `probe`.
   */
  target?: string;
  /**
   * `'tcp'` (connect, then close), `'http'` (GET, 200–399 counts), or your own function.
   * Default: `'http'` for a URL target, else `'tcp'`.
   */
  probe?: 'tcp' | 'http' | UplinkProbe;
  /** Milliseconds between two probes of an uplink. Default 5000. */
  interval?: number;
  /** Milliseconds a probe may take before it counts as lost; at most `interval`. Default `min(3000, interval)`. */
  timeout?: number;
  /** How many recent probes `lossRatio` covers. Default 10. */
  window?: number;
  /** Which services to monitor. Default: every service that has an interface name. */
  filter?: (service: ServiceInfo) => boolean;
  /** Aborting it closes the monitor. */
  signal?: AbortSignal;
  /** Where the sessions live; it must implement `watchServices`. Default: the default transport. */
  transport?: Transport;
}

/** The options, checked and completed. */
export interface MonitorConfig {
  probe: UplinkProbe;
  interval: number;
  timeout: number;
  window: number;
  filter: (service: ServiceInfo) => boolean;
  signal: AbortSignal | undefined;
  transport: Transport | undefined;
}

const KNOWN = new Set(['target', 'probe', 'interval', 'timeout', 'window', 'filter', 'signal', 'transport']);

function positive(name: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    throw new InvalidOptionError(name, `must be a positive number of milliseconds, got ${String(v)}`);
  return v;
}

/** `'host:port'` or `'[v6]:port'`. */
export function parseHostPort(target: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(target) ?? /^([^:[\]]+):(\d+)$/.exec(target);
  const port = Number(m?.[2]);
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535)
    throw new InvalidOptionError(
      'target',
      `must be 'host:port' or '[ipv6]:port' for the tcp probe, got ${JSON.stringify(target)}`,
    );
  const host = m[1]!;
  if (target.startsWith('[') && isIP(host) !== 6)
    throw new InvalidOptionError('target', `${host} is not an IPv6 address`);
  return { host, port };
}

/** Validates and completes {@link MonitorUplinksOptions}; throws {@link InvalidOptionError}. */
export function monitorConfig(options: MonitorUplinksOptions): MonitorConfig {
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', 'must be an object');
  for (const k of Object.keys(options))
    if (!KNOWN.has(k)) throw new InvalidOptionError(k, 'is not an option of monitorUplinks');
  const { target, signal, transport, filter } = options;
  const interval = positive('interval', options.interval, 5000);
  const timeout = positive('timeout', options.timeout, Math.min(3000, interval));
  if (timeout > interval)
    throw new InvalidOptionError(
      'timeout',
      `must not exceed interval (${interval} ms): a probe ends before the next one starts`,
    );
  const window = options.window ?? 10;
  if (!Number.isInteger(window) || window < 1)
    throw new InvalidOptionError('window', `must be a positive integer, got ${String(window)}`);
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new InvalidOptionError('signal', 'must be an AbortSignal');
  if (filter !== undefined && typeof filter !== 'function')
    throw new InvalidOptionError('filter', 'must be a function');
  if (transport !== undefined && !isTransport(transport))
    throw new InvalidOptionError('transport', 'must implement the Transport interface');
  if (target !== undefined && (typeof target !== 'string' || target === ''))
    throw new InvalidOptionError('target', 'must be a non-empty string');

  const isUrl = typeof target === 'string' && /^https?:\/\//i.test(target);
  const kind = options.probe ?? (isUrl ? 'http' : 'tcp');
  let probe: UplinkProbe;
  if (typeof kind === 'function') probe = kind;
  else if (kind === 'tcp' || kind === 'http') {
    if (target === undefined) throw new InvalidOptionError('target', `is needed by the ${kind} probe`);
    if (kind === 'http') {
      if (!isUrl)
        throw new InvalidOptionError(
          'target',
          `must be an http:// or https:// URL for the http probe, got ${JSON.stringify(target)}`,
        );
      probe = httpProbe(new URL(target).href);
    } else {
      const { host, port } = parseHostPort(target);
      probe = tcpProbe(host, port);
    }
  } else throw new InvalidOptionError('probe', `must be 'tcp', 'http' or a function, got ${String(kind)}`);

  return { probe, interval, timeout, window, filter: filter ?? (() => true), signal, transport };
}

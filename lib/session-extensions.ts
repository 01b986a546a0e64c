/**
 * How a {@link Session} uses netsessiond's extensions through its transport: each only when the
 * daemon announces its capability and the transport has the optional method, else an
 * {@link ExtensionNotSupportedError} (a real connmand has none of them).
 */
import {
  DaemonUnavailableError,
  ExtensionNotSupportedError,
  type NetsessionError,
  SessionClosedError,
} from './errors.js';
import { requestedBearers } from './options.js';
import { type Bearer, EXTENSION_REQUEST_KEYS } from './protocol.js';
import type { SessionInfo } from './settings.js';
import type { SessionExtensions, SessionRequest, Transport } from './transport.js';

/**
 * Rejects with {@link ExtensionNotSupportedError} when `request` uses an extension key
 * (AvoidMetered) the daemon lacks: sent anyway, a real connmand would refuse the whole call.
 * Null when it uses none (nothing to ask: the call goes out in this tick, as without extensions).
 */
export function checkExtensions(transport: Transport, request: SessionRequest): Promise<void> | null {
  const used = Object.entries(EXTENSION_REQUEST_KEYS).filter(
    ([key]) => (request as Record<string, unknown>)[key] !== undefined,
  );
  if (used.length === 0) return null;
  return transport.capabilities().then((caps) => {
    for (const [, capability] of used) if (!caps.includes(capability)) throw new ExtensionNotSupportedError(capability);
  });
}

/** The transport's extension method `name`, bound, once the daemon announced `capability`. */
export async function extension<K extends keyof SessionExtensions>(
  transport: Transport,
  capability: string,
  name: K,
): Promise<NonNullable<SessionExtensions[K]>> {
  const caps = await transport.capabilities();
  const fn = transport[name];
  if (!caps.includes(capability) || typeof fn !== 'function') throw new ExtensionNotSupportedError(capability);
  return fn.bind(transport) as NonNullable<SessionExtensions[K]>;
}

/** The policy group that applies to the session at `path`, when the daemon says (`Policy` capability); else null, never an error. */
export async function policyName(transport: Transport, path: string): Promise<string | null> {
  if (typeof transport.sessionPolicy !== 'function') return null;
  try {
    if (!(await transport.capabilities()).includes('Policy')) return null;
    return await transport.sessionPolicy(path);
  } catch {
    // The name is a courtesy: the error stands without it.
    return null;
  }
}

/** An answer meaning the session is over on the daemon's side (forgotten, or the daemon gone). */
export function isSessionOver(err: unknown): err is NetsessionError {
  return (err instanceof SessionClosedError && err.reason === 'gone') || err instanceof DaemonUnavailableError;
}

/**
 * The bearers asked for when the daemon's policy removed every one of them (the effective list
 * is empty although the request named some): no uplink can ever be bound. Otherwise null.
 */
export function blockedBearers(info: SessionInfo, request: SessionRequest): Bearer[] | null {
  if (info.allowedBearers.length > 0) return null;
  const requested = requestedBearers(request);
  return requested.length > 0 ? requested : null;
}

/**
 * Session options: the camelCase names apps write, turned into ConnMan's settings keys and
 * values in this one place, and validated before anything goes on the bus (so a typo is an
 * {@link InvalidOptionError} with the option's name, not a daemon round trip and an
 * `InvalidArguments`). The checks are the daemon's own (see daemon/core/settings.ts), so what
 * passes here is accepted by netsessiond. Pure.
 */

import { type ExtensionNotSupportedError, InvalidOptionError } from './errors.js';
import {
  BEARERS,
  type Bearer,
  CONNECTION_TYPES,
  type ConnectionType,
  DEFAULT_BEARERS,
  isValidInterfaceName,
  type RequestKey,
} from './protocol.js';
import type { SessionRequest } from './transport.js';

/** A bearer name, or `'*'` for ConnMan's default set (ethernet, wifi, bluetooth, cellular, gadget). */
export type BearerOption = Bearer | '*';

/**
 * What a session asks for. Every option is optional; absent ones keep the daemon's default.
 * `createSession(options)` sends them with CreateSession, `session.change(options)` with Change.
 */
export interface SessionOptions {
  /**
   * The bearers the session may use, most preferred first. `'*'` expands in place to the
   * defaults (`['wifi', '*']` = wifi first, then the rest). An empty list never binds.
   * Default: all of them (`['*']`).
   */
  allowedBearers?: readonly BearerOption[];
  /**
   * `'internet'`: only uplinks whose online check passed; `'local'`/`'any'`: any connected
   * uplink. Default `'any'`.
   */
  connectionType?: ConnectionType;
  /**
   * Restrict the session to one interface by name (`'wwan0'`). `'*'` (or `''`) means any.
   * Must be a valid Linux interface name: 1–15 bytes, no `/`, `:` or whitespace.
   */
  allowedInterface?: string;
  /**
   * Ask the daemon to route packets by their source address too, so sockets bound to the
   * session's address (the bind helpers) leave through its uplink. Default false.
   */
  sourceIPRule?: boolean;
  /** Free text identifying the session (shown to administrators). netsessiond only. */
  contextIdentifier?: string;
  /**
   * Keep off metered uplinks unless nothing else is up: among the uplinks the other options
   * allow, an unmetered one is always preferred to a metered one (whatever the bearer order),
   * and a metered one is used only while no unmetered one is eligible — the session moves off it
   * as soon as one is (Android's preference for unmetered networks; not Apple's
   * `prohibitExpensivePaths`, which would leave the session without any uplink). netsessiond
   * only (capability `AvoidMetered`): against a daemon without it, `createSession`/`change`
   * reject with {@link ExtensionNotSupportedError}. Default false.
   */
  avoidMetered?: boolean;
}

/** Each option's ConnMan settings key. The one table between the two spellings. */
export const OPTION_KEYS = {
  allowedBearers: 'AllowedBearers',
  connectionType: 'ConnectionType',
  allowedInterface: 'AllowedInterface',
  sourceIPRule: 'SourceIPRule',
  contextIdentifier: 'ContextIdentifier',
  avoidMetered: 'AvoidMetered',
} as const satisfies Record<keyof SessionOptions, RequestKey>;

const OPTION_NAMES = Object.keys(OPTION_KEYS) as Array<keyof SessionOptions>;
const BEARER_OPTIONS: ReadonlySet<string> = new Set<string>([...BEARERS, '*']);

function show(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? JSON.stringify(v) : `a ${typeof v}`;
}

function bearers(value: unknown): Array<Bearer | '*'> {
  if (!Array.isArray(value))
    throw new InvalidOptionError('allowedBearers', `must be an array of bearer names, got ${show(value)}`);
  return value.map((b: unknown) => {
    if (typeof b !== 'string' || !BEARER_OPTIONS.has(b)) {
      throw new InvalidOptionError(
        'allowedBearers',
        `unknown bearer ${show(b)} (expected one of ${BEARERS.join(', ')} or '*')`,
      );
    }
    return b as Bearer | '*';
  });
}

function connectionType(value: unknown): ConnectionType {
  if (typeof value !== 'string' || !(CONNECTION_TYPES as readonly string[]).includes(value)) {
    throw new InvalidOptionError('connectionType', `must be one of ${CONNECTION_TYPES.join(', ')}, got ${show(value)}`);
  }
  return value as ConnectionType;
}

function allowedInterface(value: unknown): string {
  if (typeof value !== 'string')
    throw new InvalidOptionError('allowedInterface', `must be a string, got ${show(value)}`);
  // ConnMan's CreateSession takes "" literally (a session that never binds, spec §7.1.5), its
  // Change takes it as "any": sending '*' means "any" to both it and netsessiond.
  if (value === '' || value === '*') return '*';
  if (!isValidInterfaceName(value)) {
    throw new InvalidOptionError(
      'allowedInterface',
      `${show(value)} is not a valid interface name (1-15 bytes, no '/', ':' or whitespace)`,
    );
  }
  return value;
}

function bool(option: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new InvalidOptionError(option, `must be a boolean, got ${show(value)}`);
  return value;
}

function text(option: string, value: unknown): string {
  if (typeof value !== 'string') throw new InvalidOptionError(option, `must be a string, got ${show(value)}`);
  // D-Bus strings cannot carry NUL; the call would fail at marshalling time, far from the cause.
  if (value.includes('\0')) throw new InvalidOptionError(option, 'must not contain NUL characters');
  return value;
}

/**
 * Validates `options` and returns them as ConnMan settings (keys in wire order). Throws
 * {@link InvalidOptionError} naming the first bad option. Options whose value is `undefined`
 * count as absent. `ignore` lists extra keys the caller handles itself (e.g. createSession's
 * `signal`, `transport`, `timeout`).
 */
export function toSessionRequest(options: unknown, ignore: readonly string[] = []): SessionRequest {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidOptionError('options', `must be an object, got ${show(options)}`);
  }
  const input = options as Record<string, unknown>;
  for (const key of Object.keys(input)) {
    if (!Object.hasOwn(OPTION_KEYS, key) && !ignore.includes(key)) {
      throw new InvalidOptionError(key, `unknown option (expected one of ${OPTION_NAMES.join(', ')})`);
    }
  }
  const out: SessionRequest = {};
  const v = (k: keyof SessionOptions): unknown => input[k];
  if (v('allowedBearers') !== undefined) out.AllowedBearers = bearers(v('allowedBearers'));
  if (v('connectionType') !== undefined) out.ConnectionType = connectionType(v('connectionType'));
  if (v('allowedInterface') !== undefined) out.AllowedInterface = allowedInterface(v('allowedInterface'));
  if (v('sourceIPRule') !== undefined) out.SourceIPRule = bool('sourceIPRule', v('sourceIPRule'));
  if (v('contextIdentifier') !== undefined) out.ContextIdentifier = text('contextIdentifier', v('contextIdentifier'));
  if (v('avoidMetered') !== undefined) out.AvoidMetered = bool('avoidMetered', v('avoidMetered'));
  return out;
}

/** The bearers a request asks for, `'*'` expanded in place (the defaults when it names none), without repeats. */
export function requestedBearers(request: SessionRequest): Bearer[] {
  const out: Bearer[] = [];
  for (const b of request.AllowedBearers ?? ['*']) {
    for (const x of b === '*' ? DEFAULT_BEARERS : [b]) if (!out.includes(x)) out.push(x);
  }
  return out;
}

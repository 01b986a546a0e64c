/**
 * Which service a session uses. ConnMan walks a hash table (arbitrary order), only moves to a
 * higher-ranked bearer and never between two services of one type; here the choice is a pure
 * function of the session's effective settings and the ranked services, so it is the same
 * whatever order events arrived in, and sessions with equal settings always agree.
 */
import type { Bearer, ConnectionType, ServiceState } from '../../lib/protocol.js';
import { type Service as FullService, isConnected } from './services.js';

/** What selection reads of a service. */
type Service = Pick<FullService, 'state' | 'ifname' | 'bearer' | 'metered'>;

/** The part of a session's effective settings that selection depends on. */
export interface SelectionKey {
  allowedBearers: readonly Bearer[];
  connectionType: ConnectionType;
  allowedInterface: string | null;
  /** Only absent in tests of the plain rule: false. */
  avoidMetered?: boolean;
}

/** Sessions with equal keys always select the same service: the engine groups them by this string. */
export function selectionKeyString(k: SelectionKey): string {
  return `${k.allowedBearers.join(',')}|${k.connectionType}|${k.allowedInterface ?? '*'}${k.avoidMetered ? '|m' : ''}`;
}

/** Whether a service in this state may carry a session of this connection type. */
export function eligible(state: ServiceState, type: ConnectionType): boolean {
  if (type === 'internet') return state === 'online';
  return isConnected(state);
}

/**
 * Picks the best eligible service. `ranked` is in service order (best first). Preference:
 * the session's bearer order first (what the user asked for), then online over ready, then
 * the service order. With `avoidMetered`, unmetered services come before all of that (Android's
 * preference for unmetered networks): a metered one is picked only when no unmetered one is
 * eligible.
 */
export function selectService<S extends Service>(ranked: readonly S[], key: SelectionKey): S | null {
  if (key.avoidMetered) return pick(ranked, key, false) ?? pick(ranked, key, true);
  return pick(ranked, key, true);
}

function pick<S extends Service>(ranked: readonly S[], key: SelectionKey, meteredToo: boolean): S | null {
  let best: S | null = null;
  let bestBearer = Infinity;
  let bestOnline = false;
  for (const s of ranked) {
    if (!eligible(s.state, key.connectionType)) continue;
    if (!meteredToo && s.metered) continue;
    if (key.allowedInterface !== null && key.allowedInterface !== s.ifname) continue;
    const bi = key.allowedBearers.indexOf(s.bearer);
    if (bi < 0) continue;
    const online = s.state === 'online';
    // `ranked` is already in service order, so the first candidate wins ties.
    if (bi < bestBearer || (bi === bestBearer && online && !bestOnline)) {
      best = s;
      bestBearer = bi;
      bestOnline = online;
    }
  }
  return best;
}

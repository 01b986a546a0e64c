/**
 * Which service a session uses. ConnMan walks a hash table (arbitrary order), only moves to a
 * higher-ranked bearer and never between two services of one type; here the choice is a pure
 * function of the session's effective settings and the ranked services, so it is the same
 * whatever order events arrived in, and sessions with equal settings always agree.
 */
import type { Bearer, ConnectionType, ServiceState } from '../../lib/protocol.js';
import { isConnected, type Service } from './services.js';

/** The part of a session's effective settings that selection depends on. */
export interface SelectionKey {
  allowedBearers: readonly Bearer[];
  connectionType: ConnectionType;
  allowedInterface: string | null;
}

/** Sessions with equal keys always select the same service: the engine groups them by this string. */
export function selectionKeyString(k: SelectionKey): string {
  return `${k.allowedBearers.join(',')}|${k.connectionType}|${k.allowedInterface ?? '*'}`;
}

/** Whether a service in this state may carry a session of this connection type. */
export function eligible(state: ServiceState, type: ConnectionType): boolean {
  if (type === 'internet') return state === 'online';
  return isConnected(state);
}

/**
 * Picks the best eligible service. `ranked` is in service order (best first). Preference:
 * the session's bearer order first (what the user asked for), then online over ready, then
 * the service order.
 */
export function selectService(ranked: readonly Service[], key: SelectionKey): Service | null {
  let best: Service | null = null;
  let bestBearer = Infinity;
  let bestOnline = false;
  for (const s of ranked) {
    if (!eligible(s.state, key.connectionType)) continue;
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

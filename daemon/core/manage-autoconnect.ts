/**
 * ConnMan-style autoconnect for managed services, as one pure decision: given the current
 * services, technologies and active sessions, which services to bring up (and why), which to
 * take down, and which session-connected services to keep under a new reason. The engine runs it
 * after every change and applies the result; running it again on the result changes nothing, so
 * there is no flapping between rules.
 *
 * Terms: a service is *up* when connecting or connected (association, configuration, ready,
 * online); a *candidate* is a managed service of an enabled technology (Powered and not
 * OfflineMode) in state idle that is Favorite and AutoConnect, not disconnected by the user
 * (ConnMan's `is_ignore` plus the AutoConnect flag; `failure` is not retried, as ConnMan) and
 * available (has carrier: ConnMan's ethernet services only exist while the cable is plugged, ours
 * exist regardless, so without this an unplugged link would be picked forever). An *active*
 * session called Connect and has not called Disconnect; the caller passes its resolved
 * AllowedBearers and bound service. *Wired* bearers are ethernet and gadget.
 *
 * Rules, applied in this order (each service gets at most one decision):
 *
 * | # | Rule | When | Decision |
 * |---|------|------|----------|
 * | 1 | observed | `managed` is false | never touched |
 * | 2 | disabled technology | Powered false or OfflineMode | never a candidate (manage-actions takes the link down) |
 * | 3 | session release | up, reason `session`, no active session could use it (its bearer, and its interface when the session has AllowedInterface) or is bound to it | disconnect `session-released` (or keep as `auto` by row 7) |
 * | 3a | wired | SingleConnectedTechnology false | connect EVERY wired candidate, reason `auto` (ConnMan's connect-on-plug in `__connman_service_create_from_network`, outside the one-at-a-time autoconnect); they count as up for rows 4-6 |
 * | 4 | session connect | active session, unbound, no up service (managed or observed) it could use (allowed bearer and, with AllowedInterface, that interface) | connect its best candidate — AllowedBearers order, then ranking — reason `session` |
 * | 5 | always connected | bearer in AlwaysConnectedTechnologies, no up managed service of it | connect its best candidate, reason `auto` |
 * | 6 | general | no up managed service outside AlwaysConnectedTechnologies | connect the best candidate outside them, reason `auto` |
 * | 7 | keep instead of release | a row-3 service is the pick of row 3a, 5 or 6 | no disconnect; retag as `auto` |
 * | 8 | single technology | SingleConnectedTechnology, a connected managed service outside AlwaysConnected exists | keep the technology of the first such service in ranking; disconnect up services of other technologies `single-technology`, except AlwaysConnected bearers and services an active session holds (bound to it, or allows its bearer) |
 *
 * Row 3a runs before row 4 so that a session wanting a wired bearer finds it up (as in ConnMan,
 * where the cable connected it at plug time), and before row 6 so that row 6 sees it up (no
 * cellular while a cable comes up). It is off under SingleConnectedTechnology, where it and row 8
 * would undo each other.
 *
 * Output lists follow the input ranking, so equal inputs give equal outputs.
 */
import type { Bearer, ServiceState } from '../../lib/protocol.js';
import { isConnected } from './services.js';

/** Bearers ConnMan connects as soon as their link appears (row 3a). */
const WIRED: ReadonlySet<Bearer> = new Set<Bearer>(['ethernet', 'gadget']);

/** Why a service was brought up; ConnMan's `connect_reason` (USER, AUTO, SESSION). */
export type ConnectReason = 'user' | 'auto' | 'session';

/** What autoconnect needs of a service. */
export interface AutoService {
  readonly id: string;
  readonly bearer: Bearer;
  readonly state: ServiceState;
  readonly favorite: boolean;
  readonly autoConnect: boolean;
  /** False for observed interfaces: another tool owns them. */
  readonly managed: boolean;
  /** Reason of the connect that brought it up; null when it is down or came up on its own. */
  readonly connectReason: ConnectReason | null;
  /** The user called Disconnect and has not called Connect since (see manage-actions.ts). */
  readonly userDisconnected?: boolean;
  /** The link has carrier; false means never a candidate. Absent means true. */
  readonly available?: boolean;
  /** Interface name, for sessions restricted by AllowedInterface. */
  readonly ifname?: string;
}

/** A session that called Connect and has not called Disconnect. */
export interface ActiveSession {
  readonly id: string;
  /** Effective AllowedBearers, in the session's preference order. */
  readonly bearers: readonly Bearer[];
  /** Service the session is bound to, if any. */
  readonly boundTo: string | null;
  /** Effective AllowedInterface: only a service on this interface can serve it. */
  readonly allowedInterface?: string | null;
}

/** Could `s` serve `session` (bearer and interface restrictions)? */
function serves(session: ActiveSession, s: AutoService): boolean {
  if (!session.bearers.includes(s.bearer)) return false;
  return !session.allowedInterface || s.ifname === session.allowedInterface;
}

/** Everything one autoconnect pass depends on. */
export interface AutoInput {
  /** All services (managed and observed), best first. */
  readonly services: readonly AutoService[];
  readonly powered: Readonly<Record<Bearer, boolean>>;
  readonly offlineMode: boolean;
  readonly singleConnectedTechnology: boolean;
  readonly alwaysConnected: readonly Bearer[];
  readonly sessions: readonly ActiveSession[];
}

export type DisconnectWhy = 'session-released' | 'single-technology';

/** Result of {@link decideAutoconnect}. */
export interface AutoDecision {
  connect: { id: string; reason: ConnectReason }[];
  disconnect: { id: string; why: DisconnectWhy }[];
  /** Services that stay up but whose connect reason changes (row 7). */
  retag: { id: string; reason: ConnectReason }[];
}

/** Connecting or connected: the link is, or is becoming, usable. */
export function isUp(state: ServiceState): boolean {
  return state === 'association' || state === 'configuration' || isConnected(state);
}

/** Runs the rules of the table above once. */
export function decideAutoconnect(input: AutoInput): AutoDecision {
  const { services, sessions } = input;
  const always = new Set(input.alwaysConnected);
  const enabled = (b: Bearer) => !input.offlineMode && input.powered[b] === true;
  const managed = services.filter((s) => s.managed && enabled(s.bearer));
  const isCandidate = (s: AutoService) =>
    s.state === 'idle' && s.favorite && s.autoConnect && s.userDisconnected !== true && s.available !== false;

  // Row 3: session services nobody holds any more.
  const held = (s: AutoService) => sessions.some((x) => x.boundTo === s.id || serves(x, s));
  const released = new Set(
    managed.filter((s) => isUp(s.state) && s.connectReason === 'session' && !held(s)).map((s) => s.id),
  );

  // What counts as up for rows 4-6: up now (minus releases) or about to be connected.
  const upIds = new Set(services.filter((s) => isUp(s.state) && !released.has(s.id)).map((s) => s.id));
  const connect = new Map<string, ConnectReason>();
  const retag = new Map<string, ConnectReason>();
  const pick = (s: AutoService, reason: ConnectReason) => {
    if (released.has(s.id)) {
      released.delete(s.id);
      retag.set(s.id, reason);
    } else {
      connect.set(s.id, reason);
    }
    upIds.add(s.id);
  };
  // Row 7: a released service is pickable by rows 3a, 5 and 6 as if idle, if it is Favorite,
  // AutoConnect and available — a service the user set AutoConnect=false on must still go down.
  const pickable = (s: AutoService) =>
    !upIds.has(s.id) &&
    (isCandidate(s) || (released.has(s.id) && s.favorite && s.autoConnect && s.available !== false));

  // Row 3a.
  if (!input.singleConnectedTechnology) {
    for (const s of managed) if (WIRED.has(s.bearer) && pickable(s)) pick(s, 'auto');
  }

  // Row 4.
  for (const session of sessions) {
    if (session.boundTo !== null) continue;
    if (services.some((s) => upIds.has(s.id) && serves(session, s))) continue;
    const best = session.bearers
      .map((b) => managed.find((s) => s.bearer === b && serves(session, s) && isCandidate(s) && !upIds.has(s.id)))
      .find((s) => s !== undefined);
    if (best) pick(best, 'session');
  }

  // Row 5.
  for (const b of input.alwaysConnected) {
    if (managed.some((s) => s.bearer === b && upIds.has(s.id))) continue;
    const best = managed.find((s) => s.bearer === b && pickable(s));
    if (best) pick(best, 'auto');
  }

  // Row 6.
  if (!managed.some((s) => !always.has(s.bearer) && upIds.has(s.id))) {
    const best = managed.find((s) => !always.has(s.bearer) && pickable(s));
    if (best) pick(best, 'auto');
  }

  // Row 8. A released service is already going down.
  const disconnect = new Map<string, DisconnectWhy>();
  for (const id of released) disconnect.set(id, 'session-released');
  if (input.singleConnectedTechnology) {
    // Kept technology comes from outside AlwaysConnected: those are exempt anyway, and keeping one
    // of them would let row 6 and row 8 undo each other on every pass.
    const keep = managed.find((s) => isConnected(s.state) && !always.has(s.bearer) && !released.has(s.id));
    if (keep) {
      for (const s of managed) {
        if (!isUp(s.state) || s.bearer === keep.bearer || always.has(s.bearer) || disconnect.has(s.id)) continue;
        // Whatever its connect reason: row 4 would bring it straight back up for the session.
        if (held(s)) continue;
        disconnect.set(s.id, 'single-technology');
      }
    }
  }

  const order = (ids: ReadonlyMap<string, unknown>) => services.filter((s) => ids.has(s.id));
  return {
    connect: order(connect).map((s) => ({ id: s.id, reason: connect.get(s.id) as ConnectReason })),
    disconnect: order(disconnect).map((s) => ({ id: s.id, why: disconnect.get(s.id) as DisconnectWhy })),
    retag: order(retag).map((s) => ({ id: s.id, reason: retag.get(s.id) as ConnectReason })),
  };
}

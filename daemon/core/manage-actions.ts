/**
 * What user actions on managed services mean for links and persisted settings (manage mode).
 *
 * Two layers of "down", as ConnMan's ethernet plugin does it:
 * - *admin state* (IFF_UP) follows the technology only: Technology.Powered=false or
 *   Manager.OfflineMode takes the link down (`connman_inet_ifdown`), turning them back on brings
 *   it up. A disconnected service keeps its link up, so carrier is still seen and autoconnect can
 *   act on a plugged cable.
 * - *configured* (addresses, DHCP, default routes) follows the connect reason: a service is
 *   configured while it has one (user, auto or session connect) and its link is up.
 *
 * Rules:
 * | Action | Runtime effect | Persisted effect |
 * |--------|----------------|------------------|
 * | Service.Connect (user) | reason `user`; clears "user disconnected" | Favorite=true; AutoConnect set to true only when the service had no entry (ConnMan: a new favorite autoconnects) |
 * | Service.Disconnect (user) | reason cleared; marked "user disconnected" (autoconnect and session autoconnect skip it) | none: AutoConnect is the user's explicit setting, Disconnect is not a vote against it |
 * | carrier lost on the link | "user disconnected" cleared (a re-plugged cable autoconnects again) | none |
 * | autoconnect connect/disconnect/retag | reason set / cleared / replaced | none |
 * | Technology.Powered / OfflineMode | admin state of every managed link of the technology; reasons are kept, so turning it back on restores what was up | persisted by the existing settings path |
 */
import type { Bearer } from '../../lib/protocol.js';
import type { ConnectReason } from './manage-autoconnect.js';
import type { PersistedSettings } from './persisted-settings.js';

/** Per-service manage-mode state that lives only while the daemon runs. */
export interface ManageRuntime {
  /** Why each up (or coming up) managed service was connected. */
  readonly reasons: ReadonlyMap<string, ConnectReason>;
  /** Services the user disconnected; autoconnect leaves them alone. */
  readonly userDisconnected: ReadonlySet<string>;
}

/** Runtime state at start: nothing connected by us, nothing disconnected by the user. */
export function emptyRuntime(): ManageRuntime {
  return { reasons: new Map(), userDisconnected: new Set() };
}

/** Service.Connect by the user. Returns new values; the inputs are not changed. */
export function userConnect(
  rt: ManageRuntime,
  settings: PersistedSettings,
  id: string,
): { rt: ManageRuntime; settings: PersistedSettings } {
  const reasons = new Map(rt.reasons).set(id, 'user');
  const userDisconnected = new Set(rt.userDisconnected);
  userDisconnected.delete(id);
  const prev = settings.services[id];
  const entry = { favorite: true, autoConnect: prev ? prev.autoConnect : true };
  const changed = !prev?.favorite;
  return {
    rt: { reasons, userDisconnected },
    settings: changed ? { ...settings, services: { ...settings.services, [id]: entry } } : settings,
  };
}

/** Service.Disconnect by the user. Persisted settings are untouched (see the table above). */
export function userDisconnect(rt: ManageRuntime, id: string): ManageRuntime {
  const reasons = new Map(rt.reasons);
  reasons.delete(id);
  return { reasons, userDisconnected: new Set(rt.userDisconnected).add(id) };
}

/** The link lost carrier: a later plug-in may autoconnect again. */
export function carrierLost(rt: ManageRuntime, id: string): ManageRuntime {
  if (!rt.userDisconnected.has(id)) return rt;
  const userDisconnected = new Set(rt.userDisconnected);
  userDisconnected.delete(id);
  return { reasons: rt.reasons, userDisconnected };
}

/** Applies one autoconnect decision (see manage-autoconnect.ts) to the runtime reasons. */
export function applyAutoDecision(
  rt: ManageRuntime,
  d: {
    readonly connect: readonly { id: string; reason: ConnectReason }[];
    readonly disconnect: readonly { id: string }[];
    readonly retag: readonly { id: string; reason: ConnectReason }[];
  },
): ManageRuntime {
  const reasons = new Map(rt.reasons);
  for (const c of d.connect) reasons.set(c.id, c.reason);
  for (const r of d.retag) reasons.set(r.id, r.reason);
  for (const x of d.disconnect) reasons.delete(x.id);
  return { reasons, userDisconnected: rt.userDisconnected };
}

/** A managed link as the plan needs it. */
export interface ManagedLink {
  readonly serviceId: string;
  readonly ifindex: number;
  readonly bearer: Bearer;
}

/** Desired state of one managed link. */
export interface LinkPlan {
  ifindex: number;
  serviceId: string;
  /** IFF_UP. */
  adminUp: boolean;
  /** Addresses, DHCP and default routes present. */
  configured: boolean;
}

/** Desired admin and configuration state of every managed link, sorted by ifindex. */
export function planLinks(
  links: readonly ManagedLink[],
  tech: { readonly powered: Readonly<Record<Bearer, boolean>>; readonly offlineMode: boolean },
  rt: ManageRuntime,
): LinkPlan[] {
  return links
    .map((l) => {
      const adminUp = !tech.offlineMode && tech.powered[l.bearer] === true;
      return {
        ifindex: l.ifindex,
        serviceId: l.serviceId,
        adminUp,
        configured: adminUp && rt.reasons.has(l.serviceId),
      };
    })
    .sort((a, b) => a.ifindex - b.ifindex);
}

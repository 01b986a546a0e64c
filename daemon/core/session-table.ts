/**
 * The live sessions, indexed by path, owner and uid, and their selection groups: sessions with
 * equal effective selection settings always bind the same service, so they are grouped, and a
 * link event costs O(groups x services) plus O(sessions whose binding or bound service changed),
 * not O(all sessions). This file binds the groups and writes each session's Updates (deltas
 * against what the session was last told); the engine decides when.
 */
import type { SessionSettings } from '../../lib/protocol.js';
import type { Effects } from './effects.js';
import type { ActiveSession } from './manage-autoconnect.js';
import { mergeSettings } from './policy.js';
import { selectionKeyString, selectService } from './selection.js';
import type { ServiceRegistry } from './service-registry.js';
import { isInert, ownPartOf, type Session, servicePartOf, settingsOf } from './session-model.js';
import { ownDelta, type ServicePart, type SettingsDelta, serviceDelta } from './updates.js';

/** A session as listed for admins (extension interface). */
export interface SessionInfo {
  path: string;
  owner: string;
  uid: number;
  key: string;
  serviceId: string | null;
  active: boolean;
  held: boolean;
  policyGroup: string | null;
  /** cgroups the session claimed with ClaimCgroup, in claim order. */
  cgroups: readonly string[];
  settings: SessionSettings;
}

interface Group {
  sessions: Set<Session>;
  serviceId: string | null;
}

/** What takeKernelChanges returns when nothing changed (never modified). */
const NO_KERNEL_CHANGES: { touched: ReadonlySet<never>; removed: ReadonlySet<string> } = Object.freeze({
  touched: new Set<never>(),
  removed: new Set<string>(),
});

export class SessionTable {
  readonly #registry: ServiceRegistry;
  readonly #sessions = new Map<string, Session>();
  readonly #byOwner = new Map<string, Set<Session>>();
  readonly #countByUid = new Map<number, number>();
  readonly #groups = new Map<string, Group>();
  /** Sessions whose kernel input may have changed since {@link takeKernelChanges}. */
  #kernelTouched = new Set<Session>();
  /** Keys of ended sessions that the kernel state still holds. */
  #kernelRemoved = new Set<string>();
  readonly #kernelKnows: (sessionKey: string) => boolean;

  /** `kernelKnows`: whether the last kernel state included a session (so its end must be passed on). */
  constructor(registry: ServiceRegistry, kernelKnows: (sessionKey: string) => boolean) {
    this.#registry = registry;
    this.#kernelKnows = kernelKnows;
  }

  /**
   * Notes that a session's kernel input (binding, settings, claims) may have changed. Every
   * change of those goes through here, so the kernel state is brought up to date for exactly
   * these sessions rather than for all of them.
   */
  touch(s: Session): void {
    // One that claims nothing and that the kernel state does not hold changes nothing there.
    if (isInert(s) && !this.#kernelKnows(s.key)) return;
    this.#kernelTouched.add(s);
  }

  /** Whether a session's kernel input changed since {@link takeKernelChanges}. */
  get kernelChanged(): boolean {
    return this.#kernelTouched.size > 0 || this.#kernelRemoved.size > 0;
  }

  /** The sessions touched and the keys of those ended since the last call. */
  takeKernelChanges(): { touched: ReadonlySet<Session>; removed: ReadonlySet<string> } {
    // Asked on every call and event (kernelVersion), mostly with nothing to take: no new sets then.
    if (this.#kernelTouched.size === 0 && this.#kernelRemoved.size === 0) return NO_KERNEL_CHANGES;
    const out = { touched: this.#kernelTouched, removed: this.#kernelRemoved };
    this.#kernelTouched = new Set();
    this.#kernelRemoved = new Set();
    return out;
  }

  get(path: string): Session | undefined {
    return this.#sessions.get(path);
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Every session, oldest first. */
  values(): IterableIterator<Session> {
    return this.#sessions.values();
  }

  /** How many sessions one bus connection owns. */
  countOfOwner(owner: string): number {
    return this.#byOwner.get(owner)?.size ?? 0;
  }

  /** How many sessions the connections of one uid own together. */
  countOfUid(uid: number): number {
    return this.#countByUid.get(uid) ?? 0;
  }

  /** The sessions of one bus connection (a copy: the caller may end them while iterating). */
  ofOwner(owner: string): Session[] {
    return [...(this.#byOwner.get(owner) ?? [])];
  }

  add(s: Session): void {
    this.#sessions.set(s.path, s);
    let set = this.#byOwner.get(s.owner);
    if (!set) {
      set = new Set();
      this.#byOwner.set(s.owner, set);
    }
    set.add(s);
    this.#countByUid.set(s.identity.uid, this.countOfUid(s.identity.uid) + 1);
    this.touch(s);
  }

  /** Drops a session from the indexes (it has left its group already). */
  delete(s: Session): void {
    this.#sessions.delete(s.path);
    const set = this.#byOwner.get(s.owner);
    set?.delete(s);
    if (set && set.size === 0) this.#byOwner.delete(s.owner);
    const n = this.countOfUid(s.identity.uid) - 1;
    if (n > 0) this.#countByUid.set(s.identity.uid, n);
    else this.#countByUid.delete(s.identity.uid);
    this.#kernelTouched.delete(s);
    if (this.#kernelKnows(s.key)) this.#kernelRemoved.add(s.key);
  }

  /** All sessions as listed for admins, oldest first. */
  list(): SessionInfo[] {
    return [...this.#sessions.values()].map((s) => ({
      path: s.path,
      owner: s.owner,
      uid: s.identity.uid,
      key: s.key,
      serviceId: s.serviceId,
      active: s.active,
      held: s.held,
      policyGroup: s.match ? `${s.match.group.file}:${s.match.group.name}` : null,
      cgroups: s.cgroups,
      settings: settingsOf(s, s.serviceId ? (this.#registry.byId(s.serviceId) ?? null) : null),
    }));
  }

  /** Puts a session into its selection group and binds it to the group's service. */
  join(s: Session): void {
    const key = selectionKeyString(s.effective);
    let g = this.#groups.get(key);
    if (!g) {
      g = { sessions: new Set(), serviceId: selectService(this.#registry.ranked, s.effective)?.id ?? null };
      this.#groups.set(key, g);
    }
    g.sessions.add(s);
    s.group = key;
    s.serviceId = g.serviceId;
    this.touch(s);
  }

  leave(s: Session): void {
    if (s.group === null) return;
    const g = this.#groups.get(s.group);
    if (g) {
      g.sessions.delete(s);
      if (g.sessions.size === 0) this.#groups.delete(s.group);
    }
    s.group = null;
  }

  /** The service half of a session's settings as it is bound now. */
  servicePart(s: Session): ServicePart {
    return servicePartOf(s.serviceId ? (this.#registry.byId(s.serviceId) ?? null) : null);
  }

  /** Sends what changed since the last Update, if anything did. */
  notify(s: Session, fx: Effects): void {
    const svc = this.servicePart(s);
    const own = ownPartOf(s.effective);
    const changes = new Map([...serviceDelta(s.sentService ?? svc, svc), ...ownDelta(s.sentOwn ?? own, own)]);
    s.sentService = svc;
    s.sentOwn = own;
    if (changes.size > 0) fx.updates.push({ path: s.path, owner: s.owner, notifier: s.notifier, changes });
  }

  /** Re-selects every group; touches only sessions whose binding or bound service changed. */
  rebind(fx: Effects, changedServiceId: string | null): void {
    const touched = fx.changedServices;
    for (const g of this.#groups.values()) {
      const first = g.sessions.values().next().value;
      if (!first) continue;
      const next = selectService(this.#registry.ranked, first.effective)?.id ?? null;
      const moved = next !== g.serviceId;
      const boundChanged = g.serviceId !== null && (touched.has(g.serviceId) || g.serviceId === changedServiceId);
      if (!moved && !boundChanged) continue;
      g.serviceId = next;
      if (moved) fx.kernelDirty = true;
      // Every session of the group gets the same service half; most were told the same old
      // half too, so each distinct old half is diffed once and the delta shared (the carrier and
      // the bus adapter then build and encode that Update once). Sessions created one by one
      // hold equal halves in separate objects: those are matched by content (JSON, native),
      // which a failover pays once per session instead of a diff, a dict and an encoding.
      const part = servicePartOf(next ? (this.#registry.byId(next) ?? null) : null);
      const deltas = new Map<ServicePart, SettingsDelta>();
      const byContent = new Map<string, SettingsDelta>();
      for (const s of g.sessions) {
        if (moved) this.touch(s);
        s.serviceId = next;
        const old = s.sentService ?? part;
        let changes = deltas.get(old);
        if (!changes) {
          const key = JSON.stringify(old);
          changes = byContent.get(key);
          if (!changes) {
            changes = new Map(serviceDelta(old, part));
            byContent.set(key, changes);
          }
          deltas.set(old, changes);
        }
        s.sentService = part;
        if (changes.size > 0) fx.updates.push({ path: s.path, owner: s.owner, notifier: s.notifier, changes });
      }
    }
  }

  /** Effective settings changed (Change or policy): regroup, keep Connect's effect, one Update. */
  reapply(s: Session, fx: Effects): void {
    s.effective = mergeSettings(s.request, s.match?.group ?? null);
    if (!s.held) {
      this.leave(s);
      this.join(s);
    }
    fx.kernelDirty = true;
    this.touch(s);
    this.notify(s, fx);
  }

  /** One entry per selection group with an active session: groups share bearers and binding. */
  activeSessions(): ActiveSession[] {
    const out: ActiveSession[] = [];
    for (const [key, g] of this.#groups) {
      for (const s of g.sessions) {
        if (!s.active) continue;
        out.push({
          id: key,
          bearers: s.effective.allowedBearers,
          boundTo: g.serviceId,
          allowedInterface: s.effective.allowedInterface,
        });
        break;
      }
    }
    return out;
  }
}

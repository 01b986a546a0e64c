/**
 * The desired kernel state kept up to date per change. {@link KernelStateMemo.note} takes what
 * changed since the last call (the session inputs that changed, the keys of sessions that ended,
 * and the services, which are few) and does work for that only: the engine records which sessions
 * an operation touched, so one create, move or destroy costs O(change) here, not O(sessions).
 * {@link KernelStateMemo.state} publishes the state only when asked (a reconcile, coalesced), so
 * the firewall's session list, a fresh array of every marked session, is copied and patched once
 * per reconcile with all the changes since the last one, not once per call (per call that copy
 * was O(sessions): 80 kB of garbage per create at 10,000). `update` is both in one; `compute`
 * derives the change from a whole input (O(sessions)). Each returns what computeKernelState does
 * for the same input (property tests hold them to that), and hands back the same objects for what
 * did not change (the previous session markings, classifiers, arrays and states), so the
 * adapters' own diffs (list-window.ts) mostly compare pointers.
 *
 * A service whose input changed is prepared again, and only the sessions bound to it (an index
 * by service id) are looked at again. The firewall's session list is kept sorted (creation order)
 * and patched in place: a new session lands at the end, one that gains or loses its last claim is
 * inserted or removed by binary search; only a bulk change (a policy reload) sorts it again. The
 * published arrays are fresh copies when they change (a pointer copy), since adapters keep the
 * previous ones to diff against.
 */

import { ClaimOwners } from './claim-owners.js';
import type { CoreConfig } from './config.js';
import { sameMarking, sameSessionInput } from './kernel-input-equality.js';
import {
  claimsOf,
  cmpSession,
  computeKernelState,
  type KernelInput,
  type KernelServiceInput,
  type KernelSessionInput,
  markingOf,
  type PreparedService,
  type RoutingParts,
  routingOf,
  type SessionClaim,
} from './kernel-state.js';
import type { FirewallState, KernelState, RoutingState, SessionMarking } from './kernel-state-types.js';
import { binarySearch } from './list-window.js';
import { PreparedServices } from './prepared-services.js';
import { StableRouting } from './stable-routing.js';

/** What changed since the last {@link KernelStateMemo.update}. */
export interface KernelChange {
  config: CoreConfig;
  /** Every service (few; compared with the last call's). */
  services: readonly KernelServiceInput[];
  /** Sessions that are new or whose input may have changed (unchanged ones are skipped). */
  changed: readonly KernelSessionInput[];
  /** Keys of sessions that ended (unknown keys are ignored). */
  removed: readonly string[];
}

interface SessionEntry {
  input: KernelSessionInput;
  svc: PreparedService | undefined;
  /** null: the session claims nothing and is not in the firewall's list. */
  marking: SessionMarking | null;
  claims: SessionClaim[];
  /** The order key it was placed in #marked with (its input may have moved on since). */
  placed: Pick<KernelSessionInput, 'serial' | 'sessionKey'> | null;
}

/** An entry's state before this call touched it. */
interface Before {
  marking: SessionMarking | null;
  gone: boolean;
}

/** Above this many sessions entering or leaving the firewall's list, it is sorted again rather than patched. */
const PATCH_LIMIT = 64;

/** Index of `key` in #marked (sorted by placed key), or -(insertion point) - 1. */
const searchPlaced = (list: readonly SessionEntry[], key: Pick<KernelSessionInput, 'serial' | 'sessionKey'>): number =>
  binarySearch(list, key, (e) => e.placed!, cmpSession);

/** Incremental {@link computeKernelState}; see the module comment. */
export class KernelStateMemo {
  #config: CoreConfig | null = null;
  readonly #services = new PreparedServices();
  #sessions = new Map<string, SessionEntry>();
  /** Sessions bound to each service id (connected or not). */
  #byService = new Map<string, Set<SessionEntry>>();
  /** Sessions with a marking, sorted by their placed key; parallel to the last firewall list. */
  #marked: SessionEntry[] = [];
  readonly #owners = new ClaimOwners<SessionEntry>();
  #sourceRuleSessions = new Map<string, number>();
  /** The last published state (see {@link KernelStateMemo.state}). */
  #last: KernelState | null = null;
  /** The routing as of the last note (published with the next state); null: no note since a reset. */
  #routingNow: RoutingState | null = null;
  readonly #stable = new StableRouting();
  /** Each prepared service's routing parts under the current config (routingOf's cache). */
  #routingParts = new WeakMap<PreparedService, RoutingParts>();
  /** Which services have SourceIPRule sessions changed since the routing was built. */
  #routingDirty = false;
  /** Entries whose marking changed since the last published state, with their marking then. */
  readonly #pending = new Map<SessionEntry, Before>();
  #classifiersDirty = false;
  /** Bumped by every note that changed the desired state; the published state's is kept. */
  #version = 0;
  #publishedVersion = -1;

  /** False until the first note, and after a reset: the next one must then name every session. */
  get primed(): boolean {
    return this.#routingNow !== null && this.#config !== null;
  }

  /** Grows whenever a note changed the desired state (a state from before it is out of date). */
  get version(): number {
    return this.#version;
  }

  /** Whether the last state included the session `key` (so its end must be reported). */
  has(key: string): boolean {
    return this.#sessions.has(key);
  }

  /** The desired kernel state for a whole input (equal to computeKernelState(input)); O(sessions). */
  compute(input: KernelInput): KernelState {
    if (input.config !== this.#config) this.#reset(input.config);
    const seen = new Set<string>();
    const changed: KernelSessionInput[] = [];
    for (const s of input.sessions) {
      // Duplicate session keys never come from the engine; the full computation handles them.
      if (seen.has(s.sessionKey)) return this.#fallback(input);
      seen.add(s.sessionKey);
      const e = this.#sessions.get(s.sessionKey);
      if (!e || !sameSessionInput(e.input, s)) changed.push(s);
    }
    const removed: string[] = [];
    for (const key of this.#sessions.keys()) if (!seen.has(key)) removed.push(key);
    return this.update({ config: input.config, services: input.services, changed, removed });
  }

  /** The desired kernel state after `change`: {@link KernelStateMemo.note} then {@link KernelStateMemo.state}. */
  update(change: KernelChange): KernelState {
    this.note(change);
    return this.state();
  }

  /** Takes `change` (O(change)); true when the desired state changed (and `version` grew). */
  note(change: KernelChange): boolean {
    if (change.config !== this.#config) this.#reset(change.config);
    const marksBefore = this.#services.marks;
    const changedServices = this.#services.take(change.services);
    // Nothing to take (a session that claims nothing came or went): all is as the last note left it.
    if (this.#routingNow && !change.changed.length && !change.removed.length && !changedServices.length) return false;
    const before = new Map<SessionEntry, Before>();
    const note = (e: SessionEntry) => {
      if (!before.has(e)) before.set(e, { marking: e.marking, gone: false });
    };

    for (const key of change.removed) {
      const e = this.#sessions.get(key);
      if (!e) continue;
      note(e);
      (before.get(e) as Before).gone = true;
      this.#sessions.delete(key);
      this.#bind(e, null);
      this.#owners.setClaims(e, []);
      this.#countSourceRule(e.input, -1);
    }
    for (const s of change.changed) {
      const svc = s.serviceId === null ? undefined : this.#services.connected.get(s.serviceId);
      let e = this.#sessions.get(s.sessionKey);
      if (!e) {
        e = { input: s, svc, marking: null, claims: [], placed: null };
        this.#sessions.set(s.sessionKey, e);
        note(e);
        this.#countSourceRule(s, 1);
        this.#bind(e, s.serviceId);
        this.#refresh(e, s, svc, true);
        continue;
      }
      if (e.svc === svc && sameSessionInput(e.input, s)) continue;
      note(e);
      this.#countSourceRule(e.input, -1);
      this.#countSourceRule(s, 1);
      if (e.input.serviceId !== s.serviceId) this.#bind(e, s.serviceId);
      this.#refresh(e, s, svc, false);
    }
    // Sessions bound to a service that changed: their marking and source claims may follow it.
    for (const id of changedServices) {
      const svc = this.#services.connected.get(id);
      for (const e of this.#byService.get(id) ?? []) {
        if (e.svc === svc) continue;
        note(e);
        this.#refresh(e, e.input, svc, false);
      }
    }

    const classifiersChanged = this.#owners.resolve();
    const routing = this.#routing(change.config, changedServices.length > 0);
    let changed = routing !== this.#routingNow || classifiersChanged || this.#services.marks !== marksBefore;
    this.#routingNow = routing;
    this.#classifiersDirty ||= classifiersChanged;
    for (const [e, b] of before) {
      const now = b.gone ? null : e.marking;
      if (b.marking !== now) changed = true;
      // Kept: the marking as of the last published state, only while it differs from now (a
      // session that never had one, a {} create and destroy, is never held here).
      const had = this.#pending.get(e);
      if (had) had.gone ||= b.gone;
      const since = had ?? b;
      if (since.marking === now) this.#pending.delete(e);
      else if (!had) this.#pending.set(e, b);
    }
    if (changed) this.#version++;
    return changed;
  }

  /**
   * The desired kernel state as of the last note: the previous state while nothing changed since,
   * else one built from it with every change since (the same objects for what did not change).
   */
  state(): KernelState {
    const config = this.#config;
    if (!config || !this.#routingNow) throw new Error('KernelStateMemo.state() before any note');
    if (this.#last && this.#publishedVersion === this.#version) return this.#last;
    const prev = this.#last;
    const sessions = this.#sessionList(prev, this.#pending);
    this.#pending.clear();
    const classifiers = !prev || this.#classifiersDirty ? this.#owners.classifiers.slice() : prev.firewall.classifiers;
    this.#classifiersDirty = false;
    const services = this.#services.marks;
    const f = prev?.firewall;
    const firewall: FirewallState =
      f && f.sessions === sessions && f.classifiers === classifiers && f.services === services
        ? f
        : { mask: config.markMask, tagMask: config.sessionTagMask, sessions, classifiers, services };
    const routing = this.#routingNow;
    const state = prev && prev.routing === routing && prev.firewall === firewall ? prev : { routing, firewall };
    this.#last = state;
    this.#publishedVersion = this.#version;
    return state;
  }

  /** Takes a session's new input and service: its claims and marking. */
  #refresh(e: SessionEntry, s: KernelSessionInput, svc: PreparedService | undefined, fresh: boolean) {
    const was = e.input;
    const ownershipInputs = !fresh && (was.priority !== s.priority || was.serial !== s.serial);
    e.input = s;
    e.svc = svc;
    const claims = claimsOf(s, svc);
    if (
      fresh ||
      ownershipInputs ||
      claims.length !== e.claims.length ||
      claims.some((c, i) => c.id !== e.claims[i]!.id || c.family !== e.claims[i]!.family)
    )
      this.#owners.setClaims(e, claims);
    if (claims.length === 0) e.marking = null;
    else {
      const marking = markingOf(s, svc);
      if (e.marking === null || !sameMarking(e.marking, marking)) e.marking = marking;
    }
  }

  #bind(e: SessionEntry, serviceId: string | null): void {
    const old = e.input.serviceId;
    if (old !== null) {
      const set = this.#byService.get(old);
      set?.delete(e);
      if (set?.size === 0) this.#byService.delete(old);
    }
    if (serviceId === null) return;
    let set = this.#byService.get(serviceId);
    if (!set) {
      set = new Set();
      this.#byService.set(serviceId, set);
    }
    set.add(e);
  }

  /**
   * The firewall's session list: the last one when no marking changed; else a copy with the
   * changed markings replaced, inserted and removed in place (sorted again only for bulk changes).
   */
  #sessionList(prev: KernelState | null, before: ReadonlyMap<SessionEntry, Before>): SessionMarking[] {
    let moves = 0;
    let replaced = false;
    for (const [e, b] of before) {
      const now = b.gone ? null : e.marking;
      if (b.marking === now) continue;
      const reorder =
        b.marking === null ||
        now === null ||
        e.placed!.serial !== e.input.serial ||
        e.placed!.sessionKey !== e.input.sessionKey;
      if (reorder) moves++;
      else replaced = true;
    }
    if (prev && moves === 0 && !replaced) return prev.firewall.sessions;
    if (!prev || moves > PATCH_LIMIT) {
      this.#marked = [];
      for (const e of this.#sessions.values()) {
        if (e.marking === null) e.placed = null;
        else {
          e.placed = { serial: e.input.serial, sessionKey: e.input.sessionKey };
          this.#marked.push(e);
        }
      }
      this.#marked.sort((a, b) => cmpSession(a.placed!, b.placed!));
      return this.#marked.map((e) => e.marking as SessionMarking);
    }
    const out = prev.firewall.sessions.slice();
    for (const [e, b] of before) {
      const now = b.gone ? null : e.marking;
      if (b.marking === now) continue;
      if (b.marking !== null) {
        const at = searchPlaced(this.#marked, e.placed!);
        const samePlace = now !== null && cmpSession(e.placed!, e.input) === 0;
        if (samePlace) {
          out[at] = now;
          continue;
        }
        this.#marked.splice(at, 1);
        out.splice(at, 1);
        e.placed = null;
      }
      if (now !== null) {
        e.placed = { serial: e.input.serial, sessionKey: e.input.sessionKey };
        const at = -searchPlaced(this.#marked, e.placed) - 1;
        this.#marked.splice(at, 0, e);
        out.splice(at, 0, now);
      }
    }
    return out;
  }

  #reset(config: CoreConfig): void {
    this.#config = config;
    this.#services.clear();
    this.#sessions.clear();
    this.#byService.clear();
    this.#marked = [];
    this.#owners.clear();
    this.#sourceRuleSessions.clear();
    this.#last = null;
    this.#routingNow = null;
    this.#stable.reset();
    this.#routingParts = new WeakMap();
    this.#pending.clear();
    this.#classifiersDirty = false;
    this.#version++;
  }

  #fallback(input: KernelInput): KernelState {
    this.#reset(input.config);
    this.#config = null; // start afresh next time too
    return computeKernelState(input);
  }

  #countSourceRule(s: KernelSessionInput, by: number): void {
    if (!s.sourceIPRule || s.serviceId === null) return;
    const had = this.#sourceRuleSessions.get(s.serviceId) ?? 0;
    const n = had + by;
    if (n > 0) this.#sourceRuleSessions.set(s.serviceId, n);
    else this.#sourceRuleSessions.delete(s.serviceId);
    // Routing looks only at whether a service has such sessions at all.
    if (had === 0 || n === 0) this.#routingDirty = true;
  }

  /**
   * Routing follows the connected services and which of them have SourceIPRule sessions: built
   * again only when one of those changed (a session create or destroy does not rebuild it).
   */
  #routing(config: CoreConfig, servicesChanged: boolean): RoutingState {
    if (this.#routingNow && !servicesChanged && !this.#routingDirty) return this.#routingNow;
    this.#routingDirty = false;
    return this.#stable.settle(
      routingOf(config, this.#services.connected, (id) => this.#sourceRuleSessions.has(id), this.#routingParts),
      this.#routingNow,
    );
  }
}

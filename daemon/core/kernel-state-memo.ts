/**
 * The desired kernel state kept up to date per change: {@link KernelStateMemo.compute} returns
 * exactly what {@link computeKernelState} returns for the same input (a property test holds it to
 * that), but does work for what changed since the previous call, and hands back the same objects
 * for what did not (the previous session markings, classifiers, arrays and states), so the
 * adapters' own diffs mostly compare pointers.
 *
 * Per call it looks only where the session list differs from the last one: while the services are
 * unchanged, a session input that is the same object as last time (the engine reuses them) cannot
 * have changed, so the two lists are compared by pointer from both ends and only the window
 * between is looked up (a fresh list of new objects costs one Map lookup and a field comparison
 * per session). Sorting, ownership and object building happen only for sessions whose input changed. Services are few
 * and are recomputed on every call; a service whose input is unchanged keeps its prepared object,
 * so its sessions count as unchanged.
 */

import type { CoreConfig } from './config.js';
import {
  claimsOf,
  classifierOf,
  cmpClassifier,
  cmpSession,
  computeKernelState,
  connectedServices,
  type KernelInput,
  type KernelServiceInput,
  type KernelSessionInput,
  markingOf,
  ownerOf,
  type PreparedService,
  routingOf,
  type SessionClaim,
} from './kernel-state.js';
import type { Classifier, FirewallState, KernelState, RoutingState, SessionMarking } from './kernel-state-types.js';
import { diffWindow } from './list-window.js';

interface SessionEntry {
  input: KernelSessionInput;
  svc: PreparedService | undefined;
  marking: SessionMarking;
  claims: SessionClaim[];
  epoch: number;
  /** Position in #order (and in the last firewall session list). */
  at: number;
}

interface IdentityEntry {
  /** Every session claiming the identity, with its (first) claim of it. */
  candidates: Map<SessionEntry, SessionClaim>;
  classifier: Classifier | null;
}

/** Above this many changed identities the classifier list is sorted again rather than patched. */
const PATCH_LIMIT = 64;

function sameClaims(a: KernelSessionInput['claims'], b: KernelSessionInput['claims']): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i]!.kind !== b[i]!.kind || a[i]!.key !== b[i]!.key) return false;
  return true;
}

function sameSessionInput(a: KernelSessionInput, b: KernelSessionInput): boolean {
  return (
    a === b ||
    (a.sessionKey === b.sessionKey &&
      a.serial === b.serial &&
      a.tag === b.tag &&
      a.priority === b.priority &&
      a.serviceId === b.serviceId &&
      a.sourceIPRule === b.sourceIPRule &&
      sameClaims(a.claims, b.claims))
  );
}

function sameMarking(a: SessionMarking, b: SessionMarking): boolean {
  return (
    a.sessionKey === b.sessionKey &&
    a.mark === b.mark &&
    a.tag === b.tag &&
    a.ifname === b.ifname &&
    a.snat.length === b.snat.length &&
    a.snat.every((n, i) => n.family === b.snat[i]!.family && n.address === b.snat[i]!.address)
  );
}

function sameClassifier(a: Classifier | null, b: Classifier | null): boolean {
  return (
    a === b ||
    (a !== null &&
      b !== null &&
      a.kind === b.kind &&
      a.key === b.key &&
      a.family === b.family &&
      a.sessionKey === b.sessionKey)
  );
}

function sameServiceInput(a: KernelServiceInput, b: KernelServiceInput): boolean {
  if (a === b) return true;
  const scalar =
    a.id === b.id &&
    a.ifindex === b.ifindex &&
    a.ifname === b.ifname &&
    a.table === b.table &&
    a.mark === b.mark &&
    a.slot === b.slot &&
    a.connected === b.connected &&
    a.sourceRules === b.sourceRules;
  return (
    scalar &&
    (a.addresses === b.addresses || JSON.stringify(a.addresses) === JSON.stringify(b.addresses)) &&
    (a.gateways === b.gateways || JSON.stringify(a.gateways) === JSON.stringify(b.gateways))
  );
}

/** Index of `c`'s identity in a list sorted by cmpClassifier, or -(insertion point) - 1. */
function search(list: readonly Classifier[], c: Classifier): number {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const d = cmpClassifier(list[mid]!, c);
    if (d === 0) return mid;
    if (d < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -lo - 1;
}

/** Incremental {@link computeKernelState}; see the module comment. */
export class KernelStateMemo {
  #config: CoreConfig | null = null;
  #services = new Map<string, { input: KernelServiceInput; prepared: PreparedService | undefined }>();
  #sessions = new Map<string, SessionEntry>();
  #order: SessionEntry[] = [];
  #identities = new Map<string, IdentityEntry>();
  #classifiers: Classifier[] = [];
  #sourceRuleSessions = new Map<string, number>();
  #epoch = 0;
  #last: KernelState | null = null;
  #lastRoutingJson = '';
  /** The session inputs of the last call, and the connected services it saw. */
  #lastInputs: readonly KernelSessionInput[] = [];
  #lastConnected: ReadonlyMap<string, PreparedService> | null = null;

  /** The desired kernel state for `input` (equal to computeKernelState(input)). */
  compute(input: KernelInput): KernelState {
    if (input.config !== this.#config) this.#reset(input.config);
    const connected = this.#prepareServices(input.services);
    // While every service is the same prepared object, a session input that is the same object as
    // last time cannot have changed: only the window where the two lists differ is looked at.
    const sameServices =
      this.#lastConnected !== null &&
      connected.size === this.#lastConnected.size &&
      [...connected].every(([id, p]) => this.#lastConnected!.get(id) === p);
    const prevInputs = this.#lastInputs;
    const w = sameServices
      ? diffWindow(prevInputs, input.sessions)
      : { lo: 0, hiPrev: prevInputs.length, hiNext: input.sessions.length };
    const epoch = ++this.#epoch;
    let orderChanged = false;
    let resort = false;
    const remarked: SessionEntry[] = [];
    let appendOnly = true;
    const dirty = new Set<string>();
    const added: SessionEntry[] = [];
    let duplicate = false;

    for (let i = w.lo; i < w.hiNext; i++) {
      const s = input.sessions[i] as KernelSessionInput;
      const svc = s.serviceId === null ? undefined : connected.get(s.serviceId);
      let e = this.#sessions.get(s.sessionKey);
      if (e && e.epoch === epoch) {
        duplicate = true;
        break;
      }
      if (!e) {
        e = { input: s, svc, marking: markingOf(s, svc), claims: [], epoch, at: -1 };
        this.#sessions.set(s.sessionKey, e);
        added.push(e);
        this.#setClaims(e, claimsOf(s, svc), dirty);
        this.#countSourceRule(s, 1);
        continue;
      }
      e.epoch = epoch;
      if (e.svc === svc && sameSessionInput(e.input, s)) continue;
      const before = e.input;
      if (before.serial !== s.serial) orderChanged = resort = true;
      this.#countSourceRule(before, -1);
      this.#countSourceRule(s, 1);
      const ownershipInputs = before.priority !== s.priority || before.serial !== s.serial;
      e.input = s;
      e.svc = svc;
      const marking = markingOf(s, svc);
      if (!sameMarking(e.marking, marking)) {
        e.marking = marking;
        remarked.push(e);
      }
      const claims = claimsOf(s, svc);
      if (
        ownershipInputs ||
        claims.length !== e.claims.length ||
        claims.some((c, i) => c.id !== e!.claims[i]!.id || c.family !== e!.claims[i]!.family)
      )
        this.#setClaims(e, claims, dirty);
    }
    // Duplicate session keys never come from the engine; the full computation handles them.
    if (duplicate) return this.#fallback(input);

    // Removed sessions: inputs of the last call's window that this pass did not stamp.
    let removedAny = false;
    for (let i = w.lo; i < w.hiPrev; i++) {
      const key = (prevInputs[i] as KernelSessionInput).sessionKey;
      const e = this.#sessions.get(key);
      if (!e || e.epoch === epoch) continue;
      removedAny = true;
      this.#sessions.delete(key);
      this.#setClaims(e, [], dirty);
      this.#countSourceRule(e.input, -1);
      e.epoch = -1;
      orderChanged = true;
    }
    if (removedAny) this.#order = this.#order.filter((e) => e.epoch !== -1);
    // A key outside the window repeated inside it (never from the engine): the full computation.
    if (this.#sessions.size !== input.sessions.length) return this.#fallback(input);
    this.#lastInputs = input.sessions;
    this.#lastConnected = connected;
    if (added.length) {
      added.sort((a, b) => cmpSession(a.input, b.input));
      const last = this.#order[this.#order.length - 1];
      appendOnly = last === undefined || cmpSession(last.input, added[0]!.input) < 0;
      this.#order.push(...added);
      orderChanged = true;
      if (!appendOnly || resort) this.#order.sort((a, b) => cmpSession(a.input, b.input));
    } else if (resort) {
      this.#order.sort((a, b) => cmpSession(a.input, b.input));
    }

    const classifiersChanged = this.#resolveOwners(dirty);
    const routing = this.#routing(input.config, connected);
    const prev = this.#last;
    const sessions = this.#sessionList(prev, orderChanged && !(appendOnly && !resort && !removedAny), added, remarked);
    const classifiers = !prev || classifiersChanged ? [...this.#classifiers] : prev.firewall.classifiers;
    const firewall: FirewallState =
      prev && prev.firewall.sessions === sessions && prev.firewall.classifiers === classifiers
        ? prev.firewall
        : { mask: input.config.markMask, tagMask: input.config.sessionTagMask, sessions, classifiers };
    const state = prev && prev.routing === routing && prev.firewall === firewall ? prev : { routing, firewall };
    this.#last = state;
    return state;
  }

  /**
   * The firewall's session list: the last one when nothing changed; a copy with the changed
   * markings put in place and new sessions appended (a builtin copy, no callback per session);
   * built again only when sessions were removed or the order changed.
   */
  #sessionList(
    prev: KernelState | null,
    rebuild: boolean,
    added: readonly SessionEntry[],
    remarked: readonly SessionEntry[],
  ): SessionMarking[] {
    if (!prev || rebuild) {
      const out: SessionMarking[] = new Array<SessionMarking>(this.#order.length);
      for (let i = 0; i < this.#order.length; i++) {
        const e = this.#order[i] as SessionEntry;
        e.at = i;
        out[i] = e.marking;
      }
      return out;
    }
    if (added.length === 0 && remarked.length === 0) return prev.firewall.sessions;
    const out = prev.firewall.sessions.slice();
    for (const e of remarked) out[e.at] = e.marking;
    for (const e of added) {
      e.at = out.length;
      out.push(e.marking);
    }
    return out;
  }

  #reset(config: CoreConfig): void {
    this.#config = config;
    this.#services.clear();
    this.#sessions.clear();
    this.#order = [];
    this.#identities.clear();
    this.#classifiers = [];
    this.#sourceRuleSessions.clear();
    this.#last = null;
    this.#lastRoutingJson = '';
    this.#lastInputs = [];
    this.#lastConnected = null;
  }

  #fallback(input: KernelInput): KernelState {
    this.#reset(input.config);
    this.#config = null; // start afresh next time too
    return computeKernelState(input);
  }

  #prepareServices(services: readonly KernelServiceInput[]): Map<string, PreparedService> {
    const next = new Map<string, { input: KernelServiceInput; prepared: PreparedService | undefined }>();
    const fresh: KernelServiceInput[] = [];
    for (const svc of services) {
      const had = this.#services.get(svc.id);
      if (had && sameServiceInput(had.input, svc)) next.set(svc.id, had);
      else fresh.push(svc);
    }
    const prepared = connectedServices(fresh);
    for (const svc of fresh) next.set(svc.id, { input: svc, prepared: prepared.get(svc.id) });
    this.#services = next;
    // Map in input order, as computeKernelState builds it (routing iterates it).
    const out = new Map<string, PreparedService>();
    for (const svc of services) {
      const p = next.get(svc.id)?.prepared;
      if (p) out.set(svc.id, p);
    }
    return out;
  }

  #countSourceRule(s: KernelSessionInput, by: number): void {
    if (!s.sourceIPRule || s.serviceId === null) return;
    const n = (this.#sourceRuleSessions.get(s.serviceId) ?? 0) + by;
    if (n > 0) this.#sourceRuleSessions.set(s.serviceId, n);
    else this.#sourceRuleSessions.delete(s.serviceId);
  }

  #setClaims(e: SessionEntry, claims: SessionClaim[], dirty: Set<string>): void {
    for (const c of e.claims) {
      this.#identities.get(c.id)?.candidates.delete(e);
      dirty.add(c.id);
    }
    e.claims = claims;
    for (const c of claims) {
      let id = this.#identities.get(c.id);
      if (!id) {
        id = { candidates: new Map(), classifier: null };
        this.#identities.set(c.id, id);
      }
      if (!id.candidates.has(e)) id.candidates.set(e, c);
      dirty.add(c.id);
    }
  }

  /** Re-decides the owner of each dirty identity; patches the sorted classifier list. */
  #resolveOwners(dirty: ReadonlySet<string>): boolean {
    let changed = false;
    const patch = dirty.size <= PATCH_LIMIT;
    for (const idKey of dirty) {
      const id = this.#identities.get(idKey);
      if (!id) continue;
      let best: [SessionEntry, SessionClaim] | null = null;
      for (const cand of id.candidates) if (!best || ownerOf(cand[0].input, best[0].input) < 0) best = cand;
      const next = best ? classifierOf(best[1], best[0].input.sessionKey) : null;
      if (sameClassifier(id.classifier, next)) {
        if (!best) this.#identities.delete(idKey);
        continue;
      }
      changed = true;
      if (patch) {
        const probe = (id.classifier ?? next) as Classifier;
        const at = search(this.#classifiers, probe);
        if (next === null) this.#classifiers.splice(at, 1);
        else if (at >= 0) this.#classifiers[at] = next;
        else this.#classifiers.splice(-at - 1, 0, next);
      }
      id.classifier = next;
      if (!best) this.#identities.delete(idKey);
    }
    if (changed && !patch) {
      this.#classifiers = [];
      for (const id of this.#identities.values()) if (id.classifier) this.#classifiers.push(id.classifier);
      this.#classifiers.sort(cmpClassifier);
    }
    return changed;
  }

  #routing(config: CoreConfig, connected: ReadonlyMap<string, PreparedService>): RoutingState {
    const routing = routingOf(config, connected, (id) => this.#sourceRuleSessions.has(id));
    const json = JSON.stringify(routing);
    if (this.#last && json === this.#lastRoutingJson) return this.#last.routing;
    this.#lastRoutingJson = json;
    return routing;
  }
}

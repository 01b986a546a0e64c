/**
 * The session engine: pure and synchronous. Events go in (links, online results, session
 * requests, policy files); an {@link Effects} value comes out of every call, and
 * {@link Engine.kernelState} gives the desired kernel state on demand.
 *
 * This class adds the session calls and policy files to service-engine.ts (links, online
 * results, switches, manage mode, the kernel state). It checks and orders what each call does;
 * the parts it drives keep their own state: the sessions and their selection groups
 * (session-table.ts), policy (policy.ts, policy-parse.ts), cgroup claims (cgroup-claims.ts).
 */
import { isObjectPath, sessionPath } from '../../lib/protocol.js';
import { addClaim, type CgroupDirOwner, checkCgroupOwner, checkCgroupPath } from './cgroup-claims.js';
import { type Effects, noEffects } from './effects.js';
import {
  BadNotifierError,
  EmergencyBusyError,
  NotOwnerError,
  SessionExistsError,
  SessionLimitError,
  SessionNotFoundError,
} from './errors.js';
import { type Identity, mergeSettings, PolicySet } from './policy.js';
import { parsePolicyFile } from './policy-parse.js';
import { ServiceEngine } from './service-engine.js';
import { ownPartOf, type Session } from './session-model.js';
import type { SessionInfo } from './session-table.js';
import { applySetting, parseCreateSettings, type RawValue } from './settings.js';
import { fullUpdateOf } from './updates.js';

/** Who is calling a session method. */
export interface Caller {
  /** Unique bus name. */
  owner: string;
  uid: number;
}

export class Engine extends ServiceEngine {
  #policies = PolicySet.empty();
  #serial = 0;
  #emergency: Session | null = null;

  // ---------------------------------------------------------------- sessions

  /** Manager.CreateSession. The returned effects hold the first Update. */
  createSession(req: {
    owner: string;
    notifier: string;
    identity: Identity;
    settings: Readonly<Record<string, RawValue>>;
  }): {
    path: string;
    effects: Effects;
  } {
    if (this.#emergency?.active) throw new EmergencyBusyError();
    if (!isObjectPath(req.notifier) || req.notifier === '/') throw new BadNotifierError(req.notifier);
    const request = parseCreateSettings(req.settings);
    const path = sessionPath(req.owner, req.notifier);
    if (this.sessionTable.get(path)) throw new SessionExistsError(path);
    if (this.sessionTable.countOfOwner(req.owner) >= this.config.maxSessionsPerClient)
      throw new SessionLimitError('client', this.config.maxSessionsPerClient);
    if (this.sessionTable.countOfUid(req.identity.uid) >= this.config.maxSessionsPerUid)
      throw new SessionLimitError('uid', this.config.maxSessionsPerUid);

    const tag = this.alloc.tags.allocate();
    const serial = ++this.#serial;
    const match = this.#policies.match(req.identity);
    const session: Session = {
      serial,
      key: `s${serial}`,
      tag,
      path,
      owner: req.owner,
      notifier: req.notifier,
      identity: req.identity,
      request,
      match,
      cgroups: [],
      effective: mergeSettings(request, match?.group ?? null),
      active: false,
      held: false,
      serviceId: null,
      group: null,
      sentService: null,
      sentOwn: null,
    };
    this.sessionTable.add(session);

    const fx = noEffects();
    this.sessionTable.join(session);
    session.sentService = this.sessionTable.servicePart(session);
    session.sentOwn = ownPartOf(session.effective);
    const changes = fullUpdateOf(session.sentService, session.sentOwn);
    fx.updates.push({ path, owner: session.owner, notifier: session.notifier, changes });
    // A session that claims nothing leaves the kernel as it was: no check, no reconcile.
    fx.kernelDirty = this.sessionTable.kernelChanged;
    return { path, effects: fx };
  }

  /** Whether a loaded policy group selects by cgroup: a new session's caller's cgroup is then needed to match it. */
  policiesSelectByCgroup(): boolean {
    return this.#policies.selectsByCgroup;
  }

  /**
   * The cgroup of a session's caller, read after its CreateSession's reply because no group
   * selected by cgroup then: kept for the policy changes to come. Should a cgroup group have
   * arrived in between, the session is matched again (its effects returned); otherwise null,
   * and nothing is to be carried out. A session already gone is ignored.
   */
  noteCgroup(path: string, cgroup: string): Effects | null {
    const s = this.sessionTable.get(path);
    if (!s || s.identity.cgroup !== undefined) return null;
    s.identity.cgroup = cgroup;
    if (!this.#policies.selectsByCgroup) return null;
    const match = this.#policies.match(s.identity);
    if (match?.group === s.match?.group && match?.kind === s.match?.kind) return null;
    const fx = noEffects();
    s.match = match;
    this.sessionTable.reapply(s, fx);
    return fx;
  }

  /** Session.Change(name, value). Validates first; a bad value leaves the session untouched. */
  change(path: string, caller: Caller, key: string, raw: RawValue): Effects {
    const s = this.#authorised(path, caller);
    const request = applySetting(s.request, key, raw);
    const fx = noEffects();
    s.request = request;
    this.sessionTable.reapply(s, fx);
    this.managePass(fx);
    return fx;
  }

  /** Session.Connect: marks the session active and binds it if a service matches. */
  connect(path: string, caller: Caller): Effects {
    const s = this.#authorised(path, caller);
    if (this.#emergency?.active && this.#emergency !== s) throw new EmergencyBusyError();
    const fx = noEffects();
    s.active = true;
    if (s.effective.emergencyCall) this.#emergency = s;
    if (s.held) {
      s.held = false;
      this.sessionTable.join(s);
      this.sessionTable.notify(s, fx);
    }
    this.managePass(fx);
    return fx;
  }

  /** Session.Disconnect: detaches the session until the next Connect. */
  disconnect(path: string, caller: Caller): Effects {
    const s = this.#authorised(path, caller);
    if (this.#emergency?.active && this.#emergency !== s) throw new EmergencyBusyError();
    const fx = noEffects();
    s.active = false;
    if (this.#emergency === s) this.#emergency = null;
    if (!s.held) {
      this.sessionTable.leave(s);
      s.held = true;
      s.serviceId = null;
      this.sessionTable.touch(s);
      this.sessionTable.notify(s, fx);
    }
    this.managePass(fx);
    return fx;
  }

  /** Session.Destroy / Manager.DestroySession: a last disconnected Update, then gone (as ConnMan). */
  destroySession(path: string, caller: Caller): Effects {
    const s = this.#authorised(path, caller);
    const fx = noEffects();
    this.sessionTable.leave(s);
    s.serviceId = null;
    this.sessionTable.notify(s, fx);
    this.#forget(s, fx);
    this.managePass(fx);
    return fx;
  }

  /**
   * Checks a ClaimCgroup before the runtime looks at the filesystem: the session exists, the
   * caller owns it (or is root), and `cgroup` is an absolute, normalised path. Throws otherwise.
   */
  checkCgroupClaim(path: string, caller: Caller, cgroup: string): void {
    this.#authorised(path, caller);
    checkCgroupPath(cgroup);
  }

  /**
   * ClaimCgroup: the traffic of `cgroup`'s processes belongs to the session until it ends.
   * `dirOwner` is the uid owning the cgroup's directory as the runtime found it (null: there is
   * none); root may claim any cgroup, others only their own. When several sessions claim one
   * cgroup, the identity-owner rule of the kernel state decides (see kernel-state.ts).
   */
  claimCgroup(path: string, caller: Caller, cgroup: string, dirOwner: CgroupDirOwner): Effects {
    const s = this.#authorised(path, caller);
    checkCgroupPath(cgroup);
    checkCgroupOwner(cgroup, caller.uid, dirOwner);
    const fx = noEffects();
    const next = addClaim(s.cgroups, cgroup);
    if (next.length !== s.cgroups.length) {
      s.cgroups = next;
      this.sessionTable.touch(s);
      fx.kernelDirty = true;
    }
    return fx;
  }

  /** The client left the bus: its sessions end without an Update (nobody is there to receive it). */
  ownerGone(owner: string): Effects {
    const fx = noEffects();
    for (const s of this.sessionTable.ofOwner(owner)) {
      this.sessionTable.leave(s);
      this.#forget(s, fx);
    }
    this.managePass(fx);
    return fx;
  }

  /** Looks a session up (for the bus adapter); throws SessionNotFoundError. */
  session(path: string): Session {
    const s = this.sessionTable.get(path);
    if (!s) throw new SessionNotFoundError(path);
    return s;
  }

  /** How many sessions are live (cheap, unlike {@link sessions}). */
  sessionCount(): number {
    return this.sessionTable.size;
  }

  /** All sessions, oldest first. */
  sessions(): SessionInfo[] {
    return this.sessionTable.list();
  }

  // ---------------------------------------------------------------- policy

  /**
   * Loads (or reloads) one policy file. A malformed file throws PolicyParseError and the
   * previous version of that file stays in force. Live sessions get one Update each.
   */
  loadPolicy(file: string, text: string): Effects {
    const groups = parsePolicyFile(
      file,
      text,
      Math.max(0, this.config.maxPolicyGroups - this.#policies.groupsExcept(file)),
      this.config.maxPolicyGroups,
    );
    this.#policies = this.#policies.withFile(file, groups);
    return this.#rematchAll();
  }

  /** The policy file was deleted. */
  removePolicy(file: string): Effects {
    this.#policies = this.#policies.withoutFile(file);
    return this.#rematchAll();
  }

  /** Policy files currently in force. */
  policyFiles(): string[] {
    return this.#policies.files();
  }

  // ---------------------------------------------------------------- internals

  #authorised(path: string, caller: Caller): Session {
    const s = this.session(path);
    if (caller.uid !== 0 && caller.owner !== s.owner) throw new NotOwnerError(path);
    return s;
  }

  #forget(s: Session, fx: Effects): void {
    this.sessionTable.delete(s);
    if (this.#emergency === s) this.#emergency = null;
    this.alloc.tags.release(s.tag);
    fx.destroyedSessions.push(s.path);
    fx.kernelDirty ||= this.sessionTable.kernelChanged;
  }

  #rematchAll(): Effects {
    const fx = noEffects();
    for (const s of this.sessionTable.values()) {
      s.match = this.#policies.match(s.identity);
      this.sessionTable.reapply(s, fx);
    }
    return fx;
  }
}

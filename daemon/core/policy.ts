/**
 * Session policy: groups from `*.policy` files (see policy-parse.ts) that match an application
 * by identity and restrict its sessions. Re-implements ConnMan's `session_policy_local` with
 * deterministic matching, cgroup identities, and a merge that keeps the user's request intact.
 * Differences from ConnMan are listed in docs/behaviour.md.
 */
import { BEARERS, type Bearer, type ConnectionType, DEFAULT_BEARERS } from '../../lib/protocol.js';
import type { PolicyGroup, RoamingPolicy } from './policy-parse.js';
import type { RequestedSettings } from './settings.js';

/** Who is calling: from the bus (GetConnectionCredentials) plus name lookups. */
export interface Identity {
  uid: number;
  /** User name for `uid`, when the passwd database has one. */
  user?: string;
  /** Primary and supplementary groups, with names when known. */
  groups: Array<{ gid: number; name?: string }>;
  pid?: number;
  /** cgroupv2 path of the calling process (e.g. `/system.slice/app.service`), when known. */
  cgroup?: string;
  /** SELinux type (third field of the context), when the bus reports a label. */
  selinuxType?: string;
}

/** Which identity key selected the group. */
export type PolicyMatchKind = 'cgroup' | 'selinux' | 'uid' | 'gid';

/**
 * The group that applies to an identity, and which traffic the session may mark in the kernel
 * as its own: the uid, the matched gid (numeric), or the policy's whole cgroup subtree. An
 * SELinux match claims nothing: the kernel cannot classify packets by LSM label for us.
 */
export interface PolicyMatch {
  group: PolicyGroup;
  kind: PolicyMatchKind;
  claim: { kind: 'uid' | 'gid' | 'cgroup'; key: string } | null;
}

interface Ranked {
  group: PolicyGroup;
  /** Position in {@link PolicySet.groups}; a larger value is a later group and wins ties. */
  ord: number;
}

/** Keeps the later of two candidates (ConnMan's "later groups replace earlier ones"). */
function later(a: Ranked | undefined, b: Ranked | undefined): Ranked | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return b.ord > a.ord ? b : a;
}

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function freezeGroup(g: PolicyGroup): PolicyGroup {
  const allowedBearers = g.allowedBearers === null ? null : (Object.freeze([...g.allowedBearers]) as Bearer[]);
  return Object.freeze({ ...g, allowedBearers });
}

/**
 * All loaded policy groups, by file. Immutable: every change returns a new set, so a file that
 * fails to parse simply never reaches {@link PolicySet.withFile} and its previous version stays.
 */
export class PolicySet {
  private readonly ordered: readonly PolicyGroup[];
  private readonly byUid = new Map<string, Ranked>();
  private readonly byGid = new Map<string, Ranked>();
  private readonly bySelinux = new Map<string, Ranked>();
  private readonly byCgroup = new Map<string, Ranked>();

  private constructor(private readonly byFile: ReadonlyMap<string, readonly PolicyGroup[]>) {
    const ordered: PolicyGroup[] = [];
    for (const file of [...byFile.keys()].sort(byName)) {
      // A loop, not push(...groups): spreading 200,000 arguments overflows the stack.
      for (const g of [...(byFile.get(file) ?? [])].sort((a, b) => a.index - b.index)) ordered.push(g);
    }
    this.ordered = Object.freeze(ordered);
    // A group with several identity keys is indexed under each (as in ConnMan). Iterating in
    // order and overwriting makes the later group the winner for equal keys.
    ordered.forEach((group, ord) => {
      const r: Ranked = { group, ord };
      if (group.uid !== null) this.byUid.set(group.uid, r);
      if (group.gid !== null) this.byGid.set(group.gid, r);
      if (group.selinux !== null) this.bySelinux.set(group.selinux, r);
      if (group.cgroup !== null) this.byCgroup.set(group.cgroup, r);
    });
  }

  /** A set with no files. */
  static empty(): PolicySet {
    return new PolicySet(new Map());
  }

  /** A new set in which `file` holds exactly `groups` (replacing what it held before). */
  withFile(file: string, groups: readonly PolicyGroup[]): PolicySet {
    const next = new Map(this.byFile);
    next.set(file, Object.freeze(groups.map(freezeGroup)));
    return new PolicySet(next);
  }

  /** A new set without `file` (unchanged contents if it was not loaded). */
  withoutFile(file: string): PolicySet {
    if (!this.byFile.has(file)) return this;
    const next = new Map(this.byFile);
    next.delete(file);
    return new PolicySet(next);
  }

  /** Groups in force from every file but `file` (what a new version of `file` may add to). */
  groupsExcept(file: string): number {
    return this.ordered.length - (this.byFile.get(file)?.length ?? 0);
  }

  /** Loaded file names, sorted. Includes files that hold no groups. */
  files(): string[] {
    return [...this.byFile.keys()].sort(byName);
  }

  /** Every group: files sorted by name, then by position in the file. */
  groups(): PolicyGroup[] {
    return [...this.ordered];
  }

  /** Whether some group selects by cgroup (only then does matching need the caller's cgroup). */
  get selectsByCgroup(): boolean {
    return this.byCgroup.size > 0;
  }

  /**
   * The group for an identity, or null. Order (first hit wins): cgroup (longest matching path),
   * SELinux type, uid (name or number), then each of the identity's groups in order, primary
   * first (name or number). Among groups with the same key, the later one wins.
   */
  match(identity: Identity): PolicyMatch | null {
    if (identity.cgroup !== undefined) {
      const hit = this.matchCgroup(identity.cgroup);
      if (hit !== undefined) return { group: hit.group, kind: 'cgroup', claim: { kind: 'cgroup', key: hit.path } };
    }
    if (identity.selinuxType !== undefined) {
      const hit = this.bySelinux.get(identity.selinuxType);
      if (hit !== undefined) return { group: hit.group, kind: 'selinux', claim: null };
    }
    const uidHit = later(
      identity.user === undefined ? undefined : this.byUid.get(identity.user),
      this.byUid.get(String(identity.uid)),
    );
    if (uidHit !== undefined)
      return { group: uidHit.group, kind: 'uid', claim: { kind: 'uid', key: String(identity.uid) } };
    for (const g of identity.groups) {
      const hit = later(g.name === undefined ? undefined : this.byGid.get(g.name), this.byGid.get(String(g.gid)));
      if (hit !== undefined) return { group: hit.group, kind: 'gid', claim: { kind: 'gid', key: String(g.gid) } };
    }
    return null;
  }

  /** Walks from the process's cgroup up to `/`, so the most specific policy path wins. */
  private matchCgroup(path: string): { group: PolicyGroup; path: string } | undefined {
    if (this.byCgroup.size === 0 || !path.startsWith('/')) return undefined;
    let p = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
    for (;;) {
      const hit = this.byCgroup.get(p);
      if (hit !== undefined) return { group: hit.group, path: p };
      if (p === '/') return undefined;
      const cut = p.lastIndexOf('/');
      p = cut <= 0 ? '/' : p.slice(0, cut);
    }
  }
}

/** The settings a session actually runs with: the user's request, restricted by its policy. */
export interface EffectiveSettings {
  /** In the user's order (the policy's order only when the user gave no list). */
  allowedBearers: Bearer[];
  connectionType: ConnectionType;
  /** `null` means any interface. */
  allowedInterface: string | null;
  sourceIPRule: boolean;
  contextIdentifier: string;
  /** The client's AvoidMetered (no policy key overrides it). */
  avoidMetered: boolean;
  priority: boolean;
  emergencyCall: boolean;
  roamingPolicy: RoamingPolicy;
}

/**
 * Combines a request with the matching policy group (or none). Pure: the request is kept by the
 * caller, so re-merging after a policy change or removal gives the user's values back (ConnMan
 * overwrote them in place and could not).
 */
export function mergeSettings(request: RequestedSettings, group: PolicyGroup | null): EffectiveSettings {
  const policyBearers = group?.allowedBearers ?? null;
  let allowedBearers: Bearer[];
  if (request.allowedBearers === null && policyBearers !== null) {
    allowedBearers = [...policyBearers];
  } else {
    // The API documents that the user's order matters (`['wifi', '*']` = wifi first), so the
    // policy filters the user's list instead of reordering it as ConnMan does.
    const allowed: ReadonlySet<Bearer> = new Set(policyBearers ?? BEARERS);
    allowedBearers = (request.allowedBearers ?? DEFAULT_BEARERS).filter((b) => allowed.has(b));
  }
  const policyType = group?.connectionType ?? null;
  return {
    allowedBearers,
    connectionType: policyType === null || policyType === 'any' ? request.connectionType : policyType,
    allowedInterface: group?.allowedInterface ?? request.allowedInterface,
    sourceIPRule: group?.sourceIPRule ?? request.sourceIPRule,
    contextIdentifier: request.contextIdentifier,
    avoidMetered: request.avoidMetered,
    priority: group?.priority ?? false,
    emergencyCall: group?.emergencyCall ?? false,
    roamingPolicy: group?.roamingPolicy ?? 'default',
  };
}

/**
 * Who owns each claimed identity, kept up to date per claim change: the candidates of every
 * identity, its classifier (its owner's), and the classifier list sorted as the firewall state
 * wants it, patched in place for a few changes and sorted again for many. The ownership rule is
 * {@link ownerOf}; the memo (kernel-state-memo.ts) drives this. Pure.
 */
import { classifierOf, cmpClassifier, type OwnerCandidate, ownerOf, type SessionClaim } from './kernel-state.js';
import type { Classifier } from './kernel-state-types.js';
import { binarySearch } from './list-window.js';

/** A claimant: its ownership inputs and its current claims. */
export interface Claimant {
  input: OwnerCandidate;
  claims: SessionClaim[];
}

interface IdentityEntry<E> {
  /** Every session claiming the identity, with its (first) claim of it. */
  candidates: Map<E, SessionClaim>;
  classifier: Classifier | null;
  /**
   * The best candidate by {@link ownerOf}, kept as candidates come (one comparison), so 10,000
   * sessions claiming one address cost O(1) per session; null with `rescan` false only when there
   * are no candidates.
   */
  owner: E | null;
  /** The owner left (or its ownership inputs changed): the next resolve looks at every candidate. */
  rescan: boolean;
}

/** Above this many changed identities the classifier list is sorted again rather than patched. */
const PATCH_LIMIT = 64;

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

/** Index of `c`'s identity in a list sorted by cmpClassifier, or -(insertion point) - 1. */
const search = (list: readonly Classifier[], c: Classifier): number => binarySearch(list, c, (x) => x, cmpClassifier);

export class ClaimOwners<E extends Claimant> {
  #identities = new Map<string, IdentityEntry<E>>();
  #classifiers: Classifier[] = [];
  /** Identities whose candidates changed since the last {@link resolve}. */
  #dirty = new Set<string>();

  /** The classifiers, sorted (a live array: copy it to publish). */
  get classifiers(): readonly Classifier[] {
    return this.#classifiers;
  }

  clear(): void {
    this.#identities.clear();
    this.#classifiers = [];
    this.#dirty.clear();
  }

  /** Replaces `e`'s claims (its ownership inputs may have changed too: every claim is looked at again). */
  setClaims(e: E, claims: SessionClaim[]): void {
    for (const c of e.claims) {
      const id = this.#identities.get(c.id);
      if (id) {
        id.candidates.delete(e);
        if (id.owner === e) {
          id.owner = null;
          id.rescan = true;
        }
      }
      this.#dirty.add(c.id);
    }
    e.claims = claims;
    for (const c of claims) {
      let id = this.#identities.get(c.id);
      if (!id) {
        id = { candidates: new Map(), classifier: null, owner: null, rescan: false };
        this.#identities.set(c.id, id);
      }
      if (!id.candidates.has(e)) id.candidates.set(e, c);
      if (!id.rescan && (id.owner === null || ownerOf(e.input, id.owner.input) < 0)) id.owner = e;
      this.#dirty.add(c.id);
    }
  }

  /** Re-decides the owner of each changed identity; true when a classifier changed. */
  resolve(): boolean {
    let changed = false;
    const patch = this.#dirty.size <= PATCH_LIMIT;
    for (const idKey of this.#dirty) {
      const id = this.#identities.get(idKey);
      if (!id) continue;
      if (id.rescan) {
        id.owner = null;
        for (const cand of id.candidates.keys())
          if (!id.owner || ownerOf(cand.input, id.owner.input) < 0) id.owner = cand;
        id.rescan = false;
      }
      const best: [E, SessionClaim] | null = id.owner ? [id.owner, id.candidates.get(id.owner)!] : null;
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
    this.#dirty.clear();
    if (changed && !patch) {
      this.#classifiers = [];
      for (const id of this.#identities.values()) if (id.classifier) this.#classifiers.push(id.classifier);
      this.#classifiers.sort(cmpClassifier);
    }
    return changed;
  }
}

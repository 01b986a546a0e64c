/**
 * The index of what the nftables adapter applied last, which the session path (delta.ts) plans
 * against: sessions by key and tag, classifiers by id and owner, service marks and SNAT entries
 * with how many sessions and listed services need each, and the arrays they came from (compared
 * by pointer first). Pure.
 */
import { addressBytes, canonicalAddress } from '../../core/addresses.js';
import { sameServiceMarking } from '../../core/kernel-input-equality.js';
import type { Classifier, FirewallState, ServiceMarking, SessionMarking } from '../../core/kernel-state-types.js';
import type { Family } from '../../core/services.js';
import { checkService } from '../firewall/plan.js';
import * as nl from './netlink-encode.js';
import { MAP, NFT_NAMING } from './ruleset.js';

export interface SessionEntry {
  s: SessionMarking;
  epoch: number;
}

export interface ClassifierEntry {
  c: Classifier;
  epoch: number;
}

/** What the adapter applied last, indexed for {@link planDelta}. */
export interface SessionIndex {
  mask: number;
  tagMask: number;
  sessions: Map<string, SessionEntry>;
  tags: Map<number, string>;
  classifiers: Map<string, ClassifierEntry>;
  /** Ids of the classifiers each session owns (a removed session must own none; a moved one's are rewritten). */
  owned: Map<string, Set<string>>;
  /**
   * Service marks (non-zero) → how many sessions are bound to each, plus one if the service is
   * listed (each has a chain and an `svc` element).
   */
  services: Map<number, number>;
  /** SNAT entries (`mark ifname family`) → address and how many sessions and listed services need them. */
  snat: Map<string, { address: string; count: number }>;
  epoch: number;
  /** The arrays of the state the index holds: the next state's are compared with them by pointer first. */
  lastSessions: readonly SessionMarking[];
  lastClassifiers: readonly Classifier[];
  lastServices: readonly ServiceMarking[];
}

/** A state's services when it lists none (one array, so that two such states compare equal by pointer). */
export const NO_SERVICES: readonly ServiceMarking[] = Object.freeze([]);

const DECIMAL = /^\d{1,10}$/;

export function classifierId(c: Classifier): string {
  return `${c.kind}\u0000${c.key}`;
}

export function sourceFamily(c: Classifier): Family {
  return c.family ?? (c.key.includes(':') ? 6 : 4);
}

/**
 * Keys by SNAT array: the core gives every marking of one service the same array (and a new
 * one when the service changes), so a session's entries are derived once per service, not per
 * session change.
 */
const snatKeyCache = new WeakMap<
  ServiceMarking['snat'],
  { mark: number; ifname: string; keys: Array<[string, string]> }
>();
const NO_KEYS: readonly (readonly [string, string])[] = Object.freeze([]);

/** A marking's SNAT entries as [mark interface family, canonical address]; the result is shared, never modify it. */
export function snatKeys(s: ServiceMarking): readonly (readonly [string, string])[] {
  if (s.mark === 0 || s.ifname === '' || s.snat.length === 0) return NO_KEYS;
  const hit = snatKeyCache.get(s.snat);
  if (hit && hit.mark === s.mark && hit.ifname === s.ifname) return hit.keys;
  const keys = s.snat.map((n): [string, string] => [
    `${s.mark} ${s.ifname} ${n.family}`,
    canonicalAddress(n.family, n.address) ?? '',
  ]);
  snatKeyCache.set(s.snat, { mark: s.mark, ifname: s.ifname, keys });
  return keys;
}

export function parseSnatKey(k: string): { mark: number; ifname: string; family: Family } {
  const [mark, ifname, family] = k.split(' ');
  return { mark: Number(mark), ifname: ifname as string, family: Number(family) as Family };
}

/**
 * Indexes a state that the full path applied without a warning (every session and classifier
 * is in the table). A cgroup classifier may be indexed: a delta never changes one.
 */
export function indexState(state: FirewallState): SessionIndex {
  const ix: SessionIndex = {
    mask: state.mask,
    tagMask: state.tagMask,
    sessions: new Map(),
    tags: new Map(),
    classifiers: new Map(),
    owned: new Map(),
    services: new Map(),
    snat: new Map(),
    epoch: 0,
    lastSessions: state.sessions,
    lastClassifiers: state.classifiers,
    lastServices: state.services ?? NO_SERVICES,
  };
  const hold = (m: ServiceMarking): void => {
    if (m.mark !== 0) ix.services.set(m.mark, (ix.services.get(m.mark) ?? 0) + 1);
    for (const [k, address] of snatKeys(m)) {
      const e = ix.snat.get(k);
      if (e) e.count++;
      else ix.snat.set(k, { address, count: 1 });
    }
  };
  for (const s of state.sessions) {
    ix.sessions.set(s.sessionKey, { s, epoch: 0 });
    ix.tags.set(s.tag, s.sessionKey);
    hold(s);
  }
  for (const m of ix.lastServices) hold(m);
  for (const c of state.classifiers) {
    ix.classifiers.set(classifierId(c), { c, epoch: 0 });
    const id = classifierId(c);
    const own = ix.owned.get(c.sessionKey);
    if (own) own.add(id);
    else ix.owned.set(c.sessionKey, new Set([id]));
  }
  return ix;
}

/**
 * The listed services that went (or changed: the old entry) and came (or changed: the new one)
 * since the index's state; null when `next` lists one twice or one the full path would skip. The
 * core hands back the same array while no service changed, so a session change costs one
 * pointer comparison here; otherwise it is O(services), which are few.
 */
export function listedServiceChanges(
  ix: SessionIndex,
  listed: readonly ServiceMarking[],
  next: FirewallState,
): { gone: ServiceMarking[]; fresh: ServiceMarking[] } | null {
  const gone: ServiceMarking[] = [];
  const fresh: ServiceMarking[] = [];
  if (listed === ix.lastServices) return { gone, fresh };
  const had = new Map(ix.lastServices.map((m) => [m.mark, m]));
  const seen = new Set<number>();
  for (const m of listed) {
    if (seen.has(m.mark) || checkService(m, next, NFT_NAMING) !== null) return null;
    seen.add(m.mark);
    const h = had.get(m.mark);
    if (h && sameServiceMarking(h, m)) continue;
    if (h) gone.push(h);
    fresh.push(m);
  }
  for (const h of ix.lastServices) if (!seen.has(h.mark)) gone.push(h);
  return { gone, fresh };
}

/** Key bytes and model element of a uid/gid/source classifier; null when a delta must not write it. */
export function classifierElement(c: Classifier): { map: string; key: Buffer; norm: string } | null {
  if (c.kind === 'uid' || c.kind === 'gid') {
    if (!DECIMAL.test(c.key) || Number(c.key) > 0xffffffff || String(Number(c.key)) !== c.key) return null;
    return { map: c.kind === 'uid' ? MAP.uid : MAP.gid, key: nl.hostU32(Number(c.key)), norm: c.key };
  }
  if (c.kind === 'source') {
    const family = sourceFamily(c);
    const bytes = addressBytes(family, c.key);
    if (!bytes || canonicalAddress(family, c.key) !== c.key) return null;
    return { map: family === 4 ? MAP.src4 : MAP.src6, key: Buffer.from(bytes), norm: c.key };
  }
  return null;
}

/** Adds `by` (±1) to the count of `k`, dropping it at zero. */
export function bump<K>(m: Map<K, number>, k: K, by: number): void {
  const n = (m.get(k) ?? 0) + by;
  if (n === 0) m.delete(k);
  else m.set(k, n);
}

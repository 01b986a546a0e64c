/**
 * The session path of the nftables adapter: from the state it applied last (an index of it) and
 * the next desired state, the netlink commands that change only what differs, and the update of
 * the table model that goes with them. Pure.
 *
 * It covers what sessions and link events change: a session added, removed, moved to another
 * service or re-tagged (its two counters, its two counter-map elements, and the data elements
 * of the identities it claims, whose value is its mark), uid/gid/source classifiers added,
 * removed or handed to another owner, a service's chain and `svc` element when it is listed or
 * no longer (the core lists every connected service, so sessions come and go without them; a
 * state that lists none gets them with a service's first session and loses them with its last),
 * and the SNAT entries (a service connected, lost or changed its address: the postrouting
 * chain, one rule per service and family, is rewritten in the same batch). Anything else makes {@link planDelta}
 * return null and the adapter takes the full path (build the whole table, diff, nft): other
 * masks, a cgroup classifier changed (or its owner moved), or input that the full path would
 * skip with a warning.
 * Committing a delta leaves the table model exactly as {@link buildRuleset} would build it for
 * the new state (a property test holds it to that).
 *
 * Cost: the next state's arrays are compared by pointer with the ones the index was built from,
 * from both ends, and only the window where they differ is looked up (the core hands back its
 * unchanged objects in the same order): at 10,000 sessions a move or a create costs pointer
 * comparisons plus work for what changed; a state of fresh objects costs one Map lookup each.
 * The index it plans against is delta-index.ts.
 */
import { sameMarking } from '../../core/kernel-input-equality.js';
import type { Classifier, FirewallState, ServiceMarking, SessionMarking } from '../../core/kernel-state-types.js';
import { diffWindow } from '../../core/list-window.js';
import type { Family } from '../../core/services.js';
import { checkSession } from '../firewall/plan.js';
import {
  bump,
  classifierElement,
  classifierId,
  listedServiceChanges,
  NO_SERVICES,
  parseSnatKey,
  type SessionEntry,
  type SessionIndex,
  snatKeys,
} from './delta-index.js';
import type { ElementModel, RuleModel, TableModel } from './model.js';
import { hex32 } from './model.js';
import * as counters from './netlink-counters.js';
import * as nl from './netlink-encode.js';
import {
  CHAIN,
  MAP,
  NFT_NAMING,
  RX_PREFIX,
  serviceChain,
  serviceChainName,
  serviceElement,
  sessionValue,
  TX_PREFIX,
} from './ruleset.js';
import { snatOf } from './snat-rules.js';

/** A planned change: netlink commands, and what to record once the kernel accepted them. */
export interface Delta {
  commands: nl.Command[];
  /** Kernel changes (each element once), as ApplyStats counts them. */
  ops: number;
  /** Updates `known` and the index to the new state; call only after the batch succeeded. */
  commit(known: TableModel): void;
}

/** The change from the indexed state to `next` as netlink commands, or null (take the full path). */
export function planDelta(ix: SessionIndex, next: FirewallState, table: string): Delta | null {
  if (next.mask !== ix.mask || next.tagMask !== ix.tagMask) return null;
  const ours = (next.mask | next.tagMask) >>> 0;
  // Every pass stamps with a new epoch, committed or not, so a pass that is dropped leaves nothing behind.
  const epoch = ++ix.epoch;
  const added: SessionMarking[] = [];
  const changed: Array<{ before: SessionMarking; after: SessionMarking }> = [];
  const addedKeys = new Set<string>();
  // Only the window where the arrays differ is looked at: the core hands back the same objects,
  // in the same order, for what did not change (kernel-state-memo.ts), so a move or a create
  // costs pointer comparisons, not a Map lookup per session.
  const sw = diffWindow(ix.lastSessions, next.sessions);
  for (let i = sw.lo; i < sw.hiNext; i++) {
    const s = next.sessions[i] as SessionMarking;
    const e = ix.sessions.get(s.sessionKey);
    if (e) {
      if (e.epoch === epoch) return null; // duplicate key: the full path warns
      e.epoch = epoch;
      if (e.s !== s && !sameMarking(e.s, s)) changed.push({ before: e.s, after: s });
    } else {
      if (addedKeys.has(s.sessionKey)) return null;
      addedKeys.add(s.sessionKey);
      added.push(s);
    }
  }
  const removed: SessionMarking[] = [];
  const removedKeys = new Set<string>();
  for (let i = sw.lo; i < sw.hiPrev; i++) {
    const e = ix.sessions.get((ix.lastSessions[i] as SessionMarking).sessionKey);
    if (e && e.epoch !== epoch && !removedKeys.has(e.s.sessionKey)) {
      removed.push(e.s);
      removedKeys.add(e.s.sessionKey);
    }
  }
  // A key outside the window repeated inside it (input the full path warns about) shows as a count mismatch.
  if (ix.sessions.size - removed.length + added.length !== next.sessions.length) return null;

  // Validity and tag uniqueness of what is new.
  const tagOwner = (tag: number): string | undefined => ix.tags.get(tag);
  const freedTags = new Set<number>();
  for (const s of removed) freedTags.add(s.tag);
  for (const { before, after } of changed) if (before.tag !== after.tag) freedTags.add(before.tag);
  const takenTags = new Set<number>();
  // Without changed sessions (a create or a destroy) the lists below are the arrays themselves.
  const incoming = changed.length === 0 ? added : [...added, ...changed.map((c) => c.after)];
  for (const s of incoming) {
    if (checkSession(s, next, NFT_NAMING) !== null) return null;
    const prev = ix.sessions.get(s.sessionKey);
    if (prev && prev.s.tag === s.tag) continue;
    const owner = tagOwner(s.tag);
    if ((owner !== undefined && !freedTags.has(s.tag)) || takenTags.has(s.tag)) return null;
    takenTags.add(s.tag);
  }

  // Listed services: one that came, went or changed counts like a session bound to it.
  const nextServices = next.services ?? NO_SERVICES;
  const listed = listedServiceChanges(ix, nextServices, next);
  if (listed === null) return null;
  const { gone: svcGone, fresh: svcNew } = listed;

  // SNAT entries: counted per (mark, interface, family); all of one entry's holders must agree
  // on its address. When the set or an address changes, the postrouting chain is rewritten.
  const minus = new Map<string, number>();
  const plus = new Map<string, { count: number; address: string }>();
  const take = (s: ServiceMarking): void => {
    for (const [k] of snatKeys(s)) minus.set(k, (minus.get(k) ?? 0) + 1);
  };
  const give = (s: ServiceMarking): boolean => {
    for (const [k, address] of snatKeys(s)) {
      if (address === '') return false;
      const p = plus.get(k);
      if (p && p.address !== address) return false;
      if (p) p.count++;
      else plus.set(k, { count: 1, address });
    }
    return true;
  };
  for (const s of removed) take(s);
  for (const s of svcGone) take(s);
  for (const { before } of changed) take(before);
  for (const s of added) if (!give(s)) return null;
  for (const s of svcNew) if (!give(s)) return null;
  for (const { after } of changed) if (!give(after)) return null;
  const snatNext = new Map<string, { count: number; address: string }>();
  let snatChanged = false;
  const snatKeysNow =
    minus.size === 0 ? plus.keys() : plus.size === 0 ? minus.keys() : new Set([...minus.keys(), ...plus.keys()]);
  for (const k of snatKeysNow) {
    const have = ix.snat.get(k);
    const left = (have?.count ?? 0) - (minus.get(k) ?? 0);
    const p = plus.get(k);
    if (left > 0 && p && p.address !== have!.address) return null; // sessions of one entry disagree: the full path decides
    const count = left + (p?.count ?? 0);
    const address = left > 0 ? have!.address : (p?.address ?? '');
    snatNext.set(k, { count, address });
    if (count > 0 !== (have !== undefined) || (count > 0 && have !== undefined && address !== have.address))
      snatChanged = true;
  }

  // Classifiers.
  const cAdded: Classifier[] = [];
  const cChanged: Array<{ before: Classifier; after: Classifier }> = [];
  const cRemoved: Classifier[] = [];
  const cw = diffWindow(ix.lastClassifiers, next.classifiers);
  for (let i = cw.lo; i < cw.hiNext; i++) {
    const c = next.classifiers[i] as Classifier;
    const id = classifierId(c);
    const e = ix.classifiers.get(id);
    if (e && e.epoch === epoch) return null;
    if (e) {
      e.epoch = epoch;
      if (e.c.sessionKey !== c.sessionKey || e.c.family !== c.family) cChanged.push({ before: e.c, after: c });
    } else {
      cAdded.push(c);
    }
  }
  const cRemovedIds = new Set<string>();
  for (let i = cw.lo; i < cw.hiPrev; i++) {
    const id = classifierId(ix.lastClassifiers[i] as Classifier);
    const e = ix.classifiers.get(id);
    if (e && e.epoch !== epoch && !cRemovedIds.has(id)) {
      cRemoved.push(e.c);
      cRemovedIds.add(id);
    }
  }
  if (ix.classifiers.size - cRemoved.length + cAdded.length !== next.classifiers.length) return null;
  const cIn = cChanged.length === 0 ? cAdded : [...cAdded, ...cChanged.map((x) => x.after)];
  const cOut = cChanged.length === 0 ? cRemoved : [...cRemoved, ...cChanged.map((x) => x.before)];
  const live = (key: string): boolean => addedKeys.has(key) || (ix.sessions.has(key) && !removedKeys.has(key));
  for (const c of cIn) if (classifierElement(c) === null || !live(c.sessionKey)) return null;
  for (const c of cOut) if (classifierElement(c) === null) return null;
  // Who owns what afterwards: a removed session must own nothing.
  const touched = new Set(cOut.map(classifierId));
  const owned = new Map<string, Set<string>>();
  const ownedBy = (key: string): Set<string> => {
    let o = owned.get(key);
    if (!o) {
      o = new Set(ix.owned.get(key));
      owned.set(key, o);
    }
    return o;
  };
  for (const c of cOut) ownedBy(c.sessionKey).delete(classifierId(c));
  for (const c of cIn) ownedBy(c.sessionKey).add(classifierId(c));
  for (const s of removed) if ((owned.get(s.sessionKey) ?? ix.owned.get(s.sessionKey))?.size) return null;

  // A session whose value (mark | tag) changed: every element of its claims the delta does not
  // rewrite anyway is deleted and added again with the new value.
  const nextValue = new Map<string, number>();
  for (const s of incoming) nextValue.set(s.sessionKey, sessionValue(s.mark, s.tag));
  const valueFor = (key: string): number =>
    nextValue.get(key) ??
    sessionValue((ix.sessions.get(key) as SessionEntry).s.mark, (ix.sessions.get(key) as SessionEntry).s.tag);
  const revalued: Classifier[] = [];
  for (const { before, after } of changed) {
    if (sessionValue(before.mark, before.tag) === sessionValue(after.mark, after.tag)) continue;
    for (const id of ix.owned.get(before.sessionKey) ?? []) {
      if (touched.has(id)) continue;
      const c = (ix.classifiers.get(id) as { c: Classifier }).c;
      if (classifierElement(c) === null) return null; // a cgroup claim: the full path rewrites its map
      revalued.push(c);
    }
  }

  // Service chains: one per mark with sessions or listed.
  const services = new Map<number, number>();
  const serve = (s: ServiceMarking, by: number): void => {
    if (s.mark !== 0) bump(services, s.mark, by);
  };
  for (const s of removed) serve(s, -1);
  for (const s of svcGone) serve(s, -1);
  for (const s of svcNew) serve(s, 1);
  for (const { before, after } of changed) {
    serve(before, -1);
    serve(after, 1);
  }
  for (const s of added) serve(s, 1);
  const newServices: number[] = [];
  const goneServices: number[] = [];
  for (const [mark, by] of services) {
    const have = ix.services.get(mark) ?? 0;
    if (have === 0 && by > 0) newServices.push(mark);
    if (have > 0 && have + by === 0) goneServices.push(mark);
  }

  // Commands, in the order diff.ts documents (objects, stale elements, rules, new elements, stale objects).
  const cmds: nl.Command[] = [];
  let ops = 0;
  const tx = (k: string): string => `${TX_PREFIX}${k}`;
  const rx = (k: string): string => `${RX_PREFIX}${k}`;
  for (const s of added) {
    cmds.push(counters.addCounter(table, tx(s.sessionKey)), counters.addCounter(table, rx(s.sessionKey)));
    ops += 2;
  }
  for (const mark of newServices) {
    const c = serviceChain(ours, mark);
    cmds.push(nl.addChain(table, c.name), nl.addServiceRule(table, c.name, ours, mark, c.rules[0]?.id as string));
    ops += 2;
  }
  const staleElements = new Map<string, Buffer[]>();
  const stale = (map: string, key: Buffer): void => {
    let l = staleElements.get(map);
    if (!l) {
      l = [];
      staleElements.set(map, l);
    }
    l.push(key);
    ops++;
  };
  for (const c of revalued.length === 0 ? cOut : [...cOut, ...revalued]) {
    const el = classifierElement(c)!;
    stale(el.map, el.key);
  }
  const retagged = changed.filter((x) => x.before.tag !== x.after.tag);
  const untagged = retagged.length === 0 ? removed : [...removed, ...retagged.map((x) => x.before)];
  for (const s of untagged) {
    stale(MAP.tx, nl.hostU32(s.tag));
    stale(MAP.rx, nl.hostU32(s.tag));
  }
  for (const mark of goneServices) stale(MAP.svc, nl.hostU32(mark));
  for (const [map, keys] of staleElements) cmds.push(...nl.deleteElements(table, map, keys));
  const byMap = new Map<string, nl.ElementSpec[]>();
  const put = (map: string, e: nl.ElementSpec): void => {
    let l = byMap.get(map);
    if (!l) {
      l = [];
      byMap.set(map, l);
    }
    l.push(e);
    ops++;
  };
  for (const mark of newServices) put(MAP.svc, { key: nl.hostU32(mark), data: { jump: serviceChainName(mark) } });
  const newCounterElements = retagged.length === 0 ? added : [...added, ...retagged.map((x) => x.after)];
  for (const s of newCounterElements) put(MAP.tx, { key: nl.hostU32(s.tag), data: { counter: tx(s.sessionKey) } });
  for (const s of newCounterElements) put(MAP.rx, { key: nl.hostU32(s.tag), data: { counter: rx(s.sessionKey) } });
  const written = revalued.length === 0 ? cIn : [...cIn, ...revalued];
  for (const c of written) {
    const el = classifierElement(c)!;
    put(el.map, { key: el.key, data: { mark: valueFor(c.sessionKey) } });
  }
  for (const [map, es] of byMap) cmds.push(...nl.addElements(table, map, es));
  const snatRules: RuleModel[] = [];
  if (snatChanged) {
    const entries: Array<{ mark: number; ifname: string; family: Family; address: string }> = [];
    for (const [k, v] of ix.snat) if (!snatNext.has(k)) entries.push({ ...parseSnatKey(k), address: v.address });
    for (const [k, v] of snatNext) if (v.count > 0) entries.push({ ...parseSnatKey(k), address: v.address });
    entries.sort(
      (a, b) => a.mark - b.mark || (a.ifname < b.ifname ? -1 : a.ifname > b.ifname ? 1 : 0) || a.family - b.family,
    );
    cmds.push(nl.flushChain(table, CHAIN.postrouting));
    ops++;
    for (const e of entries) {
      const { rule, command } = snatOf(table, next.mask, e);
      snatRules.push(rule);
      cmds.push(command);
      ops++;
    }
  }
  for (const mark of goneServices) {
    cmds.push(nl.deleteChain(table, serviceChainName(mark)));
    ops++;
  }
  for (const s of removed) {
    cmds.push(counters.deleteCounter(table, tx(s.sessionKey)), counters.deleteCounter(table, rx(s.sessionKey)));
    ops += 2;
  }

  const commit = (known: TableModel): void => {
    const el = (map: string): Map<string, ElementModel> => known.maps.get(map)?.elements ?? new Map();
    for (const s of untagged) {
      el(MAP.tx).delete(String(s.tag));
      el(MAP.rx).delete(String(s.tag));
    }
    for (const s of removed) {
      known.counters.delete(tx(s.sessionKey));
      known.counters.delete(rx(s.sessionKey));
      ix.sessions.delete(s.sessionKey);
      if (ix.tags.get(s.tag) === s.sessionKey) ix.tags.delete(s.tag);
    }
    for (const { before, after } of changed) {
      if (ix.tags.get(before.tag) === before.sessionKey) ix.tags.delete(before.tag);
      (ix.sessions.get(after.sessionKey) as SessionEntry).s = after;
    }
    for (const s of newCounterElements) {
      el(MAP.tx).set(String(s.tag), { key: hex32(s.tag), value: `"${tx(s.sessionKey)}"` });
      el(MAP.rx).set(String(s.tag), { key: hex32(s.tag), value: `"${rx(s.sessionKey)}"` });
    }
    for (const s of added) {
      known.counters.add(tx(s.sessionKey));
      known.counters.add(rx(s.sessionKey));
      ix.sessions.set(s.sessionKey, { s, epoch });
    }
    for (const s of incoming) ix.tags.set(s.tag, s.sessionKey);
    for (const mark of goneServices) {
      el(MAP.svc).delete(String(mark));
      known.chains.delete(serviceChainName(mark));
    }
    for (const mark of newServices) {
      const [norm, element] = serviceElement(mark);
      el(MAP.svc).set(norm, element);
      known.chains.set(serviceChainName(mark), serviceChain(ours, mark));
    }
    for (const [mark, by] of services) bump(ix.services, mark, by);
    for (const c of cOut) {
      const e = classifierElement(c)!;
      el(e.map).delete(e.norm);
    }
    for (const c of cRemoved) ix.classifiers.delete(classifierId(c));
    for (const c of written) {
      const e = classifierElement(c)!;
      el(e.map).set(e.norm, { key: e.norm, value: hex32(valueFor(c.sessionKey)) });
    }
    for (const c of cIn) ix.classifiers.set(classifierId(c), { c, epoch });
    for (const [k, v] of owned) {
      if (v.size === 0) ix.owned.delete(k);
      else ix.owned.set(k, v);
    }
    for (const [k, v] of snatNext) {
      if (v.count > 0) ix.snat.set(k, v);
      else ix.snat.delete(k);
    }
    if (snatChanged) {
      const post = known.chains.get(CHAIN.postrouting);
      if (post) post.rules = snatRules;
    }
    ix.lastSessions = next.sessions;
    ix.lastClassifiers = next.classifiers;
    ix.lastServices = nextServices;
  };
  return { commands: cmds, ops, commit };
}

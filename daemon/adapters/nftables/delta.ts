/**
 * The session path of the nftables adapter: from the state it applied last (an index of it) and
 * the next desired state, the netlink commands that change only what differs, and the update of
 * the table model that goes with them. Pure.
 *
 * It covers what sessions and link events change: a session added, removed, moved to another
 * service or re-tagged (its two counters, its chain and rule, its two counter-map elements),
 * uid/gid/source classifiers added, removed or handed to another owner, and the SNAT entries
 * (a service connected, lost or changed its address: the postrouting chain, one rule per
 * service and family, is rewritten in the same batch). Anything else makes {@link planDelta}
 * return null and the adapter takes the full path (build the whole table, diff, nft): other
 * masks, a cgroup classifier changed, or input that the full path would skip with a warning.
 * Committing a delta leaves the table model exactly as {@link buildRuleset} would build it for
 * the new state (a property test holds it to that).
 *
 * Cost: the next state's arrays are compared by pointer with the ones the index was built from,
 * from both ends, and only the window where they differ is looked up (the core hands back its
 * unchanged objects in the same order): at 10,000 sessions a move or a create costs pointer
 * comparisons plus work for what changed; a state of fresh objects costs one Map lookup each. The index it plans against is
 * delta-index.ts.
 */
import { addressBytes } from '../../core/addresses.js';
import type { Classifier, FirewallState, SessionMarking } from '../../core/kernel-state-types.js';
import { diffWindow } from '../../core/list-window.js';
import type { Family } from '../../core/services.js';
import { fingerprint } from '../firewall/fingerprint.js';
import { checkSession } from '../firewall/plan.js';
import {
  classifierElement,
  classifierId,
  parseSnatKey,
  type SessionEntry,
  type SessionIndex,
  sameSession,
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
  SESSION_CHAIN_PREFIX,
  sessionRule,
  snatRule,
  TX_PREFIX,
} from './ruleset.js';

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
      if (!sameSession(e.s, s)) changed.push({ before: e.s, after: s });
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
  for (const s of [...added, ...changed.map((c) => c.after)]) {
    if (checkSession(s, next, NFT_NAMING) !== null) return null;
    const prev = ix.sessions.get(s.sessionKey);
    if (prev && prev.s.tag === s.tag) continue;
    const owner = tagOwner(s.tag);
    if ((owner !== undefined && !freedTags.has(s.tag)) || takenTags.has(s.tag)) return null;
    takenTags.add(s.tag);
  }

  // SNAT entries: counted per (mark, interface, family); all of one entry's sessions must agree
  // on its address. When the set or an address changes, the postrouting chain is rewritten.
  const minus = new Map<string, number>();
  const plus = new Map<string, { count: number; address: string }>();
  const take = (s: SessionMarking): void => {
    for (const [k] of snatKeys(s)) minus.set(k, (minus.get(k) ?? 0) + 1);
  };
  const give = (s: SessionMarking): boolean => {
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
  for (const { before } of changed) take(before);
  for (const s of added) if (!give(s)) return null;
  for (const { after } of changed) if (!give(after)) return null;
  const snatNext = new Map<string, { count: number; address: string }>();
  let snatChanged = false;
  for (const k of new Set([...minus.keys(), ...plus.keys()])) {
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
  const live = (key: string): boolean => addedKeys.has(key) || (ix.sessions.has(key) && !removedKeys.has(key));
  const owned = new Map<string, number>();
  const own = (key: string, by: number): void => {
    owned.set(key, (owned.get(key) ?? ix.owned.get(key) ?? 0) + by);
  };
  for (const c of [...cAdded, ...cChanged.map((x) => x.after)]) {
    if (classifierElement(c) === null || !live(c.sessionKey)) return null;
    own(c.sessionKey, 1);
  }
  for (const c of [...cRemoved, ...cChanged.map((x) => x.before)]) {
    if (classifierElement(c) === null) return null;
    own(c.sessionKey, -1);
  }
  for (const s of removed) if ((owned.get(s.sessionKey) ?? ix.owned.get(s.sessionKey) ?? 0) !== 0) return null;

  // Commands, in the order diff.ts documents (objects, stale elements, rules, new elements, stale objects).
  const cmds: nl.Command[] = [];
  let ops = 0;
  const tx = (k: string): string => `${TX_PREFIX}${k}`;
  const rx = (k: string): string => `${RX_PREFIX}${k}`;
  const chain = (k: string): string => `${SESSION_CHAIN_PREFIX}${k}`;
  for (const s of added) {
    cmds.push(
      counters.addCounter(table, tx(s.sessionKey)),
      counters.addCounter(table, rx(s.sessionKey)),
      nl.addChain(table, chain(s.sessionKey)),
    );
    ops += 3;
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
  for (const c of [...cRemoved, ...cChanged.map((x) => x.before)]) {
    const el = classifierElement(c)!;
    stale(el.map, el.key);
  }
  const retagged = changed.filter((x) => x.before.tag !== x.after.tag);
  for (const s of [...removed, ...retagged.map((x) => x.before)]) {
    stale(MAP.tx, nl.hostU32(s.tag));
    stale(MAP.rx, nl.hostU32(s.tag));
  }
  for (const [map, keys] of staleElements) cmds.push(...nl.deleteElements(table, map, keys));
  const rewritten = changed.filter((x) => (x.before.mark | x.before.tag) !== (x.after.mark | x.after.tag));
  for (const { after } of rewritten) {
    cmds.push(nl.flushChain(table, chain(after.sessionKey)));
    ops++;
  }
  const ruleOf = (s: SessionMarking): RuleModel => {
    const text = sessionRule(ours, s.mark, s.tag);
    return { id: fingerprint(text), text, spec: { kind: 'session', ours, value: (s.mark | s.tag) >>> 0 } };
  };
  for (const s of [...added, ...rewritten.map((x) => x.after)]) {
    cmds.push(nl.addSessionRule(table, chain(s.sessionKey), ours, (s.mark | s.tag) >>> 0, ruleOf(s).id as string));
    ops++;
  }
  const newCounterElements = [...added, ...retagged.map((x) => x.after)];
  if (newCounterElements.length) {
    cmds.push(
      ...nl.addElements(
        table,
        MAP.tx,
        newCounterElements.map((s) => ({ key: nl.hostU32(s.tag), data: { counter: tx(s.sessionKey) } })),
      ),
    );
    cmds.push(
      ...nl.addElements(
        table,
        MAP.rx,
        newCounterElements.map((s) => ({ key: nl.hostU32(s.tag), data: { counter: rx(s.sessionKey) } })),
      ),
    );
    ops += 2 * newCounterElements.length;
  }
  const byMap = new Map<string, nl.ElementSpec[]>();
  for (const c of [...cAdded, ...cChanged.map((x) => x.after)]) {
    const el = classifierElement(c)!;
    let l = byMap.get(el.map);
    if (!l) {
      l = [];
      byMap.set(el.map, l);
    }
    l.push({ key: el.key, data: { goto: chain(c.sessionKey) } });
    ops++;
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
      const text = snatRule(next.mask, e.mark, e.ifname, e.family, e.address);
      const id = fingerprint(text);
      snatRules.push({
        id,
        text,
        spec: { kind: 'snat', mask: next.mask, mark: e.mark, ifname: e.ifname, family: e.family, address: e.address },
      });
      cmds.push(
        nl.addSnatRule(
          table,
          CHAIN.postrouting,
          next.mask,
          e.mark,
          e.ifname,
          e.family,
          Buffer.from(addressBytes(e.family, e.address) as number[]),
          id,
        ),
      );
      ops++;
    }
  }
  for (const s of removed) {
    cmds.push(
      nl.deleteChain(table, chain(s.sessionKey)),
      counters.deleteCounter(table, tx(s.sessionKey)),
      counters.deleteCounter(table, rx(s.sessionKey)),
    );
    ops += 3;
  }

  const commit = (known: TableModel): void => {
    const el = (map: string): Map<string, ElementModel> => known.maps.get(map)?.elements ?? new Map();
    for (const s of [...removed, ...retagged.map((x) => x.before)]) {
      el(MAP.tx).delete(String(s.tag));
      el(MAP.rx).delete(String(s.tag));
    }
    for (const s of removed) {
      known.chains.delete(chain(s.sessionKey));
      known.counters.delete(tx(s.sessionKey));
      known.counters.delete(rx(s.sessionKey));
      ix.sessions.delete(s.sessionKey);
      if (ix.tags.get(s.tag) === s.sessionKey) ix.tags.delete(s.tag);
      ix.owned.delete(s.sessionKey);
    }
    for (const { before, after } of changed) {
      if (ix.tags.get(before.tag) === before.sessionKey) ix.tags.delete(before.tag);
      (ix.sessions.get(after.sessionKey) as SessionEntry).s = after;
    }
    for (const s of [...added, ...rewritten.map((x) => x.after)]) {
      const r = ruleOf(s);
      known.chains.set(chain(s.sessionKey), { name: chain(s.sessionKey), base: null, rules: [r] });
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
    for (const s of [...added, ...changed.map((x) => x.after)]) ix.tags.set(s.tag, s.sessionKey);
    for (const c of [...cRemoved, ...cChanged.map((x) => x.before)]) {
      const e = classifierElement(c)!;
      el(e.map).delete(e.norm);
    }
    for (const c of cRemoved) ix.classifiers.delete(classifierId(c));
    for (const c of [...cAdded, ...cChanged.map((x) => x.after)]) {
      const e = classifierElement(c)!;
      el(e.map).set(e.norm, { key: e.norm, value: `goto ${chain(c.sessionKey)}` });
      ix.classifiers.set(classifierId(c), { c, epoch });
    }
    for (const [k, v] of owned) {
      if (v === 0) ix.owned.delete(k);
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
  };
  return { commands: cmds, ops, commit };
}

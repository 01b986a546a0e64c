/**
 * What the kernel holds (or what the adapter last wrote) → the ops that make it the desired
 * table. Pure. The ops run as one nft transaction (see script.ts), in this order:
 *
 * 1. `add table` when it is missing;
 * 2. new counters, maps and chains (empty);
 * 3. stale or changed elements of kept maps deleted (or the map flushed, see MapModel.flushOnChange);
 * 4. chains whose rules differ flushed, then their rules (and new chains' rules) added;
 * 5. new and changed elements added (their chains and counters exist by now);
 * 6. stale chains flushed, then stale maps, chains, counters and other objects deleted — in that
 *    order, because rules reference maps and maps reference chains and counters.
 *
 * Counters are never deleted and re-added while wanted: their values must survive. Rules are
 * compared by fingerprint (comment), per chain and in order; a chain with any difference is
 * rewritten whole (service chains have one rule, the fixed chains a handful).
 *
 * A kept map whose type changed, or a chain whose hook registration changed, cannot be altered
 * in place: then every chain, map and other object is removed and rebuilt in the same
 * transaction, keeping only the counters ("rebuild").
 */

import type { BaseChainSpec, ChainModel, ElementModel, MapModel, Op, TableModel } from './model.js';
import { emptyTable } from './model.js';

function sameBase(a: BaseChainSpec | null, b: BaseChainSpec | null): boolean {
  if (a === null || b === null) return a === b;
  return a.type === b.type && a.hook === b.hook && a.prio === b.prio && a.policy === b.policy;
}

function sameRules(a: ChainModel, b: ChainModel): boolean {
  if (a.rules.length !== b.rules.length) return false;
  for (let i = 0; i < a.rules.length; i++) {
    const x = a.rules[i]?.id ?? null;
    if (x === null || x !== (b.rules[i]?.id ?? null)) return false;
  }
  return true;
}

function sameShape(a: MapModel, b: MapModel): boolean {
  return a.kind === b.kind && a.type === b.type && a.data === b.data;
}

function needsRebuild(actual: TableModel, desired: TableModel): boolean {
  for (const [name, want] of desired.maps) {
    const have = actual.maps.get(name);
    if (have && !sameShape(have, want)) return true;
  }
  for (const [name, want] of desired.chains) {
    const have = actual.chains.get(name);
    if (have && !sameBase(have.base, want.base)) return true;
  }
  return false;
}

function addRules(ops: Op[], chain: ChainModel): void {
  for (const r of chain.rules) {
    if (r.id === null || r.text === undefined) throw new Error(`desired rule in chain ${chain.name} lacks text or id`);
    ops.push(
      r.spec
        ? { op: 'add-rule', chain: chain.name, text: r.text, id: r.id, spec: r.spec }
        : { op: 'add-rule', chain: chain.name, text: r.text, id: r.id },
    );
  }
}

/** Ops that turn `actual` (null: no table) into `desired`. Empty when they already match. */
export function diffTable(actual: TableModel | null, desired: TableModel): Op[] {
  const ops: Op[] = [];
  let have: TableModel;
  if (actual === null) {
    ops.push({ op: 'add-table' });
    have = emptyTable();
  } else if (needsRebuild(actual, desired)) {
    for (const c of actual.chains.values()) if (c.rules.length) ops.push({ op: 'flush-chain', name: c.name });
    for (const m of actual.maps.values()) ops.push({ op: 'delete-map', name: m.name, kind: m.kind });
    for (const c of actual.chains.values()) ops.push({ op: 'delete-chain', name: c.name });
    for (const o of actual.others) ops.push({ op: 'delete-object', kind: o.kind, name: o.name });
    have = { ...emptyTable(), counters: actual.counters };
  } else {
    have = actual;
  }

  // 2. New objects.
  for (const name of desired.counters) if (!have.counters.has(name)) ops.push({ op: 'add-counter', name });
  for (const m of desired.maps.values())
    if (!have.maps.has(m.name)) ops.push({ op: 'add-map', name: m.name, kind: m.kind, type: m.type, data: m.data });
  for (const c of desired.chains.values())
    if (!have.chains.has(c.name)) ops.push({ op: 'add-chain', name: c.name, base: c.base });

  // 3. Stale elements of kept maps; collect what to add in 5.
  const elementAdds: Op[] = [];
  for (const want of desired.maps.values()) {
    const cur = have.maps.get(want.name);
    const adds: ElementModel[] = [];
    if (!cur) {
      adds.push(...want.elements.values());
    } else {
      const stale: string[] = [];
      let flush = false;
      for (const [norm, e] of cur.elements) {
        const w = want.elements.get(norm);
        if (w && w.value === e.value) continue;
        if (e.key === null) flush = true;
        else stale.push(e.key);
      }
      let changed = stale.length > 0 || flush;
      if (!changed)
        for (const [norm, w] of want.elements) if (cur.elements.get(norm)?.value !== w.value) changed = true;
      if (changed && (flush || want.flushOnChange)) {
        ops.push({ op: 'flush-map', map: want.name, kind: want.kind });
        adds.push(...want.elements.values());
      } else {
        if (stale.length) ops.push({ op: 'delete-elements', map: want.name, kind: want.kind, keys: stale });
        for (const [norm, w] of want.elements) if (cur.elements.get(norm)?.value !== w.value) adds.push(w);
      }
    }
    if (adds.length) elementAdds.push({ op: 'add-elements', map: want.name, kind: want.kind, elements: adds });
  }

  // 4. Rules.
  for (const want of desired.chains.values()) {
    const cur = have.chains.get(want.name);
    if (cur && sameRules(cur, want)) continue;
    if (cur?.rules.length) ops.push({ op: 'flush-chain', name: want.name });
    addRules(ops, want);
  }

  // 5. Elements.
  ops.push(...elementAdds);

  // 6. Stale objects.
  const staleChains = [...have.chains.values()].filter((c) => !desired.chains.has(c.name));
  for (const c of staleChains) if (c.rules.length) ops.push({ op: 'flush-chain', name: c.name });
  for (const m of have.maps.values())
    if (!desired.maps.has(m.name)) ops.push({ op: 'delete-map', name: m.name, kind: m.kind });
  for (const c of staleChains) ops.push({ op: 'delete-chain', name: c.name });
  for (const name of have.counters) if (!desired.counters.has(name)) ops.push({ op: 'delete-counter', name });
  for (const o of have.others) ops.push({ op: 'delete-object', kind: o.kind, name: o.name });
  return ops;
}

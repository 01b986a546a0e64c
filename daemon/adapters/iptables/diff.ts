/**
 * What the kernel holds (or what the adapter last wrote) → the changes that make it the desired
 * state. Pure.
 *
 * Per family, the ops run as one `iptables-restore --noflush` call, which commits each table
 * atomically (mangle, filter, nat). Within a table, in this order:
 * 1. new chains created (`-N`), so every jump below has its target;
 * 2. chains whose rules differ edited, new chains filled (`-A`). An edit deletes the rules that
 *    are no longer wanted by their text (`-D <chain> <spec>`: a rule that is not there fails the
 *    batch, which is then retried from a read-back) and inserts the new ones at their place
 *    (`-I <chain> <n>`, `-A` at the end); when that would take as many commands as rewriting the
 *    chain, or the kept rules are out of order, the chain is flushed (`-F`) and written again.
 *    Session changes thus touch a few rules of the long chains (NS-CLASSIFY, NS-TX, NS-RX), not
 *    all of them. (A position computed from a cache that something outside made stale can put a
 *    rule out of order; the next verifying apply sees that like any other outside change.)
 * 3. hooks: a missing one inserted at the top of its built-in chain (`-I X 1 -j NS-X`, like
 *    ConnMan), duplicates and any other rule of a built-in chain that jumps to one of our chains
 *    deleted (`-D X <spec as read back>`);
 * 4. stale chains flushed, then deleted (`-X`): after the flushes and hook deletions, nothing of
 *    ours refers to them any more.
 * Rules are compared by fingerprint (comment), per chain and in order. A hook is not moved back
 * to the top when something else was inserted above it later: fighting another tool over
 * position would never settle.
 *
 * NFACCT objects are not part of a restore: missing ones are created before the restores (the
 * rules that name them need them) and stale ones deleted after (a referenced object cannot be
 * deleted: EBUSY). Wanted objects are never deleted and re-created, so their counts survive.
 */

import type { ChainModel, FamilyModel, HookModel, Op, TableModel, TableName } from './model.js';
import { emptyFamilyModel, TABLES } from './model.js';

function sameRules(a: ChainModel, b: ChainModel): boolean {
  if (a.rules.length !== b.rules.length) return false;
  for (let i = 0; i < a.rules.length; i++) {
    const x = a.rules[i]?.id ?? null;
    if (x === null || x !== (b.rules[i]?.id ?? null)) return false;
  }
  return true;
}

function appendAll(ops: Op[], table: TableName, chain: ChainModel): void {
  for (const r of chain.rules) {
    if (r.text === undefined) throw new Error(`desired rule in chain ${chain.name} lacks its text`);
    ops.push({ op: 'append', table, chain: chain.name, text: r.text });
  }
}

/**
 * Deletes and inserts that turn `cur` into `want`, or null when a rewrite is as cheap or the
 * kept rules are not in the wanted order (or ids repeat).
 */
export function editChain(table: TableName, cur: ChainModel, want: ChainModel): Op[] | null {
  const wanted = new Set<string>();
  for (const r of want.rules) {
    if (r.id === null || r.text === undefined || wanted.has(r.id)) return null;
    wanted.add(r.id);
  }
  const ops: Op[] = [];
  const kept: string[] = [];
  const seen = new Set<string>();
  for (const r of cur.rules) {
    if (r.id !== null && wanted.has(r.id) && !seen.has(r.id)) {
      kept.push(r.id);
      seen.add(r.id);
      continue;
    }
    const spec = r.spec ?? r.text;
    if (spec === undefined) return null;
    ops.push({ op: 'delete-rule', table, chain: want.name, spec });
  }
  let k = 0;
  want.rules.forEach((r, i) => {
    if (kept[k] === r.id) {
      k++;
      return;
    }
    if (seen.has(r.id as string))
      k = -Infinity; // a kept rule out of order
    else if (k === kept.length) ops.push({ op: 'append', table, chain: want.name, text: r.text as string });
    else ops.push({ op: 'insert-rule', table, chain: want.name, position: i + 1, text: r.text as string });
  });
  if (k !== kept.length) return null;
  const rewrite = (cur.rules.length ? 1 : 0) + want.rules.length;
  return ops.length < rewrite ? ops : null;
}

function diffTable(table: TableName, have: TableModel, want: TableModel): Op[] {
  const ops: Op[] = [];
  // 1.
  for (const c of want.chains.values())
    if (!have.chains.has(c.name)) ops.push({ op: 'new-chain', table, chain: c.name });
  // 2.
  for (const c of want.chains.values()) {
    const cur = have.chains.get(c.name);
    if (cur && sameRules(cur, c)) continue;
    const edit = cur?.rules.length ? editChain(table, cur, c) : null;
    if (edit) {
      ops.push(...edit);
      continue;
    }
    if (cur?.rules.length) ops.push({ op: 'flush-chain', table, chain: c.name });
    appendAll(ops, table, c);
  }
  // 3.
  const kept = new Set<HookModel>();
  for (const h of want.hooks) {
    const found = have.hooks.find((x) => x.plain && x.chain === h.chain && x.target === h.target && !kept.has(x));
    if (found) kept.add(found);
    else ops.push({ op: 'insert-hook', table, chain: h.chain, target: h.target });
  }
  for (const h of have.hooks) if (!kept.has(h)) ops.push({ op: 'delete-rule', table, chain: h.chain, spec: h.spec });
  // 4.
  const stale = [...have.chains.values()].filter((c) => !want.chains.has(c.name));
  for (const c of stale) if (c.rules.length) ops.push({ op: 'flush-chain', table, chain: c.name });
  for (const c of stale) ops.push({ op: 'delete-chain', table, chain: c.name });
  return ops;
}

/** Ops that turn one family's `actual` (null: nothing of ours) into `desired`. Empty when they match. */
export function diffFamily(actual: FamilyModel | null, desired: FamilyModel): Op[] {
  const have = actual ?? emptyFamilyModel();
  return TABLES.flatMap((t) => diffTable(t, have.tables[t], desired.tables[t]));
}

/** NFACCT objects to create (before the restores) and to delete (after them), sorted. */
export function diffNfacct(
  actual: ReadonlySet<string>,
  desired: ReadonlySet<string>,
): { add: string[]; del: string[] } {
  return {
    add: [...desired].filter((n) => !actual.has(n)).sort(),
    del: [...actual].filter((n) => !desired.has(n)).sort(),
  };
}

/** The iptables-restore line of one op. */
export function opLine(o: Op): string {
  switch (o.op) {
    case 'new-chain':
      return `-N ${o.chain}`;
    case 'flush-chain':
      return `-F ${o.chain}`;
    case 'append':
      return `-A ${o.chain} ${o.text}`;
    case 'insert-rule':
      return `-I ${o.chain} ${o.position} ${o.text}`;
    case 'insert-hook':
      return `-I ${o.chain} 1 -j ${o.target}`;
    case 'delete-rule':
      return `-D ${o.chain} ${o.spec}`;
    case 'delete-chain':
      return `-X ${o.chain}`;
  }
}

/**
 * The input of one `iptables-restore --noflush` call: a `*table` … `COMMIT` section per table
 * that has ops, ops in their order. Empty string for no ops.
 */
export function opsToRestore(ops: readonly Op[]): string {
  let out = '';
  for (const t of TABLES) {
    const lines = ops.filter((o) => o.table === t).map(opLine);
    if (lines.length) out += `*${t}\n${lines.join('\n')}\nCOMMIT\n`;
  }
  return out;
}

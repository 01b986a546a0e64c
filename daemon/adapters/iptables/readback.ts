/**
 * `iptables-save` / `ip6tables-save` output → our part of that family ({@link FamilyModel}). Pure.
 *
 * Ours in a save: every chain named `NS-*` in the mangle, filter and nat tables, with its rules (each
 * identified by its `ns:<fingerprint>` comment, null without one), and every rule of a built-in
 * chain there that jumps or goes to an `NS-*` chain (a hook). Everything else is somebody
 * else's and is left alone.
 */

import type { ChainModel, FamilyModel, TableName } from './model.js';
import { CHAIN_PREFIX, COMMENT_PREFIX, emptyFamilyModel, TABLES } from './model.js';
import type { NfacctValue } from './nfacct.js';

const BUILTIN = new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']);

const COMMENT = new RegExp(`(?:^| )--comment (?:"${COMMENT_PREFIX}([0-9a-f]+)"|${COMMENT_PREFIX}([0-9a-f]+))(?= |$)`);
const TARGET = /(?:^| )-[jg] (\S+)/;

function isTable(t: string): t is TableName {
  return (TABLES as readonly string[]).includes(t);
}

/** The fingerprint in a rule's `ns:` comment, or null. */
export function ruleId(spec: string): string | null {
  const m = COMMENT.exec(spec);
  return m ? (m[1] ?? m[2] ?? null) : null;
}

/** Parses one family's iptables-save output; other tables and foreign chains are ignored. */
export function parseSave(text: string): FamilyModel {
  const model = emptyFamilyModel();
  let table: TableName | null = null;
  const chainOf = (t: TableName, name: string): ChainModel => {
    const chains = model.tables[t].chains;
    let c = chains.get(name);
    if (!c) {
      c = { name, rules: [] };
      chains.set(name, c);
    }
    return c;
  };
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (line.startsWith('*')) {
      const t = line.slice(1).trim();
      table = isTable(t) ? t : null;
      continue;
    }
    if (table === null) continue;
    if (line.startsWith(':')) {
      const name = line.slice(1).split(' ')[0] ?? '';
      if (name.startsWith(CHAIN_PREFIX)) chainOf(table, name);
      continue;
    }
    if (!line.startsWith('-A ')) continue;
    const rest = line.slice(3);
    const sp = rest.indexOf(' ');
    const chain = sp < 0 ? rest : rest.slice(0, sp);
    const spec = sp < 0 ? '' : rest.slice(sp + 1).trim();
    if (chain.startsWith(CHAIN_PREFIX)) {
      chainOf(table, chain).rules.push({ id: ruleId(spec), spec });
    } else if (BUILTIN.has(chain)) {
      const target = TARGET.exec(spec)?.[1];
      if (target?.startsWith(CHAIN_PREFIX)) {
        model.tables[table].hooks.push({ chain, target, spec, plain: spec === `-j ${target}` });
      }
    }
  }
  return model;
}

const NFACCT_LINE = /^\{\s*pkts\s*=\s*(\d+),\s*bytes\s*=\s*(\d+)[^}]*\}\s*=\s*(\S+?);?\s*$/;

/**
 * Parses the `nfacct` tool's `list` (or `get NAME`) output, for tests and diagnostics (the
 * backend itself reads NFACCT objects over netlink, see nfacct.ts): lines like
 * `{ pkts = 00000000000000000015, bytes = 00000000000000001050 } = ns-tx-s1;`
 * (a quota, when set, adds fields inside the braces). Values are exact (BigInt).
 */
export function parseNfacctList(text: string): Map<string, NfacctValue> {
  const out = new Map<string, NfacctValue>();
  for (const line of text.split('\n')) {
    const m = NFACCT_LINE.exec(line.trim());
    if (!m) continue;
    out.set(m[3] as string, { pkts: BigInt(m[1] as string), bytes: BigInt(m[2] as string) });
  }
  return out;
}

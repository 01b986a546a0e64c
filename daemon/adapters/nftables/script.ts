/**
 * Ops → one nft script (text syntax, one command per line), run as a single transaction. Pure.
 *
 * Text rather than JSON: nft 1.0.6 (Debian 12) cannot express `socket cgroupv2 level N` in JSON
 * ("Invalid socket key value"), and a batch must be one nft call to be atomic. Everything the
 * adapter writes is either a validated identifier, a number, an address, or a string without
 * `"` between double quotes (nft strings have no escapes), so the text needs no escaping.
 */

import type { BaseChainSpec, ElementModel, Op } from './model.js';
import { NFT_FAMILY } from './model.js';

/** Elements per `add element` / `delete element` command: keeps single lines reasonable. */
const ELEMENTS_PER_COMMAND = 2000;

function chainSpec(base: BaseChainSpec): string {
  return ` { type ${base.type} hook ${base.hook} priority ${base.prio}; policy ${base.policy}; }`;
}

function element(e: ElementModel): string {
  const comment = e.comment !== undefined ? ` comment "${e.comment}"` : '';
  return e.value === '' ? `${e.key}${comment}` : `${e.key}${comment} : ${e.value}`;
}

function chunks<T>(xs: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += ELEMENTS_PER_COMMAND) out.push(xs.slice(i, i + ELEMENTS_PER_COMMAND));
  return out;
}

/** The nft commands for `ops` on `inet <table>`. */
export function opsToCommands(ops: readonly Op[], table: string): string[] {
  const t = `${NFT_FAMILY} ${table}`;
  const out: string[] = [];
  for (const o of ops) {
    switch (o.op) {
      case 'add-table':
        out.push(`add table ${t}`);
        break;
      case 'add-counter':
        out.push(`add counter ${t} ${o.name}`);
        break;
      case 'add-map':
        out.push(
          o.data === null
            ? `add set ${t} ${o.name} { type ${o.type}; }`
            : `add map ${t} ${o.name} { type ${o.type} : ${o.data}; }`,
        );
        break;
      case 'add-chain':
        out.push(`add chain ${t} ${o.name}${o.base ? chainSpec(o.base) : ''}`);
        break;
      case 'flush-chain':
        out.push(`flush chain ${t} ${o.name}`);
        break;
      case 'add-rule':
        out.push(`add rule ${t} ${o.chain} ${o.text} comment "${o.id}"`);
        break;
      case 'delete-elements':
        for (const keys of chunks(o.keys)) out.push(`delete element ${t} ${o.map} { ${keys.join(', ')} }`);
        break;
      case 'flush-map':
        out.push(`flush ${o.kind} ${t} ${o.map}`);
        break;
      case 'add-elements':
        for (const es of chunks(o.elements)) out.push(`add element ${t} ${o.map} { ${es.map(element).join(', ')} }`);
        break;
      case 'delete-chain':
        out.push(`delete chain ${t} ${o.name}`);
        break;
      case 'delete-map':
        out.push(`delete ${o.kind} ${t} ${o.name}`);
        break;
      case 'delete-counter':
        out.push(`delete counter ${t} ${o.name}`);
        break;
      case 'delete-object':
        out.push(`delete ${o.kind} ${t} ${o.name}`);
        break;
    }
  }
  return out;
}

/** The whole script: commands joined by newlines (empty string for no ops). */
export function opsToScript(ops: readonly Op[], table: string): string {
  const lines = opsToCommands(ops, table);
  return lines.length ? `${lines.join('\n')}\n` : '';
}

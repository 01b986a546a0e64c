/**
 * `nft -j list table inet <name>` output → {@link TableModel}. Pure.
 *
 * Element keys are normalised the way ruleset.ts normalises desired ones (decimal numbers,
 * RFC 5952 addresses, `id:<n>` for cgroups, taken from the element comment because nft prints a
 * cgroup key as a path only when it finds one under /sys/fs/cgroup, and as the bare id
 * otherwise). Anything the adapter never writes (sets, interval keys, quotas, ...) is still
 * parsed, so the diff can remove it.
 */

import { canonicalAddress } from '../../core/addresses.js';
import type { Family } from '../../core/services.js';
import type { BaseChainSpec, ChainModel, ElementModel, MapModel, TableModel } from './model.js';
import { emptyTable, hex32, NFT_FAMILY } from './model.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

function isObj(v: Json | undefined): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: Json | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Kinds handled explicitly; any other object kind in the table is an "other". */
const KNOWN = new Set(['metainfo', 'table', 'chain', 'rule', 'map', 'set', 'counter']);

/** nft text of a map's data value (`jump svc_x`, `"tx_x"`, a mark, `accept`), or a JSON fallback. */
export function normaliseData(v: Json | undefined): string {
  if (typeof v === 'string') return `"${v}"`;
  // Marks (the classifier maps' data) print as numbers; ruleset.ts writes them as hex32.
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff) return hex32(v);
  if (isObj(v)) {
    const [verdict] = Object.keys(v);
    if (verdict !== undefined && Object.keys(v).length === 1) {
      const body = v[verdict];
      if ((verdict === 'goto' || verdict === 'jump') && isObj(body) && typeof body.target === 'string')
        return `${verdict} ${body.target}`;
      if (body === null) return verdict;
    }
  }
  return `?${JSON.stringify(v ?? null)}`;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** Normalised key and writable key text of one element of a map of `type`. */
function normaliseKey(type: string, raw: Json, comment: string | undefined): { norm: string; key: string | null } {
  const fallback = { norm: `?${JSON.stringify(raw)}`, key: null };
  switch (type) {
    case 'uid':
    case 'gid':
    case 'mark': {
      if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0) return { norm: String(raw), key: String(raw) };
      if (typeof raw === 'string' && /^\d+$/.test(raw)) return { norm: String(Number(raw)), key: String(Number(raw)) };
      // A newer nft may print a user or group name: nft accepts it back as input.
      if (typeof raw === 'string' && IDENT.test(raw)) return { norm: `?name:${raw}`, key: raw };
      return fallback;
    }
    case 'ipv4_addr':
    case 'ipv6_addr': {
      const family: Family = type === 'ipv4_addr' ? 4 : 6;
      const address = typeof raw === 'string' ? canonicalAddress(family, raw) : null;
      return address === null ? fallback : { norm: address, key: address };
    }
    case 'cgroupsv2': {
      const id = comment !== undefined ? /^id (\d+)(?: |$)/.exec(comment)?.[1] : undefined;
      return { norm: id !== undefined ? `id:${id}` : fallback.norm, key: null };
    }
    default:
      return fallback;
  }
}

function parseElements(map: MapModel, elem: Json | undefined): void {
  if (!Array.isArray(elem)) return;
  for (const item of elem) {
    let rawKey: Json;
    let value = '';
    if (map.kind === 'map') {
      if (!Array.isArray(item) || item.length !== 2) continue;
      rawKey = item[0] as Json;
      value = normaliseData(item[1]);
    } else {
      rawKey = item;
    }
    let comment: string | undefined;
    if (isObj(rawKey) && isObj(rawKey.elem)) {
      comment = str(rawKey.elem.comment);
      rawKey = rawKey.elem.val ?? null;
    }
    const { norm, key } = normaliseKey(map.type, rawKey, comment);
    const element: ElementModel = comment === undefined ? { key, value } : { key, value, comment };
    map.elements.set(norm, element);
  }
}

function typeName(t: Json | undefined): string {
  if (Array.isArray(t)) return t.map((x) => String(x)).join(' . ');
  return typeof t === 'string' ? t : JSON.stringify(t ?? null);
}

function baseOf(c: Obj): BaseChainSpec | null {
  if (typeof c.hook !== 'string') return null;
  return {
    type: (str(c.type) ?? 'filter') as BaseChainSpec['type'],
    hook: c.hook as BaseChainSpec['hook'],
    prio: typeof c.prio === 'number' ? c.prio : Number.NaN,
    policy: (str(c.policy) ?? 'accept') as BaseChainSpec['policy'],
  };
}

/**
 * Parses a `nft -j list table inet <table>` document. Objects of other tables or families (none
 * are expected in such a listing) are ignored.
 */
export function parseTableListing(json: string, table: string): TableModel {
  const doc = JSON.parse(json) as { nftables?: Json };
  const items = Array.isArray(doc.nftables) ? doc.nftables : [];
  const model = emptyTable();
  const chainOf = (name: string): ChainModel => {
    let c = model.chains.get(name);
    if (!c) {
      c = { name, base: null, rules: [] };
      model.chains.set(name, c);
    }
    return c;
  };
  for (const item of items) {
    if (!isObj(item)) continue;
    const [kind] = Object.keys(item);
    if (kind === undefined || kind === 'metainfo' || kind === 'table') continue;
    const o = item[kind];
    if (!isObj(o) || o.family !== NFT_FAMILY || o.table !== table) continue;
    const name = str(o.name);
    switch (kind) {
      case 'chain':
        if (name !== undefined) chainOf(name).base = baseOf(o);
        break;
      case 'rule': {
        const chain = str(o.chain);
        if (chain !== undefined) chainOf(chain).rules.push({ id: str(o.comment) ?? null });
        break;
      }
      case 'map':
      case 'set': {
        if (name === undefined) break;
        const type = typeName(o.type);
        const map: MapModel = {
          name,
          kind,
          type,
          data: kind === 'map' ? typeName(o.map) : null,
          flushOnChange: type === 'cgroupsv2',
          elements: new Map(),
        };
        parseElements(map, o.elem);
        model.maps.set(name, map);
        break;
      }
      case 'counter':
        if (name !== undefined) model.counters.add(name);
        break;
      default:
        if (!KNOWN.has(kind) && name !== undefined) model.others.push({ kind, name });
    }
  }
  return model;
}

/**
 * The full path's ops (diff.ts) as nf_tables netlink commands, in the same order, so a diff runs
 * over the daemon's own socket instead of an nft process. Pure. What it cannot write (an object
 * kind or key the adapter never creates, found in a read-back) throws
 * {@link NetlinkUnsupportedError}; the adapter then runs that diff through nft.
 */
import { addressBytes } from '../../core/addresses.js';
import type { ElementModel, Op, TableModel } from './model.js';
import * as counters from './netlink-counters.js';
import * as nl from './netlink-encode.js';
import {
  addBaseChain,
  addMap,
  addRule,
  addTable,
  deleteMap,
  flushMap,
  keyType,
  NetlinkUnsupportedError,
} from './netlink-table.js';

/** Raw key bytes of an element's key text in a map of `type`. */
function keyBytes(type: string, key: string | null, comment: string | undefined): Buffer {
  const k = keyType(type);
  if (type === 'cgroupsv2') {
    // The cgroup id rides in the comment (ruleset.ts cgroupElementComment): the key text is a path for nft.
    const id = comment !== undefined ? /^id (\d+)(?: |$)/.exec(comment)?.[1] : undefined;
    if (id === undefined) throw new NetlinkUnsupportedError(`cgroup element without an id`);
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(id));
    return b;
  }
  if (key === null) throw new NetlinkUnsupportedError(`an element of type ${type} without a key`);
  if (k.len === 4 && k.order === 1) {
    if (!/^(?:\d{1,10}|0x[0-9a-f]{1,8})$/i.test(key) || Number(key) > 0xffffffff)
      throw new NetlinkUnsupportedError(`key ${key} of type ${type}`);
    return nl.hostU32(Number(key));
  }
  const bytes = addressBytes(type === 'ipv4_addr' ? 4 : 6, key);
  if (!bytes) throw new NetlinkUnsupportedError(`key ${key} of type ${type}`);
  return Buffer.from(bytes);
}

function elementData(value: string): nl.ElementData {
  const jump = /^jump (\S+)$/.exec(value);
  if (jump) return { jump: jump[1] as string };
  if (/^0x[0-9a-f]{8}$/.test(value)) return { mark: Number(value) };
  const counter = /^"([^"]+)"$/.exec(value);
  if (counter) return { counter: counter[1] as string };
  throw new NetlinkUnsupportedError(`element data ${value}`);
}

function elementSpec(type: string, e: ElementModel): nl.ElementSpec {
  const spec: nl.ElementSpec = { key: keyBytes(type, e.key, e.comment), data: elementData(e.value) };
  if (e.comment !== undefined) spec.comment = e.comment;
  return spec;
}

/**
 * Commands for `ops` on `table`. `maps` gives the key type of every map an element op names
 * (the desired table's maps, and the read-back's for maps about to go).
 */
export function opsToNetlink(ops: readonly Op[], table: string, maps: ReadonlyArray<TableModel['maps']>): nl.Command[] {
  const typeOf = (name: string): string => {
    for (const m of maps) {
      const t = m.get(name)?.type;
      if (t !== undefined) return t;
    }
    throw new NetlinkUnsupportedError(`map ${name} of unknown type`);
  };
  const out: nl.Command[] = [];
  const setIds = new Map<string, number>();
  const idOf = (map: string): number | undefined => setIds.get(map);
  for (const o of ops) {
    switch (o.op) {
      case 'add-table':
        out.push(addTable(table));
        break;
      case 'add-counter':
        out.push(counters.addCounter(table, o.name));
        break;
      case 'add-map':
        if (o.kind !== 'map') throw new NetlinkUnsupportedError(`set ${o.name}`);
        setIds.set(o.name, setIds.size + 1);
        out.push(addMap(table, o.name, o.type, o.data, setIds.size));
        break;
      case 'add-chain':
        out.push(o.base ? addBaseChain(table, o.name, o.base) : nl.addChain(table, o.name));
        break;
      case 'flush-chain':
        out.push(nl.flushChain(table, o.name));
        break;
      case 'add-rule':
        if (!o.spec) throw new NetlinkUnsupportedError(`rule without a spec in ${o.chain}`);
        out.push(addRule(table, o.chain, o.spec, o.id, idOf));
        break;
      case 'delete-elements': {
        const type = typeOf(o.map);
        out.push(
          ...nl.deleteElements(
            table,
            o.map,
            o.keys.map((k) => keyBytes(type, k, undefined)),
          ),
        );
        break;
      }
      case 'flush-map':
        out.push(flushMap(table, o.map));
        break;
      case 'add-elements': {
        const type = typeOf(o.map);
        out.push(
          ...nl.addElements(
            table,
            o.map,
            o.elements.map((e) => elementSpec(type, e)),
            idOf(o.map),
          ),
        );
        break;
      }
      case 'delete-chain':
        out.push(nl.deleteChain(table, o.name));
        break;
      case 'delete-map':
        out.push(deleteMap(table, o.name));
        break;
      case 'delete-counter':
        out.push(counters.deleteCounter(table, o.name));
        break;
      case 'delete-object':
        throw new NetlinkUnsupportedError(`${o.kind} ${o.name}`);
    }
  }
  return out;
}

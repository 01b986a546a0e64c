/**
 * nf_tables netlink messages for building the whole table (the full path): the table, its maps,
 * base chains and the fixed rules of ruleset.ts. Pure. Each layout is what nft 1.0.6 sends for
 * the same nft text (`nft --debug=mnl`; the unit test holds the messages to nft's bytes), so nft
 * lists a table built here exactly as one it built itself, and the verify can read it back with
 * `nft -j`.
 */
import { addressBytes } from '../../core/addresses.js';
import type { BaseChainSpec, RuleSpec } from './model.js';
import {
  addServiceRule,
  addSnatRule,
  appendRule,
  attr,
  be32Attr,
  type Command,
  expr,
  hostU32,
  MSG,
  markBitwise,
  message,
  metaLoadMark,
  NFPROTO_INET,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_REQUEST,
  nest,
  strAttr,
} from './netlink-encode.js';

const TABLE = { NAME: 1, FLAGS: 2 } as const;
const SET = {
  TABLE: 1,
  NAME: 2,
  FLAGS: 3,
  KEY_TYPE: 4,
  KEY_LEN: 5,
  DATA_TYPE: 6,
  DATA_LEN: 7,
  ID: 10,
  USERDATA: 13,
  OBJ_TYPE: 15,
} as const;
const CHAIN = { TABLE: 1, NAME: 3, HOOK: 4, POLICY: 5, TYPE: 7 } as const;
const HOOK = { NUM: 1, PRIORITY: 2 } as const;

const NFT_SET_MAP = 0x08;
const NFT_SET_OBJECT = 0x40;
const NFT_DATA_VERDICT = 0xffffff00;
/** nft's datatype id of `mark`: the data type of the classifier maps. */
const NFT_TYPE_MARK = 19;
const NFT_OBJECT_COUNTER = 1;
/** libnftnl set user data: key and data byte order, "data interval" (as nft writes them). */
const UDATA_SET_KEYBYTEORDER = 0;
const UDATA_SET_DATABYTEORDER = 1;
const UDATA_SET_DATA_INTERVAL = 6;
const BYTEORDER_HOST = 1;
const BYTEORDER_BIG = 2;

/** nft's datatypes of the map keys the adapter uses: id, length, byte order. */
const KEY_TYPES: Record<string, { id: number; len: number; order: number }> = {
  ipv4_addr: { id: 7, len: 4, order: BYTEORDER_BIG },
  ipv6_addr: { id: 8, len: 16, order: BYTEORDER_BIG },
  mark: { id: 19, len: 4, order: BYTEORDER_HOST },
  uid: { id: 24, len: 4, order: BYTEORDER_HOST },
  gid: { id: 25, len: 4, order: BYTEORDER_HOST },
  cgroupsv2: { id: 46, len: 8, order: BYTEORDER_HOST },
};

const HOOKS: Record<BaseChainSpec['hook'], number> = { prerouting: 0, input: 1, output: 3, postrouting: 4 };

/** Something the netlink encoder does not write; the adapter then runs the change through nft. */
export class NetlinkUnsupportedError extends Error {
  constructor(what: string) {
    super(`not encoded over netlink: ${what}`);
    this.name = 'NetlinkUnsupportedError';
  }
}

export function addTable(table: string): Command {
  return { type: MSG.NEWTABLE, flags: NLM_F_CREATE, attrs: [strAttr(TABLE.NAME, table), be32Attr(TABLE.FLAGS, 0)] };
}

/** DELTABLE: the table and everything in it. */
export function deleteTable(table: string): Command {
  return { type: MSG.DELTABLE, flags: 0, attrs: [strAttr(TABLE.NAME, table)] };
}

/** GETTABLE of one table: a plain request, answered by NEWTABLE and the ACK, or ENOENT. */
export function getTable(table: string, seq: number): Buffer {
  return message((10 << 8) | MSG.GETTABLE, NLM_F_REQUEST | NLM_F_ACK, seq, NFPROTO_INET, [strAttr(TABLE.NAME, table)]);
}

function tlv(type: number, value: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUInt8(type, 0);
  b.writeUInt8(4, 1);
  b.writeUInt32LE(value, 2);
  return b;
}

/** Key length and type of a map's key type, or throws for a type the adapter never creates. */
export function keyType(type: string): { id: number; len: number; order: number } {
  const k = KEY_TYPES[type];
  if (!k) throw new NetlinkUnsupportedError(`map key type ${type}`);
  return k;
}

/**
 * NEWSET of a verdict map (`data` 'verdict'), a counter map ('counter') or a mark map ('mark');
 * `id` unique in the batch.
 */
export function addMap(table: string, name: string, type: string, data: string | null, id: number): Command {
  const k = keyType(type);
  const head = [strAttr(SET.TABLE, table), strAttr(SET.NAME, name)];
  const key = [be32Attr(SET.KEY_TYPE, k.id), be32Attr(SET.KEY_LEN, k.len)];
  if (data === 'verdict' || data === 'mark') {
    // A verdict map's data has no length or byte order of its own; a mark map's is a host-order u32.
    const verdict = data === 'verdict';
    return {
      type: MSG.NEWSET,
      flags: NLM_F_CREATE,
      attrs: [
        ...head,
        be32Attr(SET.FLAGS, NFT_SET_MAP),
        ...key,
        be32Attr(SET.DATA_TYPE, verdict ? NFT_DATA_VERDICT : NFT_TYPE_MARK),
        be32Attr(SET.DATA_LEN, verdict ? 0 : 4),
        be32Attr(SET.ID, id),
        attr(
          SET.USERDATA,
          Buffer.concat([
            tlv(UDATA_SET_KEYBYTEORDER, k.order),
            tlv(UDATA_SET_DATABYTEORDER, verdict ? 0 : BYTEORDER_HOST),
            tlv(UDATA_SET_DATA_INTERVAL, 0),
          ]),
        ),
      ],
    };
  }
  if (data === 'counter') {
    return {
      type: MSG.NEWSET,
      flags: NLM_F_CREATE,
      attrs: [
        ...head,
        be32Attr(SET.FLAGS, NFT_SET_OBJECT),
        ...key,
        be32Attr(SET.OBJ_TYPE, NFT_OBJECT_COUNTER),
        be32Attr(SET.ID, id),
        attr(SET.USERDATA, Buffer.concat([tlv(UDATA_SET_KEYBYTEORDER, k.order), tlv(UDATA_SET_DATA_INTERVAL, 0)])),
      ],
    };
  }
  throw new NetlinkUnsupportedError(`map ${name} with data ${String(data)}`);
}

/** DELSET: the map and its elements. */
export function deleteMap(table: string, name: string): Command {
  return { type: MSG.DELSET, flags: 0, attrs: [strAttr(SET.TABLE, table), strAttr(SET.NAME, name)] };
}

/** DELSETELEM without an element list: every element of the map (nft's `flush map`). */
export function flushMap(table: string, name: string): Command {
  return { type: MSG.DELSETELEM, flags: 0, attrs: [strAttr(1, table), strAttr(2, name)] };
}

/** NEWCHAIN of a base chain: type, policy and hook with its priority. */
export function addBaseChain(table: string, name: string, base: BaseChainSpec): Command {
  return {
    type: MSG.NEWCHAIN,
    flags: NLM_F_CREATE,
    attrs: [
      strAttr(CHAIN.TABLE, table),
      strAttr(CHAIN.NAME, name),
      strAttr(CHAIN.TYPE, base.type),
      be32Attr(CHAIN.POLICY, base.policy === 'accept' ? 1 : 0),
      nest(CHAIN.HOOK, [be32Attr(HOOK.NUM, HOOKS[base.hook]), be32Attr(HOOK.PRIORITY, base.prio)]),
    ],
  };
}

// --- the fixed rules -----------------------------------------------------------------------------

const REG_1 = 1;
const REG_VERDICT = 0;
const NFT_CT_STATE = 0;
const NFT_CT_MARK = 3;
const NFT_META_NFPROTO = 15;
const NFT_META_SKUID = 10;
const NFT_META_SKGID = 11;
const NFT_SOCKET_CGROUPV2 = 3;
const NFT_PAYLOAD_NETWORK_HEADER = 1;
const NFT_JUMP = -3;
const NFT_GOTO = -4;
const NFT_META_MARK = 3;
const IP_CT_NEW_BIT = 0x08;
const NFPROTO_IPV4 = 2;
const NFPROTO_IPV6 = 10;

function ctLoad(key: number): Buffer {
  return expr('ct', [be32Attr(2, key), be32Attr(1, REG_1)]);
}

function metaLoad(key: number): Buffer {
  return expr('meta', [be32Attr(2, key), be32Attr(1, REG_1)]);
}

/** cmp of register 1 against a 4-byte value: `op` 0 eq, 1 neq. */
function cmp(op: 0 | 1, value: Buffer): Buffer {
  return expr('cmp', [be32Attr(1, REG_1), be32Attr(2, op), nest(3, [attr(1, value)])]);
}

/** A map created in the same batch is named by its batch id too, as nft does. */
type SetIds = (map: string) => number | undefined;

function withId(attrs: Buffer[], type: number, id: number | undefined): Buffer[] {
  return id === undefined ? attrs : [...attrs, be32Attr(type, id)];
}

/** Lookup of register 1 in `set`: into the verdict register (vmap) or register 1 (data map). */
function lookup(set: string, ids: SetIds, dreg = REG_VERDICT): Buffer {
  return expr('lookup', withId([be32Attr(2, REG_1), be32Attr(3, dreg), strAttr(1, set)], 4, ids(set)));
}

/** `ct mark set <register 1 looked up in map> goto chain`: the tail of every classify rule. */
function markFrom(map: string, chain: string, ids: SetIds): Buffer[] {
  return [
    lookup(map, ids, REG_1),
    expr('ct', [be32Attr(2, NFT_CT_MARK), be32Attr(4, REG_1)]),
    verdict(NFT_GOTO, chain),
  ];
}

function verdict(code: number, chain: string): Buffer {
  const c = Buffer.alloc(4);
  c.writeInt32BE(code);
  return expr('immediate', [be32Attr(1, REG_VERDICT), nest(2, [nest(2, [attr(1, c), strAttr(2, chain)])])]);
}

/** `ct mark and M != 0`: ct load, bitwise and, cmp neq 0. */
function ctMarkAnyOf(m: number): Buffer[] {
  return [ctLoad(NFT_CT_MARK), markBitwise(m, 0), cmp(1, hostU32(0))];
}

function expressions(spec: RuleSpec, ids: SetIds): Buffer[] {
  switch (spec.kind) {
    case 'restore':
      return [...ctMarkAnyOf(spec.ours), ctLoad(NFT_CT_MARK), markBitwise(spec.mask, 0), lookup(spec.map, ids)];
    case 'pin':
      return [
        ...ctMarkAnyOf(spec.mask),
        metaLoadMark(),
        markBitwise(spec.mask, 0),
        cmp(0, hostU32(0)),
        ctLoad(NFT_CT_MARK),
        expr('meta', [be32Attr(2, NFT_META_MARK), be32Attr(3, REG_1)]),
      ];
    case 'service-lookup':
      return [ctLoad(NFT_CT_MARK), markBitwise(spec.mask, 0), lookup(spec.map, ids)];
    case 'classify-jump':
      return [
        ctLoad(NFT_CT_STATE),
        // nft sends the ct state test without a bitwise op attribute.
        expr('bitwise', [
          be32Attr(1, REG_1),
          be32Attr(2, REG_1),
          be32Attr(3, 4),
          nest(4, [attr(1, hostU32(IP_CT_NEW_BIT))]),
          nest(5, [attr(1, hostU32(0))]),
        ]),
        cmp(1, hostU32(0)),
        metaLoadMark(),
        markBitwise(spec.ours, 0),
        cmp(0, hostU32(0)),
        verdict(NFT_JUMP, spec.chain),
      ];
    case 'count':
      return [
        ...ctMarkAnyOf(spec.tagMask),
        ctLoad(NFT_CT_MARK),
        markBitwise(spec.tagMask, 0),
        // nft writes this set name without a NUL.
        expr('objref', withId([be32Attr(3, REG_1), attr(4, Buffer.from(spec.map))], 5, ids(spec.map))),
      ];
    case 'source-lookup': {
      const v4 = spec.family === 4;
      return [
        metaLoad(NFT_META_NFPROTO),
        cmp(0, Buffer.from([v4 ? NFPROTO_IPV4 : NFPROTO_IPV6])),
        expr('payload', [
          be32Attr(1, REG_1),
          be32Attr(2, NFT_PAYLOAD_NETWORK_HEADER),
          be32Attr(3, v4 ? 12 : 8),
          be32Attr(4, v4 ? 4 : 16),
        ]),
        ...markFrom(spec.map, spec.chain, ids),
      ];
    }
    case 'cgroup-lookup':
      return [
        expr('socket', [be32Attr(1, NFT_SOCKET_CGROUPV2), be32Attr(2, REG_1), be32Attr(3, spec.level)]),
        ...markFrom(spec.map, spec.chain, ids),
      ];
    case 'identity-lookup':
      return [metaLoad(spec.key === 'uid' ? NFT_META_SKUID : NFT_META_SKGID), ...markFrom(spec.map, spec.chain, ids)];
    default:
      throw new NetlinkUnsupportedError(`rule ${spec.kind}`);
  }
}

/**
 * NEWRULE appending the rule `spec` describes to `chain`, with its fingerprint comment; `ids`
 * gives the batch id of a map created in the same batch.
 */
export function addRule(
  table: string,
  chain: string,
  spec: RuleSpec,
  comment: string,
  ids: SetIds = () => undefined,
): Command {
  if (spec.kind === 'service') return addServiceRule(table, chain, spec.ours, spec.mark, comment);
  if (spec.kind === 'snat') {
    const address = addressBytes(spec.family, spec.address);
    if (!address) throw new NetlinkUnsupportedError(`SNAT address ${spec.address}`);
    return addSnatRule(table, chain, spec.mask, spec.mark, spec.ifname, spec.family, Buffer.from(address), comment);
  }
  return appendRule(table, chain, comment, expressions(spec, ids));
}

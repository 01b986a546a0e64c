/**
 * Rule records of the routing adapter: a dumped `ip rule` as a comparable record, its key, and
 * the RTM_NEWRULE / RTM_DELRULE messages. Pure.
 */
import { memoByObject } from '../../core/object-memo.js';
import type { Family } from '../../core/services.js';
import { afOf, familyOf } from './messages/addresses.js';
import { type Attrs, type RuleMessage, strOf, u8Of, u32, u32Of } from './messages/codec.js';
import { FIB_RULE_INVERT, FR_ACT_TO_TBL, FRA, RTPROT_NETSESSION } from './messages/constants.js';
import { setAddress, textOf } from './routes.js';

const U32_UNSET = 0xffffffff;

/** The fields of a rule that the kernel and the diff look at. */
export interface RuleSpec {
  family: Family;
  priority: number;
  table: number;
  /** FR_ACT_* */
  action: number;
  mark: number;
  mask: number;
  /** Canonical source prefix, '' when the rule has none. */
  src: string;
  srcLen: number;
  dst: string;
  dstLen: number;
  tos: number;
  /** Selectors we never install (iif, oif, uidrange, ports, not, ...), '' when none. */
  extra: string;
}

/** A rule as dumped. */
export interface KernelRule extends RuleSpec {
  protocol: number;
  raw?: RuleMessage;
}

/** `start-end` of a struct fib_rule_uid_range / fib_rule_port_range attribute. */
function rangeOf(b: Buffer | undefined, width: 2 | 4): string {
  if (!b || b.length < 2 * width) return '0-0';
  return width === 4 ? `${b.readUInt32LE(0)}-${b.readUInt32LE(4)}` : `${b.readUInt16LE(0)}-${b.readUInt16LE(2)}`;
}

/** Decodes one RTM_NEWRULE of a dump; null for families other than IPv4/IPv6. */
export function decodeRule(msg: RuleMessage): KernelRule | null {
  const family = familyOf(msg.family);
  if (!family) return null;
  const a = msg.attrs;
  const extra: string[] = [];
  if ((msg.flags & FIB_RULE_INVERT) !== 0) extra.push('not');
  const iif = strOf(a, FRA.IIFNAME);
  if (iif) extra.push(`iif ${iif}`);
  const oif = strOf(a, FRA.OIFNAME);
  if (oif) extra.push(`oif ${oif}`);
  if (a.has(FRA.UID_RANGE)) extra.push(`uidrange ${rangeOf(a.get(FRA.UID_RANGE), 4)}`);
  const ipProto = u8Of(a, FRA.IP_PROTO);
  if (ipProto) extra.push(`ipproto ${ipProto}`);
  if (a.has(FRA.SPORT_RANGE)) extra.push(`sport ${rangeOf(a.get(FRA.SPORT_RANGE), 2)}`);
  if (a.has(FRA.DPORT_RANGE)) extra.push(`dport ${rangeOf(a.get(FRA.DPORT_RANGE), 2)}`);
  if (u8Of(a, FRA.L3MDEV)) extra.push('l3mdev');
  const goto = u32Of(a, FRA.GOTO);
  if (goto !== undefined) extra.push(`goto ${goto}`);
  const flow = u32Of(a, FRA.FLOW);
  if (flow) extra.push(`realms ${flow}`);
  const tunId = a.get(FRA.TUN_ID);
  if (tunId?.some((x) => x !== 0)) extra.push(`tun_id ${tunId.toString('hex')}`);
  const sp = u32Of(a, FRA.SUPPRESS_PREFIXLEN);
  if (sp !== undefined && sp !== U32_UNSET) extra.push(`suppress_prefixlength ${sp}`);
  const sg = u32Of(a, FRA.SUPPRESS_IFGROUP);
  if (sg !== undefined && sg !== U32_UNSET) extra.push(`suppress_ifgroup ${sg}`);
  const mark = u32Of(a, FRA.FWMARK) ?? 0;
  return {
    family,
    priority: u32Of(a, FRA.PRIORITY) ?? 0,
    table: u32Of(a, FRA.TABLE) ?? msg.table,
    action: msg.action,
    mark,
    // The kernel reports FRA_FWMASK with every non-zero mark; a mark alone means "all bits".
    mask: u32Of(a, FRA.FWMASK) ?? (mark !== 0 ? U32_UNSET : 0),
    src: msg.srcLen > 0 ? textOf(family, a.get(FRA.SRC)) : '',
    srcLen: msg.srcLen,
    dst: msg.dstLen > 0 ? textOf(family, a.get(FRA.DST)) : '',
    dstLen: msg.dstLen,
    tos: msg.tos,
    extra: extra.join(' '),
    protocol: u8Of(a, FRA.PROTOCOL) ?? 0,
    raw: msg,
  };
}

/**
 * Everything that makes two rules the same rule for us (the protocol tag excluded). Once per rule
 * record: records are never modified, and the routing adapter asks for the keys of the same
 * records at every apply (its model keeps them); built each time, they were ~14 kB of garbage
 * per SourceIPRule session (V8's sampling heap profiler).
 */
export const ruleKey: (r: RuleSpec) => string = memoByObject((r: RuleSpec) =>
  (
    `${r.family} pref ${r.priority} action ${r.action} table ${r.table} fwmark ${r.mark}/${r.mask} ` +
    `from ${r.src || '-'}/${r.srcLen} to ${r.dst || '-'}/${r.dstLen} tos ${r.tos} ${r.extra}`
  ).trimEnd(),
);

/** `ip rule`-style text of a rule, for logs and error messages. */
export function describeRule(r: RuleSpec): string {
  const sel = r.srcLen > 0 ? `from ${r.src}/${r.srcLen}` : 'from all';
  const mark = r.mark !== 0 || r.mask !== 0 ? ` fwmark 0x${r.mark.toString(16)}/0x${r.mask.toString(16)}` : '';
  const extra = r.extra ? ` ${r.extra}` : '';
  return `rule -${r.family} pref ${r.priority} ${sel}${mark}${extra} lookup ${r.table}`;
}

/** The RTM_NEWRULE of a desired rule. */
export function addRuleMessage(r: RuleSpec): RuleMessage {
  const attrs: Attrs = new Map([
    [FRA.PRIORITY, u32(r.priority)],
    [FRA.TABLE, u32(r.table)],
    [FRA.PROTOCOL, Buffer.from([RTPROT_NETSESSION])],
  ]);
  if (r.mark !== 0 || r.mask !== 0) {
    attrs.set(FRA.FWMARK, u32(r.mark));
    attrs.set(FRA.FWMASK, u32(r.mask));
  }
  if (r.srcLen > 0) setAddress(attrs, FRA.SRC, r.family, r.src);
  return {
    kind: 'rule',
    family: afOf(r.family),
    dstLen: 0,
    srcLen: r.srcLen,
    tos: 0,
    table: 0,
    action: FR_ACT_TO_TBL,
    flags: 0,
    attrs,
  };
}

/** A delete that echoes every selector of the dumped rule (all attributes but padding). */
export function delRuleMessage(r: KernelRule): RuleMessage {
  let attrs: Attrs;
  if (r.raw) {
    attrs = new Map([...r.raw.attrs].filter(([t]) => t !== FRA.PAD));
  } else {
    attrs = new Map([
      [FRA.PRIORITY, u32(r.priority)],
      [FRA.TABLE, u32(r.table)],
    ]);
    if (r.mark) attrs.set(FRA.FWMARK, u32(r.mark));
    if (r.mask) attrs.set(FRA.FWMASK, u32(r.mask));
    if (r.srcLen > 0) setAddress(attrs, FRA.SRC, r.family, r.src);
    if (r.dstLen > 0) setAddress(attrs, FRA.DST, r.family, r.dst);
  }
  return {
    kind: 'rule',
    family: afOf(r.family),
    dstLen: r.dstLen,
    srcLen: r.srcLen,
    tos: r.tos,
    table: 0,
    action: r.raw?.action ?? r.action,
    flags: r.raw?.flags ?? 0,
    attrs,
  };
}

/**
 * Would the kernel's rule lookup for a delete request built from `req` (see
 * {@link delRuleMessage}) accept `r`? Mirrors `rule_find()` in net/core/fib_rules.c plus the
 * per-family compare: attributes absent from the request match anything.
 */
export function ruleDeleteMatches(req: KernelRule, r: KernelRule): boolean {
  if (r.family !== req.family || r.priority !== req.priority) return false;
  if (req.action && r.action !== req.action) return false;
  if (req.table && r.table !== req.table) return false;
  if (req.mark && r.mark !== req.mark) return false;
  if (req.mask && r.mask !== req.mask) return false;
  if (req.srcLen && (r.srcLen !== req.srcLen || r.src !== req.src)) return false;
  if (req.dstLen && (r.dstLen !== req.dstLen || r.dst !== req.dst)) return false;
  if (req.tos && r.tos !== req.tos) return false;
  if (req.protocol && r.protocol !== req.protocol) return false;
  // Selectors in `extra` are all sent with the request, so they must match too; a request
  // without any matches rules that have some (approximation: compared as one string).
  if (req.extra && r.extra !== req.extra) return false;
  return true;
}

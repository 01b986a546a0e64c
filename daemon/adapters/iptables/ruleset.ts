/**
 * Desired FirewallState → the chains, hooks and NFACCT objects the daemon owns in iptables
 * (a {@link DatapathModel}). Pure.
 *
 * For `mask` 0x0fff0000, `tagMask` 0x0000ffff and one session `s1` (tag 1) bound to the service
 * with mark 0x00020000 on eth-b, claiming uid 1001 and source 198.51.100.18, IPv4 holds (as an
 * iptables-restore script; every rule in an `NS-*` chain also carries
 * `-m comment --comment "ns:<fingerprint>"` just before its target, left out here):
 *
 * ```
 * *mangle
 * :NS-PREROUTING - [0:0]
 * :NS-OUTPUT - [0:0]
 * :NS-CLASSIFY - [0:0]
 * :NS-S-s1 - [0:0]
 * -A NS-PREROUTING -m connmark ! --mark 0x0/0xfffffff -j CONNMARK --restore-mark --mask 0xfffffff
 * -A NS-OUTPUT -m connmark ! --mark 0x0/0xfffffff -j CONNMARK --restore-mark --mask 0xfffffff
 * -A NS-OUTPUT -m conntrack --ctstate NEW -m mark --mark 0x0/0xfffffff -j NS-CLASSIFY
 * -A NS-CLASSIFY -s 198.51.100.18/32 -g NS-S-s1
 * -A NS-CLASSIFY -m owner --uid-owner 1001 -g NS-S-s1
 * -A NS-S-s1 -j MARK --set-xmark 0x20001/0xfffffff
 * -A NS-S-s1 -j CONNMARK --save-mark --mask 0xfffffff
 * -I PREROUTING 1 -j NS-PREROUTING
 * -I OUTPUT 1 -j NS-OUTPUT
 * COMMIT
 * *filter
 * :NS-TX - [0:0]
 * :NS-RX - [0:0]
 * -A NS-TX -m connmark --mark 0x0/0xffff -j RETURN
 * -A NS-TX -m connmark --mark 0x1/0xffff -m nfacct --nfacct-name ns-tx-s1 -j RETURN
 * -A NS-RX -m connmark --mark 0x0/0xffff -j RETURN
 * -A NS-RX -m connmark --mark 0x1/0xffff -m nfacct --nfacct-name ns-rx-s1 -j RETURN
 * -I OUTPUT 1 -j NS-TX
 * -I INPUT 1 -j NS-RX
 * COMMIT
 * *nat
 * :NS-POSTROUTING - [0:0]
 * -A NS-POSTROUTING -o eth-b -m mark --mark 0x20000/0xfff0000 -m addrtype --src-type LOCAL -j SNAT --to-source 198.51.100.18
 * -I POSTROUTING 1 -j NS-POSTROUTING
 * COMMIT
 * ```
 * IPv6 holds the same chains with the v6 source claims and v6 SNAT addresses; uid, gid and cgroup
 * claims go into both families. The NFACCT objects `ns-tx-s1` and `ns-rx-s1` are shared by the
 * two families (NFACCT objects have no family), so a session's counters total v4 and v6 like the
 * nftables backend's `inet` counters. A gid claim is `-m owner --gid-owner G --suppl-groups`, a
 * cgroup claim `-m cgroup --path /a/b`.
 *
 * Same semantics as the nftables backend (see ../nftables/ruleset.ts), with these differences:
 * - No verdict maps: NS-CLASSIFY has one rule per classifier, in the order source → cgroup
 *   (deepest first, so the most specific claim wins: xt_cgroup matches descendants too) → uid →
 *   gid, each a goto (`-g`), so the first match wins. This is O(classifiers) per NEW connection
 *   that carries none of our bits, never per packet: every later packet has its mark restored
 *   from conntrack first. That is the legacy backend's known classification cost.
 * - Counting is one rule per session in NS-TX (hooked from filter OUTPUT) and NS-RX (filter
 *   INPUT), each ending in RETURN: O(sessions) per packet of a session's connections (untagged
 *   packets leave at the first rule). That is the legacy backend's known counting cost; nftables
 *   does it with one map lookup.
 * - The counting rules live in the filter table (hook priority 0, after mangle; ConnMan's old
 *   NFACCT rules were there too), not in mangle, for a cost that grows with the square of the
 *   session count: iptables-legacy replaces a whole table on every change, and the kernel then
 *   checks every rule again, each `-m nfacct` rule looking its object up in a linear list
 *   (measured at 10,000 sessions: 2.5 s per restore of the table holding them, 0.25 s without).
 *   Kept apart, moving a session (mangle only) does not pay it; adding or removing one does.
 * - The restore keeps other users' bits: `CONNMARK --restore-mark --mask OURS` computes
 *   `mark = (mark & ~OURS) ^ (ctmark & OURS)` (nft 1.0.6 can only copy the whole ct mark).
 * - A gid claim also matches processes that hold the gid as a supplementary group
 *   (`--suppl-groups`, which checks the socket's file credentials); nft's `meta skgid` sees only
 *   the fsgid.
 * - The comment match sits after the discriminating matches, so a packet that fails them never
 *   pays for it.
 */

import { canonicalAddress } from '../../core/addresses.js';
import type { Classifier, FirewallState } from '../../core/kernel-state-types.js';
import type { Family } from '../../core/services.js';
import type { CgroupRef } from '../firewall/cgroup.js';
import { cgroupComponents } from '../firewall/cgroup.js';
import { fingerprint } from '../firewall/fingerprint.js';
import { type FirewallNaming, planFirewall } from '../firewall/plan.js';
import type { ChainModel, DatapathModel, FamilyModel, RuleModel, TableModel, TableName } from './model.js';
import { COMMENT_PREFIX, emptyDatapath, hex, NFACCT_RX_PREFIX, NFACCT_TX_PREFIX } from './model.js';

/** The fixed chains: the first three in mangle, NS-TX and NS-RX in filter, NS-POSTROUTING in nat. */
export const CHAIN = {
  prerouting: 'NS-PREROUTING',
  output: 'NS-OUTPUT',
  classify: 'NS-CLASSIFY',
  tx: 'NS-TX',
  rx: 'NS-RX',
  postrouting: 'NS-POSTROUTING',
} as const;

/** Per-session chain `NS-S-<key>`. */
export const SESSION_CHAIN_PREFIX = 'NS-S-';

/** Built-in chain → our chain it jumps to, per table. */
export const HOOKS: Record<TableName, ReadonlyArray<{ chain: string; target: string }>> = {
  mangle: [
    { chain: 'PREROUTING', target: CHAIN.prerouting },
    { chain: 'OUTPUT', target: CHAIN.output },
  ],
  filter: [
    { chain: 'OUTPUT', target: CHAIN.tx },
    { chain: 'INPUT', target: CHAIN.rx },
  ],
  nat: [{ chain: 'POSTROUTING', target: CHAIN.postrouting }],
};

/**
 * Session keys must make chain names under iptables' 29-character limit (`NS-S-` + 23) and NFACCT
 * names under its 32 bytes (`ns-tx-` + 23 + NUL).
 */
const SESSION_KEY = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,22}$/;
/** Interface names iptables matches exactly: no `+` (its wildcard), no `!`, nothing to quote. */
const IFNAME = /^[^\s"'\\/:+!]{1,15}$/;

const IPTABLES_NAMING: FirewallNaming = {
  sessionKey: SESSION_KEY,
  sessionKeyProblem: 'iptables chain / NFACCT name (at most 23 of [A-Za-z0-9_.-])',
  ifname: IFNAME,
  ifnameProblem: 'cannot be matched exactly by iptables',
  hex,
};
const DECIMAL = /^\d{1,10}$/;
/** Cgroup paths that go through iptables-restore's quoting unchanged (xt_cgroup v2 allows 512 bytes). */
const CGROUP_PATH = /^\/[^\s"'\\\x00-\x1f\x7f]{0,500}$/;
const UINT32_MAX = 0xffffffff;

/** Options of {@link buildRuleset}. */
export interface RulesetOptions {
  /**
   * Resolves a cgroup path (as in Classifier.key): its id goes into the rule's fingerprint (so a
   * cgroup removed and created again is matched afresh) and its level orders the rules. null when
   * it does not exist here: iptables would reject the whole batch for it.
   */
  cgroup: (path: string) => CgroupRef | null;
}

/** What the state requires, and why anything was left out. */
export interface Ruleset {
  model: DatapathModel;
  /** One line per session or classifier that could not be expressed (and was skipped). */
  warnings: string[];
}

/** A rule before it gets its comment: matches, then the target (`-j ...` / `-g ...`). */
export interface RuleSpec {
  match: string;
  target: string;
  /** Anything else that should change the fingerprint (the cgroup id). */
  salt?: string;
}

/** `<match> -m comment --comment "ns:<fingerprint>" <target>`, with its fingerprint as id. */
export function withComment(spec: RuleSpec): RuleModel {
  const body = spec.match === '' ? spec.target : `${spec.match} ${spec.target}`;
  const id = fingerprint(spec.salt === undefined ? body : `${body}\n${spec.salt}`);
  const comment = `-m comment --comment "${COMMENT_PREFIX}${id}"`;
  return { id, text: spec.match === '' ? `${comment} ${spec.target}` : `${spec.match} ${comment} ${spec.target}` };
}

// ---------------------------------------------------------------------------------------------
// Rule builders. Each doc line is the command it amounts to (comment left out).
// ---------------------------------------------------------------------------------------------

/**
 * `iptables -t mangle -A NS-OUTPUT|NS-PREROUTING -m connmark ! --mark 0x0/OURS -j CONNMARK --restore-mark --mask OURS`:
 * a pinned connection's packets get our bits back from conntrack (other bits kept).
 */
export function restoreRule(ours: number): RuleSpec {
  return { match: `-m connmark ! --mark 0x0/${hex(ours)}`, target: `-j CONNMARK --restore-mark --mask ${hex(ours)}` };
}

/**
 * `iptables -t mangle -A NS-OUTPUT -m conntrack --ctstate NEW -m mark --mark 0x0/OURS -j NS-CLASSIFY`:
 * only new connections that carry none of our bits are classified.
 */
export function classifyJumpRule(ours: number): RuleSpec {
  return { match: `-m conntrack --ctstate NEW -m mark --mark 0x0/${hex(ours)}`, target: `-j ${CHAIN.classify}` };
}

/**
 * `iptables -t filter -A NS-TX|NS-RX -m connmark --mark 0x0/TAGMASK -j RETURN` (first rule):
 * packets of connections no session owns skip the counting rules.
 */
export function uncountedRule(tagMask: number): RuleSpec {
  return { match: `-m connmark --mark 0x0/${hex(tagMask)}`, target: '-j RETURN' };
}

/**
 * `iptables -t filter -A NS-TX|NS-RX -m connmark --mark TAG/TAGMASK -m nfacct --nfacct-name NAME -j RETURN`:
 * the session's NFACCT object counts the whole packet (IP header included, as nft's counter).
 */
export function countRule(tag: number, tagMask: number, nfacctName: string): RuleSpec {
  return {
    match: `-m connmark --mark ${hex(tag)}/${hex(tagMask)} -m nfacct --nfacct-name ${nfacctName}`,
    target: '-j RETURN',
  };
}

/** `iptables -t mangle -A NS-S-<key> -j MARK --set-xmark (MARK|TAG)/OURS`: other bits kept. */
export function sessionMarkRule(ours: number, mark: number, tag: number): RuleSpec {
  return { match: '', target: `-j MARK --set-xmark ${hex((mark | tag) >>> 0)}/${hex(ours)}` };
}

/** `iptables -t mangle -A NS-S-<key> -j CONNMARK --save-mark --mask OURS`: pins the connection. */
export function sessionSaveRule(ours: number): RuleSpec {
  return { match: '', target: `-j CONNMARK --save-mark --mask ${hex(ours)}` };
}

/** `iptables -t mangle -A NS-CLASSIFY -s ADDR/32 -g NS-S-<key>` (`/128` for ip6tables). */
export function sourceRule(family: Family, address: string, sessionKey: string): RuleSpec {
  return { match: `-s ${address}/${family === 4 ? 32 : 128}`, target: `-g ${SESSION_CHAIN_PREFIX}${sessionKey}` };
}

/**
 * `iptables -t mangle -A NS-CLASSIFY -m cgroup --path /a/b -g NS-S-<key>` (cgroup v2; the kernel
 * resolves the path when the rule is added and matches the cgroup and its descendants).
 */
export function cgroupRule(path: string, sessionKey: string, id: string): RuleSpec {
  return {
    match: `-m cgroup --path ${path}`,
    target: `-g ${SESSION_CHAIN_PREFIX}${sessionKey}`,
    salt: `cgroup id ${id}`,
  };
}

/** `iptables -t mangle -A NS-CLASSIFY -m owner --uid-owner UID -g NS-S-<key>`. */
export function uidRule(uid: number, sessionKey: string): RuleSpec {
  return { match: `-m owner --uid-owner ${uid}`, target: `-g ${SESSION_CHAIN_PREFIX}${sessionKey}` };
}

/**
 * `iptables -t mangle -A NS-CLASSIFY -m owner --gid-owner GID --suppl-groups -g NS-S-<key>`:
 * the socket's fsgid or any of its supplementary groups.
 */
export function gidRule(gid: number, sessionKey: string): RuleSpec {
  return { match: `-m owner --gid-owner ${gid} --suppl-groups`, target: `-g ${SESSION_CHAIN_PREFIX}${sessionKey}` };
}

/**
 * `iptables -t nat -A NS-POSTROUTING -o IF -m mark --mark MARK/MASK -m addrtype --src-type LOCAL -j SNAT --to-source ADDR`:
 * only traffic we re-marked, leaving by that service's interface, from a local address (never
 * forwarded traffic).
 */
export function snatRule(mask: number, mark: number, ifname: string, address: string): RuleSpec {
  return {
    match: `-o ${ifname} -m mark --mark ${hex(mark)}/${hex(mask)} -m addrtype --src-type LOCAL`,
    target: `-j SNAT --to-source ${address}`,
  };
}

// ---------------------------------------------------------------------------------------------

/** NFACCT object names of a session. */
export function nfacctNames(sessionKey: string): { tx: string; rx: string } {
  return { tx: `${NFACCT_TX_PREFIX}${sessionKey}`, rx: `${NFACCT_RX_PREFIX}${sessionKey}` };
}

function chain(name: string, specs: RuleSpec[]): ChainModel {
  return { name, rules: specs.map(withComment) };
}

/** Rule models are immutable: both families share them (each fingerprint is computed once). */
function chainOf(name: string, rules: RuleModel[]): ChainModel {
  return { name, rules };
}

function table(chains: ChainModel[], hooks: TableName): TableModel {
  return {
    chains: new Map(chains.map((c) => [c.name, c])),
    hooks: HOOKS[hooks].map((h) => ({ chain: h.chain, target: h.target, spec: `-j ${h.target}`, plain: true })),
  };
}

const KIND_RANK: Record<Classifier['kind'], number> = { source: 0, cgroup: 1, uid: 2, gid: 3 };

interface Claim {
  rank: number;
  /** cgroup depth, deepest first within the cgroup kind. */
  level: number;
  seq: number;
  families: Family[];
  spec: RuleSpec;
}

/**
 * Builds what a FirewallState requires. Throws only for invalid masks (nothing sensible can be
 * built then); a bad session or classifier is skipped and reported in `warnings`.
 */
export function buildRuleset(state: FirewallState, opts: RulesetOptions): Ruleset {
  const { mask, tagMask } = state;
  const { ours, sessions, live, snat, warnings } = planFirewall(state, IPTABLES_NAMING);
  const model = emptyDatapath();

  const sessionChains: ChainModel[] = [];
  const tx: RuleSpec[] = [];
  const rx: RuleSpec[] = [];
  for (const s of sessions) {
    sessionChains.push(
      chain(`${SESSION_CHAIN_PREFIX}${s.sessionKey}`, [sessionMarkRule(ours, s.mark, s.tag), sessionSaveRule(ours)]),
    );
    const names = nfacctNames(s.sessionKey);
    model.nfacct.add(names.tx);
    model.nfacct.add(names.rx);
    tx.push(countRule(s.tag, tagMask, names.tx));
    rx.push(countRule(s.tag, tagMask, names.rx));
  }

  const claims: Claim[] = [];
  const claimed = new Set<string>();
  state.classifiers.forEach((c, seq) => {
    if (!live.has(c.sessionKey)) {
      warnings.push(`${c.kind} ${c.key}: owner ${c.sessionKey} is not a usable session; skipped`);
      return;
    }
    const r = claimOf(c, seq, opts);
    if (typeof r === 'string') {
      warnings.push(r);
      return;
    }
    if (claimed.has(r.norm)) {
      warnings.push(`${c.kind} ${c.key}: claimed twice; the first claim is kept`);
      return;
    }
    claimed.add(r.norm);
    claims.push(r.claim);
  });
  claims.sort((a, b) => a.rank - b.rank || b.level - a.level || a.seq - b.seq);

  const natRules = snat;

  const claimRules = claims.map((c) => ({ families: c.families, rule: withComment(c.spec) }));
  const uncounted = withComment(uncountedRule(tagMask));
  const txRules = [uncounted, ...tx.map(withComment)];
  const rxRules = [uncounted, ...rx.map(withComment)];
  const restore = withComment(restoreRule(ours));
  const output = [restore, withComment(classifyJumpRule(ours))];
  for (const family of [4, 6] as const) {
    const fam: FamilyModel = model.families[family];
    fam.tables.mangle = table(
      [
        chainOf(CHAIN.prerouting, [restore]),
        chainOf(CHAIN.output, output),
        chainOf(
          CHAIN.classify,
          claimRules.filter((c) => c.families.includes(family)).map((c) => c.rule),
        ),
        ...sessionChains,
      ],
      'mangle',
    );
    fam.tables.filter = table([chainOf(CHAIN.tx, txRules), chainOf(CHAIN.rx, rxRules)], 'filter');
    fam.tables.nat = table(
      [
        chain(
          CHAIN.postrouting,
          natRules.filter((n) => n.family === family).map((n) => snatRule(mask, n.mark, n.ifname, n.address)),
        ),
      ],
      'nat',
    );
  }
  return { model, warnings };
}

function claimOf(c: Classifier, seq: number, opts: RulesetOptions): { claim: Claim; norm: string } | string {
  const rank = KIND_RANK[c.kind];
  switch (c.kind) {
    case 'uid':
    case 'gid': {
      if (!DECIMAL.test(c.key) || Number(c.key) > UINT32_MAX)
        return `${c.kind} ${JSON.stringify(c.key)} is not a number`;
      const n = Number(c.key);
      const spec = c.kind === 'uid' ? uidRule(n, c.sessionKey) : gidRule(n, c.sessionKey);
      return { claim: { rank, level: 0, seq, families: [4, 6], spec }, norm: `${c.kind}:${n}` };
    }
    case 'source': {
      const family: Family = c.family ?? (c.key.includes(':') ? 6 : 4);
      const address = canonicalAddress(family, c.key);
      if (address === null) return `source ${JSON.stringify(c.key)} is not an IPv${family} address`;
      return {
        claim: { rank, level: 0, seq, families: [family], spec: sourceRule(family, address, c.sessionKey) },
        norm: `source:${family}:${address}`,
      };
    }
    case 'cgroup': {
      const parts = cgroupComponents(c.key);
      const path = parts === null ? null : `/${parts.join('/')}`;
      if (path === null || !CGROUP_PATH.test(path))
        return `cgroup ${JSON.stringify(c.key)} cannot be passed to iptables; skipped`;
      const ref = opts.cgroup(c.key);
      if (ref === null) return `cgroup ${JSON.stringify(c.key)} does not exist (or cgroup2 is not mounted); skipped`;
      return {
        claim: { rank, level: ref.level, seq, families: [4, 6], spec: cgroupRule(path, c.sessionKey, ref.id) },
        norm: `cgroup:${ref.id}`,
      };
    }
  }
}

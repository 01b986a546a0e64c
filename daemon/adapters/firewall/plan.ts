/**
 * What both firewall backends (nftables, iptables + NFACCT) do to a FirewallState before they
 * express it in their own syntax: check the masks, keep the sessions and services they can name
 * (dropping invalid or duplicate ones with a warning), and gather the service marks that get a
 * chain and the SNAT entries (one per service mark, interface and family), in a deterministic order.
 */
import { canonicalAddress } from '../../core/addresses.js';
import type { FirewallState, ServiceMarking, SessionMarking } from '../../core/kernel-state-types.js';
import type { Family } from '../../core/services.js';

const UINT32_MAX = 0xffffffff;

/** How one backend names things, and how its warnings say so. */
export interface FirewallNaming {
  /** Session keys the backend can turn into chain/counter names. */
  sessionKey: RegExp;
  /** "… is not a valid <this>" */
  sessionKeyProblem: string;
  /** Interface names the backend can match exactly. */
  ifname: RegExp;
  /** "interface name … <this>" */
  ifnameProblem: string;
  /** Mark formatting in messages. */
  hex(n: number): string;
}

/** One SNAT rule: traffic re-marked for service `mark` leaving by `ifname` gets `address`. */
export interface SnatEntry {
  mark: number;
  ifname: string;
  family: Family;
  address: string;
}

export interface FirewallPlan {
  /** Every mark bit the daemon owns (`mask | tagMask`). */
  ours: number;
  /** Usable sessions, in state order, each key and tag once. */
  sessions: SessionMarking[];
  /** Keys of `sessions` (classifiers of other owners must be skipped). */
  live: Set<string>;
  /** Non-zero marks of the listed services and of the sessions' services, ascending. */
  marks: number[];
  /** Sorted by mark, interface, family. */
  snat: SnatEntry[];
  warnings: string[];
}

function isMask(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= UINT32_MAX;
}

/** Bits of `value` outside `mask`, as an unsigned number. */
function outside(value: number, mask: number): number {
  return (value & ~mask) >>> 0;
}

export function checkSession(s: SessionMarking, state: FirewallState, naming: FirewallNaming): string | null {
  if (!naming.sessionKey.test(s.sessionKey))
    return `session key ${JSON.stringify(s.sessionKey)} is not a valid ${naming.sessionKeyProblem}`;
  if (!Number.isInteger(s.tag) || s.tag <= 0 || s.tag > UINT32_MAX || outside(s.tag, state.tagMask) !== 0) {
    return `session ${s.sessionKey}: tag ${String(s.tag)} is zero or outside tagMask ${naming.hex(state.tagMask)}`;
  }
  if (!Number.isInteger(s.mark) || s.mark < 0 || s.mark > UINT32_MAX || outside(s.mark, state.mask) !== 0) {
    return `session ${s.sessionKey}: mark ${String(s.mark)} is outside mask ${naming.hex(state.mask)}`;
  }
  if (s.mark !== 0 && s.ifname !== '' && !naming.ifname.test(s.ifname)) {
    return `session ${s.sessionKey}: interface name ${JSON.stringify(s.ifname)} ${naming.ifnameProblem}`;
  }
  return null;
}

export function checkService(svc: ServiceMarking, state: FirewallState, naming: FirewallNaming): string | null {
  const { mark } = svc;
  if (!Number.isInteger(mark) || mark <= 0 || mark > UINT32_MAX || outside(mark, state.mask) !== 0)
    return `service mark ${String(mark)} is zero or outside mask ${naming.hex(state.mask)}; skipped`;
  if (!naming.ifname.test(svc.ifname))
    return `service ${naming.hex(mark)}: interface name ${JSON.stringify(svc.ifname)} ${naming.ifnameProblem}`;
  return null;
}

/**
 * Plans the backend-independent part. Throws only for invalid masks (nothing sensible can be
 * built then); a bad session is skipped and reported in `warnings`.
 */
export function planFirewall(state: FirewallState, naming: FirewallNaming): FirewallPlan {
  const { mask, tagMask } = state;
  if (!isMask(mask) || !isMask(tagMask) || (mask & tagMask) !== 0) {
    throw new Error(
      `firewall masks must be non-zero, 32-bit and disjoint (mask ${String(mask)}, tagMask ${String(tagMask)})`,
    );
  }
  const warnings: string[] = [];
  const sessions: SessionMarking[] = [];
  const live = new Set<string>();
  const tags = new Set<number>();
  const snat = new Map<string, SnatEntry>();
  const marks = new Set<number>();
  const seenServices = new Set<number>();
  // Sessions of one service share its few addresses: parse each once.
  const parsed = new Map<string, string | null>();
  const canonical = (family: Family, address: string): string | null => {
    const k = `${family}/${address}`;
    let v = parsed.get(k);
    if (v === undefined) {
      v = canonicalAddress(family, address);
      parsed.set(k, v);
    }
    return v;
  };
  const addSnat = (m: ServiceMarking, who: string): void => {
    for (const n of m.snat) {
      const address = canonical(n.family, n.address);
      if (address === null) {
        warnings.push(`${who}: SNAT address ${JSON.stringify(n.address)} does not parse`);
        continue;
      }
      const k = `${m.mark} ${m.ifname} ${n.family}`;
      if (!snat.has(k)) snat.set(k, { mark: m.mark, ifname: m.ifname, family: n.family, address });
    }
  };
  for (const s of state.sessions) {
    const problem = checkSession(s, state, naming);
    if (problem) {
      warnings.push(problem);
      continue;
    }
    if (live.has(s.sessionKey) || tags.has(s.tag)) {
      warnings.push(`session ${s.sessionKey}: duplicate key or tag ${naming.hex(s.tag)}; skipped`);
      continue;
    }
    live.add(s.sessionKey);
    tags.add(s.tag);
    sessions.push(s);
    if (s.mark !== 0) marks.add(s.mark);
    if (s.mark !== 0 && s.ifname !== '') addSnat(s, `session ${s.sessionKey}`);
  }
  for (const svc of state.services ?? []) {
    const problem = checkService(svc, state, naming);
    if (problem) warnings.push(problem);
    else if (seenServices.has(svc.mark))
      warnings.push(`service ${naming.hex(svc.mark)}: listed twice; the first is kept`);
    else {
      seenServices.add(svc.mark);
      marks.add(svc.mark);
      addSnat(svc, `service ${naming.hex(svc.mark)}`);
    }
  }
  const sortedSnat = [...snat.values()].sort(
    (a, b) => a.mark - b.mark || (a.ifname < b.ifname ? -1 : a.ifname > b.ifname ? 1 : 0) || a.family - b.family,
  );
  const sortedMarks = [...marks].sort((a, b) => a - b);
  return { ours: (mask | tagMask) >>> 0, sessions, live, marks: sortedMarks, snat: sortedSnat, warnings };
}

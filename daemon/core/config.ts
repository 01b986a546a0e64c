/**
 * The core's own configuration: which mark bits, routing-table ids and `ip rule` priorities the
 * daemon may use, and the per-caller session limits. Everything the daemon puts in the kernel is
 * tagged by these ranges, which is how a restarted daemon finds (and cleans up or adopts) what it
 * left, and how it coexists with other users of marks and tables.
 */
import { type IntRange, markIndexRange } from './alloc.js';
import { ConfigError } from './errors.js';

/** Configuration of the pure core. Validate with {@link validateCoreConfig} before use. */
export interface CoreConfig {
  /** Packet-mark bits the daemon owns; non-zero, contiguous. Default `0x0fff0000` (4095 marks). */
  markMask: number;
  /**
   * Mark bits that carry a per-session tag (conntrack remembers it, so replies are counted to the
   * session too). Contiguous and disjoint from `markMask`. Default `0x0000ffff` (65535 sessions).
   */
  sessionTagMask: number;
  /** Routing-table ids the daemon owns. Must avoid 0 (unspec) and 253-255 (default, main, local). */
  tableRange: IntRange;
  /**
   * `ip rule` priorities the daemon owns: lower half source-address rules, upper half fwmark
   * rules (see `priorityForSlot`). Must lie in 1..32765 so every rule is looked up before `main`
   * (32766); priority 0 is the kernel's `local` rule.
   */
  priorityRange: IntRange;
  /** Most live sessions one D-Bus connection may own. */
  maxSessionsPerClient: number;
  /** Most live sessions all connections of one uid may own together. */
  maxSessionsPerUid: number;
  /** Most policy groups in force across all policy files (`MaxPolicyGroups`). */
  maxPolicyGroups: number;
  /** Most `[service_*]` sections in force across all provisioning files (`MaxProvisioningServices`). */
  maxProvisioningServices: number;
}

/** The defaults: 4095 marks in `0x0fff0000`, tables and priorities 10000-10999, 64/256 sessions, 1,000 policy groups, 1,000 provisioned services. */
export const DEFAULT_CORE_CONFIG: Readonly<CoreConfig> = Object.freeze({
  markMask: 0x0fff0000,
  sessionTagMask: 0x0000ffff,
  tableRange: Object.freeze({ start: 10000, end: 10999 }),
  priorityRange: Object.freeze({ start: 10000, end: 10999 }),
  maxSessionsPerClient: 64,
  maxSessionsPerUid: 256,
  maxPolicyGroups: 1_000,
  maxProvisioningServices: 1_000,
});

const UINT32_MAX = 0xffffffff;
/** Kernel rule priority of the `main` lookup; ours must all come before it. */
const MAIN_RULE_PRIORITY = 32766;

const hex = (v: unknown): string =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 ? `0x${v.toString(16)}` : String(v);

function checkRange(key: string, r: unknown, min: number, max: number): IntRange {
  if (typeof r !== 'object' || r === null) throw new ConfigError(`${key} must be an object { start, end }`);
  const { start, end } = r as Partial<IntRange>;
  for (const [name, v] of [
    ['start', start],
    ['end', end],
  ] as const) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new ConfigError(`${key}.${name} must be an integer in ${min}..${max}, got ${String(v)}`);
    }
  }
  if ((start as number) > (end as number))
    throw new ConfigError(`${key}.start (${start}) must not be greater than ${key}.end (${end})`);
  return { start: start as number, end: end as number };
}

function checkPositive(key: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
    throw new ConfigError(`${key} must be a positive integer, got ${String(v)}`);
  return v;
}

/**
 * Checks every key and returns a fresh copy. Throws {@link ConfigError} with a one-line message
 * that starts with the offending key's name.
 */
export function validateCoreConfig(c: CoreConfig): CoreConfig {
  const markMask: unknown = c.markMask;
  if (typeof markMask !== 'number' || !Number.isInteger(markMask) || markMask < 1 || markMask > UINT32_MAX) {
    throw new ConfigError(`markMask must be a non-zero 32-bit mask, got ${hex(markMask)}`);
  }
  markIndexRange(markMask); // throws ConfigError('markMask ...') for non-contiguous bits
  const sessionTagMask: unknown = c.sessionTagMask;
  if (
    typeof sessionTagMask !== 'number' ||
    !Number.isInteger(sessionTagMask) ||
    sessionTagMask < 1 ||
    sessionTagMask > UINT32_MAX
  ) {
    throw new ConfigError(`sessionTagMask must be a non-zero 32-bit mask, got ${hex(sessionTagMask)}`);
  }
  markIndexRange(sessionTagMask, 'sessionTagMask');
  // Both masks are < 2^32; `&` on int32 still tells whether any bit is shared.
  if ((markMask & sessionTagMask) !== 0) {
    throw new ConfigError(`sessionTagMask ${hex(sessionTagMask)} must not share bits with markMask ${hex(markMask)}`);
  }

  const tableRange = checkRange('tableRange', c.tableRange, 1, UINT32_MAX);
  if (tableRange.start <= 255 && tableRange.end >= 253) {
    throw new ConfigError(
      `tableRange ${tableRange.start}..${tableRange.end} overlaps the kernel's tables 253-255 (default, main, local)`,
    );
  }

  const priorityRange = checkRange('priorityRange', c.priorityRange, 1, MAIN_RULE_PRIORITY - 1);
  if (priorityRange.end - priorityRange.start + 1 < 2) {
    throw new ConfigError(`priorityRange must hold at least 2 priorities (one source and one fwmark rule per service)`);
  }

  return {
    markMask,
    sessionTagMask,
    tableRange,
    priorityRange,
    maxSessionsPerClient: checkPositive('maxSessionsPerClient', c.maxSessionsPerClient),
    maxSessionsPerUid: checkPositive('maxSessionsPerUid', c.maxSessionsPerUid),
    maxPolicyGroups: checkPositive('maxPolicyGroups', c.maxPolicyGroups),
    maxProvisioningServices: checkPositive('maxProvisioningServices', c.maxProvisioningServices),
  };
}

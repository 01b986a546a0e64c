/**
 * Address arithmetic for the desired kernel state: parsing, RFC 5952 text, raw bytes, networks.
 * Pure; no node:net, so the core stays free of I/O modules.
 */
import { BoundedMap } from './bounded-map.js';
import type { Family } from './services.js';

function parseV4(s: string): number[] | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out.push(n);
  }
  return out;
}

function parseV6(text: string): number[] | null {
  let s = text;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const groups: number[] = [];
  const pushGroups = (part: string, allowV4Tail: boolean): boolean => {
    if (part === '') return true;
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as string;
      if (allowV4Tail && i === items.length - 1 && item.includes('.')) {
        const v4 = parseV4(item);
        if (!v4) return false;
        groups.push(((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number));
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(item)) return false;
        groups.push(parseInt(item, 16));
      }
    }
    return true;
  };
  const halves = s.split('::');
  if (halves.length > 2) return null;
  if (halves.length === 1) {
    if (!pushGroups(s, true) || groups.length !== 8) return null;
  } else {
    if (!pushGroups(halves[0] as string, false)) return null;
    const head = groups.length;
    if (!pushGroups(halves[1] as string, true)) return null;
    const missing = 8 - groups.length;
    if (missing < 1) return null;
    groups.splice(head, 0, ...new Array<number>(missing).fill(0));
  }
  const bytes: number[] = [];
  for (const g of groups) bytes.push(g >> 8, g & 0xff);
  return bytes;
}

function formatV6(bytes: readonly number[]): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((bytes[i] as number) << 8) | (bytes[i + 1] as number));
  // RFC 5952: compress the longest run (≥ 2) of zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

/**
 * Parses are remembered: the same few addresses (the uplinks', the sessions' source addresses)
 * are parsed again by every routing and firewall plan: ~30 µs of daemon CPU per SourceIPRule
 * create/destroy pair in the profile (bench/source-ip-rule-profile.ts).
 * Bounded: cleared when it holds this many texts.
 */
const PARSE_CACHE_LIMIT = 4096;

/** A per-family cache of one function of the address text (its values are never undefined). */
function remembered<T>(compute: (family: Family, address: string) => T): (family: Family, address: string) => T {
  const caches = [new BoundedMap<string, T>(PARSE_CACHE_LIMIT), new BoundedMap<string, T>(PARSE_CACHE_LIMIT)];
  return (family, address) => {
    const cache = caches[family === 4 ? 0 : 1]!;
    const known = cache.get(address);
    return known !== undefined ? known : cache.set(address, compute(family, address));
  };
}

const parsed = remembered((family, address): readonly number[] | null =>
  family === 4 ? parseV4(address) : parseV6(address),
);

function parseAddress(family: Family, address: string): number[] | null {
  // A copy: callers may change it (networkOf clears host bits in place).
  return parsed(family, address)?.slice() ?? null;
}

function formatAddress(family: Family, bytes: readonly number[]): string {
  return family === 4 ? bytes.join('.') : formatV6(bytes);
}

/** The address as bytes in network order (4 or 16), or null when it does not parse. */
export function addressBytes(family: Family, address: string): number[] | null {
  return parseAddress(family, address);
}

const canonical = remembered((family, address): string | null => {
  const bytes = parsed(family, address);
  return bytes ? formatAddress(family, bytes) : null;
});

/** The address in canonical text (dotted quad, RFC 5952 for v6), or null when it does not parse. */
export function canonicalAddress(family: Family, address: string): string | null {
  return canonical(family, address);
}

/** The network address of `address/prefixLength` (host bits cleared), or null when invalid. */
export function networkOf(family: Family, address: string, prefixLength: number): string | null {
  const bytes = parseAddress(family, address);
  const bits = family === 4 ? 32 : 128;
  if (!bytes || !Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > bits) return null;
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.min(8, Math.max(0, prefixLength - i * 8));
    bytes[i] = (bytes[i] as number) & ((0xff << (8 - keep)) & 0xff);
  }
  return formatAddress(family, bytes);
}

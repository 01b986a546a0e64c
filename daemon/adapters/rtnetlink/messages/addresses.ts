/**
 * Address bytes of rtnetlink attributes ↔ text: dotted quads, RFC 5952 IPv6, MAC addresses.
 * Pure.
 */
import { canonicalAddress } from '../../../core/addresses.js';
import type { Family } from '../../../core/services.js';
import { AF_INET, AF_INET6 } from './constants.js';

/** Dotted quad of a 4-byte buffer. */
export function formatIPv4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** RFC 5952 text of a 16-byte buffer (lower case, longest run of ≥2 zero groups as `::`). */
export function formatIPv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(':');
  if (bestLen < 2) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/** Address text for a family, or '' when the buffer is absent or has the wrong length. */
export function formatAddress(family: Family, b: Uint8Array | undefined): string {
  if (!b) return '';
  if (family === 4) return b.length === 4 ? formatIPv4(b) : '';
  return b.length === 16 ? formatIPv6(b) : '';
}

/** `aa:bb:cc:dd:ee:ff` for a 6-byte hardware address; '' for none, all-zero or other lengths. */
export function formatMac(b: Uint8Array | undefined): string {
  if (b?.length !== 6 || b.every((x) => x === 0)) return '';
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

/** The 4 or 16 bytes of an address (zone ids like `%eth0` ignored), or null when it does not parse. */
export function addressBytes(family: Family, text: string): Buffer | null {
  const canon = canonicalAddress(family, text);
  if (canon === null) return null;
  if (family === 4) return Buffer.from(canon.split('.').map(Number));
  const [head = '', tail] = canon.split('::') as [string, string | undefined];
  const groups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const out = Buffer.alloc(16);
  for (const [i, g] of all.entries()) out.writeUInt16BE(g, i * 2);
  return out;
}

/** Family of an AF_* number; null for anything but AF_INET/AF_INET6. */
export function familyOf(af: number): Family | null {
  return af === AF_INET ? 4 : af === AF_INET6 ? 6 : null;
}

/** AF_INET / AF_INET6 of a family. */
export function afOf(family: Family): number {
  return family === 4 ? AF_INET : AF_INET6;
}

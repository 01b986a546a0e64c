/**
 * Rule identity shared by both firewall backends: a rule is known by a hash of its text, kept
 * as its comment, so a read-back tells our rules (and changed ones) apart without parsing them.
 */
/**
 * Fingerprint of a rule's text, stored as its comment: two independent 32-bit FNV-1a style
 * hashes, 16 hex digits. Deterministic; a change anywhere in the text changes it.
 */
export function fingerprint(text: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  return (h1 >>> 0).toString(16).padStart(8, '0') + (h2 >>> 0).toString(16).padStart(8, '0');
}

/**
 * D-Bus type signatures: parsed once into trees the marshaller walks, and validated by the
 * specification's rules (at most 255 bytes, 32 nested arrays and 32 nested structs, dict entries
 * only as array elements with a basic key type, no empty structs), so that a signature read from
 * the wire cannot make the codec recurse without bound.
 */

/** One complete type. `sig` is its signature text; `align` its alignment on the wire. */
export interface TypeNode {
  readonly code: string;
  readonly child: readonly TypeNode[];
  readonly sig: string;
  readonly align: number;
}

/** A malformed signature (the text says what is wrong). */
export class SignatureError extends Error {
  override readonly name = 'SignatureError';
}

const ALIGN: Readonly<Record<string, number>> = {
  y: 1,
  b: 4,
  n: 2,
  q: 2,
  i: 4,
  u: 4,
  x: 8,
  t: 8,
  d: 8,
  h: 4,
  s: 4,
  o: 4,
  g: 1,
  v: 1,
  a: 4,
  '(': 8,
  '{': 8,
};
/** Types that may be dict keys. */
const BASIC = 'ybnqiuxtdhsog';
const MAX_LENGTH = 255;
const MAX_DEPTH = 32;

const LEAVES = new Map<string, TypeNode>();
for (const c of `${BASIC}v`) LEAVES.set(c, Object.freeze({ code: c, child: [], sig: c, align: ALIGN[c]! }));

function parseAt(sig: string, pos: number, arrays: number, structs: number): [TypeNode, number] {
  const c = sig[pos];
  if (c === undefined) throw new SignatureError(`truncated D-Bus signature '${sig}'`);
  const leaf = LEAVES.get(c);
  if (leaf) return [leaf, pos + 1];
  if (c === 'a') {
    if (arrays >= MAX_DEPTH) throw new SignatureError(`more than ${MAX_DEPTH} nested arrays in '${sig}'`);
    const next = sig[pos + 1];
    if (next === '{') {
      const [entry, end] = parseEntry(sig, pos + 1, arrays + 1, structs);
      return [node('a', [entry], sig.slice(pos, end)), end];
    }
    const [elem, end] = parseAt(sig, pos + 1, arrays + 1, structs);
    return [node('a', [elem], sig.slice(pos, end)), end];
  }
  if (c === '(') {
    if (structs >= MAX_DEPTH) throw new SignatureError(`more than ${MAX_DEPTH} nested structs in '${sig}'`);
    const child: TypeNode[] = [];
    let p = pos + 1;
    while (sig[p] !== ')') {
      if (p >= sig.length) throw new SignatureError(`unterminated '(' in D-Bus signature '${sig}'`);
      const [n, next] = parseAt(sig, p, arrays, structs + 1);
      child.push(n);
      p = next;
    }
    if (child.length === 0) throw new SignatureError(`empty struct in D-Bus signature '${sig}'`);
    return [node('(', child, sig.slice(pos, p + 1)), p + 1];
  }
  if (c === '{') throw new SignatureError(`dict entry outside an array in '${sig}'`);
  throw new SignatureError(`bad character '${c}' in D-Bus signature '${sig}'`);
}

function parseEntry(sig: string, pos: number, arrays: number, structs: number): [TypeNode, number] {
  if (structs >= MAX_DEPTH) throw new SignatureError(`more than ${MAX_DEPTH} nested structs in '${sig}'`);
  const key = sig[pos + 1];
  if (key === undefined) throw new SignatureError(`unterminated '{' in D-Bus signature '${sig}'`);
  if (!BASIC.includes(key)) throw new SignatureError(`dict key must be a basic type in '${sig}'`);
  const [value, end] = parseAt(sig, pos + 2, arrays, structs + 1);
  if (sig[end] !== '}') {
    if (end >= sig.length) throw new SignatureError(`unterminated '{' in D-Bus signature '${sig}'`);
    throw new SignatureError(`dict entry needs 2 types in '${sig}'`);
  }
  return [node('{', [LEAVES.get(key)!, value], sig.slice(pos, end + 1)), end + 1];
}

function node(code: string, child: TypeNode[], sig: string): TypeNode {
  return Object.freeze({ code, child: Object.freeze(child), sig, align: ALIGN[code]! });
}

const cache = new Map<string, readonly TypeNode[]>();
const CACHE_MAX = 512;

/** The complete types of `sig`, in order (cached: a process uses a handful of signatures). Throws {@link SignatureError}. */
export function parseSignature(sig: string): readonly TypeNode[] {
  const hit = cache.get(sig);
  if (hit) return hit;
  if (sig.length > MAX_LENGTH) throw new SignatureError(`D-Bus signature longer than ${MAX_LENGTH} characters`);
  const nodes: TypeNode[] = [];
  for (let p = 0; p < sig.length; ) {
    const [n, next] = parseAt(sig, p, 0, 0);
    nodes.push(n);
    p = next;
  }
  const frozen = Object.freeze(nodes);
  // Signatures read from the wire are chosen by peers: cache only up to a bound.
  if (cache.size < CACHE_MAX) cache.set(sig, frozen);
  return frozen;
}

/** The one complete type `sig` stands for; throws when it is zero or several. */
export function singleType(sig: string): TypeNode {
  const nodes = parseSignature(sig);
  if (nodes.length !== 1) throw new SignatureError(`'${sig}' is not a single complete D-Bus type`);
  return nodes[0]!;
}

/** Splits a signature into its complete types: `a{sv}o` -> [`a{sv}`, `o`]. Throws on a malformed one. */
export function splitSignature(sig: string): string[] {
  return parseSignature(sig).map((n) => n.sig);
}

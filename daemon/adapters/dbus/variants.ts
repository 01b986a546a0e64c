/**
 * Pure conversions between the daemon's values and dbus-next's.
 *
 * Outgoing: a {@link PropDict} (values tagged with their D-Bus signature) becomes a dict of
 * dbus-next `Variant`s, recursively (a nested `a{sv}` is itself a PropDict). Incoming: a
 * dbus-next `Variant` becomes a {@link RawValue}; variants nested inside it become RawValues
 * too, so the daemon never sees a dbus-next class and never loses a nested signature.
 *
 * dbus-next marshals by signature but is strict about JS types (`t` wants an integer or
 * BigInt, `u`/`y` want a number, `a{..}` wants a plain object), so the encoder coerces here
 * instead of letting a `bigint` PrefixLength or a numeric counter fail deep in the marshaller.
 */
import dbus from 'dbus-next';
import type { RawValue } from '../../core/settings.js';
import type { Prop, PropDict } from '../../ports.js';

const { Variant } = dbus;
/** dbus-next's Variant instance type. */
export type DBusVariant = InstanceType<typeof Variant>;

/** One complete D-Bus type, parsed. */
interface TypeNode {
  type: string;
  child: TypeNode[];
}

const BASIC = new Set(['y', 'b', 'n', 'q', 'i', 'u', 'x', 't', 'd', 'h', 's', 'o', 'g', 'v']);
const SMALL_INTEGERS = new Set(['y', 'n', 'q', 'i', 'u', 'h']);

function parseAt(sig: string, pos: number): [TypeNode, number] {
  const c = sig[pos];
  if (c === undefined) throw new Error(`truncated D-Bus signature '${sig}'`);
  if (BASIC.has(c)) return [{ type: c, child: [] }, pos + 1];
  if (c === 'a') {
    const [elem, next] = parseAt(sig, pos + 1);
    return [{ type: 'a', child: [elem] }, next];
  }
  if (c === '(' || c === '{') {
    const close = c === '(' ? ')' : '}';
    const child: TypeNode[] = [];
    let p = pos + 1;
    while (sig[p] !== close) {
      if (p >= sig.length) throw new Error(`unterminated '${c}' in D-Bus signature '${sig}'`);
      const [node, next] = parseAt(sig, p);
      child.push(node);
      p = next;
    }
    if (c === '{' && child.length !== 2) throw new Error(`dict entry needs 2 types in '${sig}'`);
    return [{ type: c, child }, p + 1];
  }
  throw new Error(`bad character '${c}' in D-Bus signature '${sig}'`);
}

const parsed = new Map<string, TypeNode[]>();

/** Parses a signature into its complete types (cached: the daemon uses a handful of signatures). */
function parseSignature(sig: string): TypeNode[] {
  let nodes = parsed.get(sig);
  if (!nodes) {
    nodes = [];
    for (let p = 0; p < sig.length; ) {
      const [node, next] = parseAt(sig, p);
      nodes.push(node);
      p = next;
    }
    if (parsed.size < 1024) parsed.set(sig, nodes);
  }
  return nodes;
}

function single(sig: string): TypeNode {
  const nodes = parseSignature(sig);
  if (nodes.length !== 1) throw new Error(`'${sig}' is not a single complete D-Bus type`);
  return nodes[0]!;
}

function collapse(node: TypeNode): string {
  if (node.type === 'a') return `a${collapse(node.child[0]!)}`;
  if (node.type === '(') return `(${node.child.map(collapse).join('')})`;
  if (node.type === '{') return `{${node.child.map(collapse).join('')}}`;
  return node.type;
}

/** Splits a signature into its complete types: `a{sv}o` -> [`a{sv}`, `o`]. Throws on a malformed one. */
export function splitSignature(sig: string): string[] {
  return parseSignature(sig).map(collapse);
}

// Assigning `__proto__` on a plain object would set its prototype instead of adding a key.
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

function entriesOf(value: unknown, sig: string): Array<[string, unknown]> {
  if (value instanceof Map) return [...value.entries()].map(([k, v]) => [String(k), v]);
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) return Object.entries(value);
  throw new TypeError(`expected a dict for '${sig}', got ${describe(value)}`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

function isTagged(value: unknown): value is Prop {
  return value !== null && typeof value === 'object' && typeof (value as Prop).signature === 'string' && 'value' in value;
}

function encodeNode(node: TypeNode, value: unknown): unknown {
  switch (node.type) {
    case 'v': {
      if (value instanceof Variant) return new Variant(value.signature, encodeValue(value.signature, value.value));
      if (!isTagged(value)) throw new TypeError(`expected a {signature, value} for 'v', got ${describe(value)}`);
      return new Variant(value.signature, encodeValue(value.signature, value.value));
    }
    case 't':
    case 'x':
      if (typeof value === 'bigint') return value;
      if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
      if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
      throw new TypeError(`expected an integer for '${node.type}', got ${describe(value)}`);
    case 'd':
      return typeof value === 'bigint' ? Number(value) : value;
    case 'a': {
      const elem = node.child[0]!;
      if (elem.type === '{') {
        const valueType = elem.child[1]!;
        const out: Record<string, unknown> = {};
        for (const [k, v] of entriesOf(value, collapse(node))) setOwn(out, k, encodeNode(valueType, v));
        return out;
      }
      if (elem.type === 'y' && value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      if (!Array.isArray(value)) throw new TypeError(`expected an array for '${collapse(node)}', got ${describe(value)}`);
      return value.map((v) => encodeNode(elem, v));
    }
    case '(': {
      if (!Array.isArray(value) || value.length !== node.child.length) {
        throw new TypeError(`expected a ${node.child.length}-element array for '${collapse(node)}'`);
      }
      return node.child.map((c, i) => encodeNode(c, value[i]));
    }
    default:
      if (SMALL_INTEGERS.has(node.type) && typeof value === 'bigint') return Number(value);
      return value;
  }
}

/** Converts `value` to what dbus-next marshals for the single complete type `sig`. */
export function encodeValue(sig: string, value: unknown): unknown {
  return encodeNode(single(sig), value);
}

/** A daemon property as a dbus-next Variant. */
export function toVariant(prop: Prop): DBusVariant {
  return new Variant(prop.signature, encodeValue(prop.signature, prop.value));
}

/** A property dict (`a{sv}`) as dbus-next marshals it; key order is kept. */
export function encodeDict(dict: PropDict): Record<string, DBusVariant> {
  const out: Record<string, DBusVariant> = {};
  for (const [k, p] of Object.entries(dict)) setOwn(out, k, toVariant(p));
  return out;
}

function decodeNode(node: TypeNode, value: unknown): unknown {
  switch (node.type) {
    case 'v':
      return value instanceof Variant ? fromVariant(value) : value;
    case 'a': {
      const elem = node.child[0]!;
      if (elem.type === '{') {
        const valueType = elem.child[1]!;
        const out: Record<string, unknown> = {};
        for (const [k, v] of entriesOf(value, collapse(node))) setOwn(out, k, decodeNode(valueType, v));
        return out;
      }
      if (!Array.isArray(value)) return value; // `ay` arrives as a Buffer
      return value.map((v) => decodeNode(elem, v));
    }
    case '(':
      return Array.isArray(value) ? node.child.map((c, i) => decodeNode(c, value[i])) : value;
    default:
      return value;
  }
}

/**
 * An incoming variant as a RawValue. Nested variants (the values of an `a{sv}`, items of an `av`)
 * become RawValues as well; 64-bit integers stay BigInt; `ay` stays a Buffer.
 */
export function fromVariant(v: DBusVariant): RawValue {
  return { signature: v.signature, value: decodeNode(single(v.signature), v.value) };
}

/** An incoming `a{sv}` as a dict of RawValues. */
export function decodeDict(dict: Readonly<Record<string, DBusVariant>>): Record<string, RawValue> {
  const out: Record<string, RawValue> = {};
  for (const [k, v] of Object.entries(dict)) setOwn(out, k, fromVariant(v));
  return out;
}

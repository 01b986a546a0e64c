/**
 * Pure conversions between the daemon's values and the wire module's (lib/dbus).
 *
 * Outgoing: a {@link PropDict} (values tagged with their D-Bus signature) becomes a dict of
 * `Variant`s, recursively (a nested `a{sv}` is itself a PropDict). Incoming: a `Variant` becomes
 * a {@link RawValue}; variants nested inside it become RawValues too, so the daemon never sees a
 * wire class and never loses a nested signature.
 *
 * The encoder coerces (a `bigint` PrefixLength to a number, a numeric counter to BigInt, Maps to
 * plain dicts) and checks shapes here, so a value that does not fit its signature is reported
 * while the message is built, with the key's name in the log line, rather than by the marshaller.
 */
import { Variant } from '../../../lib/dbus/message.js';
import { singleType, splitSignature as split, type TypeNode } from '../../../lib/dbus/signature.js';
import type { Prop, PropDict } from '../../core/properties.js';
import type { RawValue } from '../../core/settings.js';

/** A D-Bus variant as the wire module reads and writes it. */
export type DBusVariant = Variant;

const SMALL_INTEGERS = new Set(['y', 'n', 'q', 'i', 'u', 'h']);

function single(sig: string): TypeNode {
  return singleType(sig);
}

/** Splits a signature into its complete types: `a{sv}o` -> [`a{sv}`, `o`]. Throws on a malformed one. */
export function splitSignature(sig: string): string[] {
  return split(sig);
}

// Assigning `__proto__` on a plain object would set its prototype instead of adding a key.
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
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
  return (
    value !== null && typeof value === 'object' && typeof (value as Prop).signature === 'string' && 'value' in value
  );
}

function encodeNode(node: TypeNode, value: unknown): unknown {
  switch (node.code) {
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
      throw new TypeError(`expected an integer for '${node.code}', got ${describe(value)}`);
    case 'd':
      return typeof value === 'bigint' ? Number(value) : value;
    case 'a': {
      const elem = node.child[0]!;
      if (elem.code === '{') {
        const valueType = elem.child[1]!;
        const out: Record<string, unknown> = {};
        for (const [k, v] of entriesOf(value, node.sig)) setOwn(out, k, encodeNode(valueType, v));
        return out;
      }
      if (elem.code === 'y' && value instanceof Uint8Array)
        return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      if (!Array.isArray(value)) throw new TypeError(`expected an array for '${node.sig}', got ${describe(value)}`);
      return value.map((v) => encodeNode(elem, v));
    }
    case '(': {
      if (!Array.isArray(value) || value.length !== node.child.length) {
        throw new TypeError(`expected a ${node.child.length}-element array for '${node.sig}'`);
      }
      return node.child.map((c, i) => encodeNode(c, value[i]));
    }
    default:
      if (SMALL_INTEGERS.has(node.code) && typeof value === 'bigint') return Number(value);
      return value;
  }
}

/** Converts `value` to what the marshaller takes for the single complete type `sig` (coerced and shape-checked). */
export function encodeValue(sig: string, value: unknown): unknown {
  return encodeNode(single(sig), value);
}

/** A daemon property as a wire Variant. */
export function toVariant(prop: Prop): DBusVariant {
  return new Variant(prop.signature, encodeValue(prop.signature, prop.value));
}

/** A property dict (`a{sv}`) as wire Variants; key order is kept. */
export function encodeDict(dict: PropDict): Record<string, DBusVariant> {
  const out: Record<string, DBusVariant> = {};
  for (const [k, p] of Object.entries(dict)) setOwn(out, k, toVariant(p));
  return out;
}

function decodeNode(node: TypeNode, value: unknown): unknown {
  switch (node.code) {
    case 'v':
      return value instanceof Variant ? fromVariant(value) : value;
    case 'a': {
      const elem = node.child[0]!;
      if (elem.code === '{') {
        const valueType = elem.child[1]!;
        const out: Record<string, unknown> = {};
        for (const [k, v] of entriesOf(value, node.sig)) setOwn(out, k, decodeNode(valueType, v));
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

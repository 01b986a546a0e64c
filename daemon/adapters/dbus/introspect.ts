/**
 * Introspection XML, generated from the same interface tables that dispatch calls. Interface
 * fragments are built once; a document is those fragments plus the child nodes of the path.
 */

import { memoByObject } from '../../core/object-memo.js';
import type { InterfaceSpec } from './interface-spec.js';
import { splitSignature } from './variants.js';

const HEADER =
  '<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"\n' +
  '"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">\n';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function args(sig: string, names: readonly string[] | undefined, direction: 'in' | 'out' | null): string {
  return splitSignature(sig)
    .map((type, i) => {
      const name = names?.[i];
      return `<arg${name ? ` name="${esc(name)}"` : ''} type="${esc(type)}"${direction ? ` direction="${direction}"` : ''}/>`;
    })
    .join('');
}

/** Introspectable and Peer are answered on every object (Peer by the connection itself). */
const STANDARD =
  ' <interface name="org.freedesktop.DBus.Introspectable">\n' +
  '  <method name="Introspect"><arg name="xml" type="s" direction="out"/></method>\n' +
  ' </interface>\n' +
  ' <interface name="org.freedesktop.DBus.Peer">\n' +
  '  <method name="Ping"/>\n' +
  '  <method name="GetMachineId"><arg name="machine_uuid" type="s" direction="out"/></method>\n' +
  ' </interface>\n';

/** An interface's XML, once per spec (specs are constants). */
const fragment = memoByObject((spec: InterfaceSpec): string => {
  const lines = [` <interface name="${esc(spec.name)}">`];
  for (const [name, m] of Object.entries(spec.methods)) {
    lines.push(
      `  <method name="${esc(name)}">${args(m.in, m.inNames, 'in')}${args(m.out, m.outNames, 'out')}</method>`,
    );
  }
  for (const [name, s] of Object.entries(spec.signals ?? {})) {
    lines.push(`  <signal name="${esc(name)}">${args(s.signature, s.names, null)}</signal>`);
  }
  lines.push(' </interface>');
  return `${lines.join('\n')}\n`;
});

/** The Introspect reply for an object with `interfaces` (none: a plain node) and `children`. */
export function introspectXml(interfaces: readonly InterfaceSpec[] | null, children: Iterable<string>): string {
  let xml = `${HEADER}<node>\n`;
  if (interfaces) {
    xml += STANDARD;
    for (const spec of interfaces) xml += fragment(spec);
  }
  for (const child of children) xml += ` <node name="${esc(child)}"/>\n`;
  return `${xml}</node>\n`;
}

/** Direct child names of `path` among `paths` (`/` and `/net/connman/service/x` -> `net`). */
export function childNames(path: string, paths: Iterable<string>): string[] {
  const prefix = path === '/' ? '/' : `${path}/`;
  const out = new Set<string>();
  for (const p of paths) {
    if (p.length <= prefix.length || !p.startsWith(prefix)) continue;
    const end = p.indexOf('/', prefix.length);
    out.add(end === -1 ? p.slice(prefix.length) : p.slice(prefix.length, end));
  }
  return [...out].sort();
}

/**
 * A census of a process's live JS heap from a heap snapshot (`--heapsnapshot-signal=SIGUSR2`):
 * count and bytes per constructor/type name. Two censuses taken around N create/destroy cycles
 * show what per-session structure outlived its session (its count grows with N).
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export interface HeapCensus {
  totalBytes: number;
  /** `<node type>:<name>` → count and self bytes. */
  byName: Map<string, { count: number; bytes: number }>;
}

/** Signals `pid` for a heap snapshot (the process must run with `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=<dir>`) and counts it. */
export async function heapCensus(pid: number, dir: string, timeoutMs = 120_000): Promise<HeapCensus> {
  const before = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await new Promise((r) => setTimeout(r, 200));
    if (Date.now() > deadline) throw new Error(`no heap snapshot from pid ${pid} in ${dir}`);
    const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (!file) continue;
    type Snap = {
      snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
      nodes: number[];
      strings: string[];
    };
    let snap: Snap;
    try {
      // Written synchronously by the process; a partial file does not parse yet.
      snap = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Snap;
    } catch {
      continue;
    }
    rmSync(join(dir, file), { force: true });
    const fields = snap.snapshot.meta.node_fields;
    const types = snap.snapshot.meta.node_types[0];
    const [ti, ni, si] = [fields.indexOf('type'), fields.indexOf('name'), fields.indexOf('self_size')];
    const byName = new Map<string, { count: number; bytes: number }>();
    let totalBytes = 0;
    for (let i = 0; i < snap.nodes.length; i += fields.length) {
      const type = types[snap.nodes[i + ti]!]!;
      // Strings and code are named by their content: bucket them by type only.
      const name =
        type === 'object' || type === 'closure' || type === 'native'
          ? `${type}:${snap.strings[snap.nodes[i + ni]!]}`
          : type;
      const bytes = snap.nodes[i + si]!;
      totalBytes += bytes;
      const e = byName.get(name);
      if (e) {
        e.count++;
        e.bytes += bytes;
      } else byName.set(name, { count: 1, bytes });
    }
    return { totalBytes, byName };
  }
}

/** Names whose count grew by at least `minGrowth` from `a` to `b`, largest growth first. */
export function censusGrowth(
  a: HeapCensus,
  b: HeapCensus,
  minGrowth: number,
): Array<{ name: string; count: number; bytes: number }> {
  const out: Array<{ name: string; count: number; bytes: number }> = [];
  for (const [name, e] of b.byName) {
    const was = a.byName.get(name) ?? { count: 0, bytes: 0 };
    if (e.count - was.count >= minGrowth) out.push({ name, count: e.count - was.count, bytes: e.bytes - was.bytes });
  }
  return out.sort((x, y) => y.count - x.count);
}

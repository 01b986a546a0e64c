import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

function files(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((f) => {
    const p = join(dir, f);
    return statSync(join(ROOT, p)).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Every import/export-from specifier of a file, resolved relative to the repo root. */
function importsOf(file: string): string[] {
  const src = readFileSync(join(ROOT, file), 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    const spec = m[1] ?? m[2]!;
    out.push(spec.startsWith('.') ? relative(ROOT, resolve(ROOT, dirname(file), spec)) : spec);
  }
  return out;
}

describe('architecture boundaries', () => {
  // The ports carry the core's values, never the reverse: the core does not even know them.
  it('daemon/core is pure: it imports only lib/protocol.ts and other core files', () => {
    const bad: string[] = [];
    for (const f of files('daemon/core')) {
      for (const i of importsOf(f)) {
        const ok = i === 'lib/protocol.js' || i.startsWith('daemon/core/');
        if (!ok) bad.push(`${f} -> ${i}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('daemon/core uses no clock, timer or process state', () => {
    const code = (f: string) =>
      readFileSync(join(ROOT, f), 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/\/\/.*$/gm, '');
    const bad = files('daemon/core').filter((f) =>
      /\b(Date\.now|new Date\(|setTimeout|setInterval|process\.|performance\.)/.test(code(f)),
    );
    expect(bad).toEqual([]);
  });

  it('the SDK (lib/) never imports the daemon', () => {
    const bad = files('lib').flatMap((f) =>
      importsOf(f)
        .filter((i) => i.startsWith('daemon/'))
        .map((i) => `${f} -> ${i}`),
    );
    expect(bad).toEqual([]);
  });

  // Values live beside the code that owns them; a port file with code in it would become a grab-bag.
  it('daemon/ports.ts declares ports only: no value, function or class', () => {
    const src = readFileSync(join(ROOT, 'daemon/ports.ts'), 'utf8');
    expect(src.match(/^export\s+(?!interface\b|type\b)\S+.*$/gm) ?? []).toEqual([]);
  });

  it('only daemon/main.ts names concrete adapters', () => {
    const bad = files('daemon')
      .filter((f) => !f.startsWith('daemon/adapters/') && f !== 'daemon/main.ts')
      .flatMap((f) =>
        importsOf(f)
          .filter((i) => i.startsWith('daemon/adapters/'))
          .map((i) => `${f} -> ${i}`),
      );
    expect(bad).toEqual([]);
  });
});

/** The repo-relative `.ts` file a relative import names, or null for packages and non-source files. */
function sourceOf(spec: string): string | null {
  return spec.startsWith('daemon/') || spec.startsWith('lib/') || spec.startsWith('bin/')
    ? spec.replace(/\.js$/, '.ts')
    : null;
}

/** Every import circle among `roots`' files (type-only imports count), each as its files sorted. */
function importCircles(roots: string[]): string[][] {
  return circlesOf(new Map(roots.flatMap(files).map((f) => [f, importsOf(f).flatMap((i) => sourceOf(i) ?? [])])));
}

/** The circles of a graph (file -> the files it imports). */
function circlesOf(graph: Map<string, string[]>): string[][] {
  // Tarjan's strongly connected components: any component with more than one file is a circle.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const circles: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) circles.push(scc.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return circles;
}

describe('import structure', () => {
  it('the circle finder sees type-only imports and finds circles of any length', () => {
    // daemon/runtime/deps.ts imports daemon/ports.ts only through `import type`.
    expect(importsOf('daemon/runtime/deps.ts')).toContain('daemon/ports.js');
    const g = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a', 'd']],
      ['d', ['d']],
      ['e', ['a']],
    ]);
    expect(circlesOf(g)).toEqual([['d'], ['a', 'b', 'c']]);
  });

  // A circle hides which file owns a type; moving the type to its owner breaks it.
  it('no import circle under daemon/ or lib/ (type-only imports count)', () => {
    expect(importCircles(['daemon', 'lib'])).toEqual([]);
  });

  // Adapters are independent: one may use another folder only when that folder is a shared
  // building block (netlink/: libc and the netlink sockets; firewall/: what both firewall
  // backends share; files/: capped reads of untrusted files), never a sibling adapter's internals.
  it('an adapter imports no sibling adapter except the shared netlink/, firewall/ and files/ folders', () => {
    const SHARED = new Set(['netlink', 'firewall', 'files']);
    const folderOf = (p: string) => /^daemon\/adapters\/([^/]+)\//.exec(p)?.[1];
    const bad = files('daemon/adapters').flatMap((f) =>
      importsOf(f)
        .filter((i) => {
          const to = folderOf(i);
          return to !== undefined && to !== folderOf(f) && !SHARED.has(to);
        })
        .map((i) => `${f} -> ${i}`),
    );
    expect(bad).toEqual([]);
  });
});

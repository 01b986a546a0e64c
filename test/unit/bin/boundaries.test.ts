/** netsessionctl is an SDK client: it reaches the daemon only through the package's public API. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../..');

function files(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((f) => {
    const p = join(dir, f);
    return statSync(join(ROOT, p)).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('bin/ (netsessionctl)', () => {
  it('imports only the package entry points (lib/index.js, lib/protocol.js), node: modules and its own files (no daemon code, no dbus-next)', () => {
    const bad: string[] = [];
    const all = files('bin');
    expect(all.length).toBeGreaterThan(5);
    for (const f of all) {
      const src = readFileSync(join(ROOT, f), 'utf8');
      for (const m of src.matchAll(
        /(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g,
      )) {
        const spec = m[1] ?? m[2]!;
        const target = spec.startsWith('.') ? relative(ROOT, resolve(ROOT, dirname(f), spec)) : spec;
        const ok =
          spec.startsWith('node:') ||
          target === 'lib/index.js' ||
          target === 'lib/protocol.js' ||
          target.startsWith('bin/');
        if (!ok) bad.push(`${f} -> ${target}`);
      }
    }
    expect(bad).toEqual([]);
  });
});

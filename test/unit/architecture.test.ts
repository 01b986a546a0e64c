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
    const code = (f: string) => readFileSync(join(ROOT, f), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
    const bad = files('daemon/core').filter((f) => /\b(Date\.now|new Date\(|setTimeout|setInterval|process\.|performance\.)/.test(code(f)));
    expect(bad).toEqual([]);
  });

  it('the SDK (lib/) never imports the daemon', () => {
    const bad = files('lib').flatMap((f) => importsOf(f).filter((i) => i.startsWith('daemon/')).map((i) => `${f} -> ${i}`));
    expect(bad).toEqual([]);
  });

  it('only daemon/main.ts names concrete adapters', () => {
    const bad = files('daemon')
      .filter((f) => !f.startsWith('daemon/adapters/') && f !== 'daemon/main.ts')
      .flatMap((f) => importsOf(f).filter((i) => i.startsWith('daemon/adapters/')).map((i) => `${f} -> ${i}`));
    expect(bad).toEqual([]);
  });
});

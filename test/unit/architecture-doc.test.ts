/**
 * docs/architecture.md is the map a newcomer reads first: it must name every source file under
 * daemon/ and lib/, so a file added without a place on the map fails here, and no source file
 * grows past the size where it starts holding several jobs.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const DOC = readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8');

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((f) => {
    const p = `${dir}/${f}`;
    return statSync(join(ROOT, p)).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/**
 * Named: the whole path appears, or the file's name appears in backticks in the section whose
 * heading is its folder (the file index: "### `daemon/runtime/`" then "- `kernel-sync.ts`: …").
 */
function named(file: string): boolean {
  if (DOC.includes(file)) return true;
  const heading = `### \`${dirname(file)}/\``;
  const start = DOC.split('\n').findIndex((line) => line.trim() === heading);
  if (start < 0) return false;
  const rest = DOC.split('\n').slice(start + 1);
  const end = rest.findIndex((line) => line.startsWith('#'));
  return (end < 0 ? rest : rest.slice(0, end)).some((line) => line.includes(`\`${basename(file)}\``));
}

describe('docs/architecture.md', () => {
  const files = [...sources('daemon'), ...sources('lib')];

  it('names every source file under daemon/ and lib/', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(files.filter((f) => !named(f))).toEqual([]);
  });

  it('names no source file that does not exist', () => {
    const mentioned = [...DOC.matchAll(/(?<![\w/.-])((?:daemon|lib)\/[\w./-]+\.ts)\b/g)].map((m) => m[1]!);
    expect(mentioned.length).toBeGreaterThan(0);
    expect([...new Set(mentioned)].filter((f) => !files.includes(f))).toEqual([]);
  });

  it('no source file under daemon/ or lib/ is over 400 lines', () => {
    const long = files
      .map((f) => [f, readFileSync(join(ROOT, f), 'utf8').split('\n').length - 1] as const)
      .filter(([, n]) => n > 400)
      .map(([f, n]) => `${f}: ${n}`);
    expect(long).toEqual([]);
  });
});

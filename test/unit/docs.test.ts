/**
 * The SDK's docs stay in step with its code (fastify's errors test, in our terms):
 * every export of each entry point (lib/index.ts, and lib/protocol.ts for `netsession/protocol`)
 * has an entry in its part of docs/sdk.md and every entry there is an export;
 * every NS_ERR_* code in lib/errors.ts has an anchor in docs/errors.md and every anchor a code.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');

/** Every name an entry point exports, types included (resolved through `export *`). */
function exportedNames(file: string): string[] {
  const entry = join(ROOT, file);
  const program = ts.createProgram([entry], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    noEmit: true,
    skipLibCheck: true,
  });
  const checker = program.getTypeChecker();
  const symbol = checker.getSymbolAtLocation(program.getSourceFile(entry)!);
  return checker
    .getExportsOfModule(symbol!)
    .map((s) => s.getName())
    .sort();
}

/** Names docs/sdk.md documents: `### \`Name\`` headings and table rows starting with `| \`Name\` |`. */
function documentedNames(md: string): string[] {
  const names = new Set<string>();
  for (const m of md.matchAll(/^#{2,4} `([A-Za-z_$][\w$]*)`\s*$/gm)) names.add(m[1]!);
  for (const m of md.matchAll(/^\| `([A-Za-z_$][\w$]*)` \|/gm)) names.add(m[1]!);
  return [...names].sort();
}

/** docs/sdk.md cut where `netsession/protocol`'s section starts: [main entry point, protocol]. */
function sdkDocParts(): [string, string] {
  const md = read('docs/sdk.md');
  const at = md.indexOf('\n## The D-Bus contract: `netsession/protocol`');
  expect(at).toBeGreaterThan(0);
  return [md.slice(0, at), md.slice(at)];
}

describe('docs/sdk.md', () => {
  it('documents every export of lib/index.ts before the protocol section, and nothing else', () => {
    const exported = exportedNames('lib/index.ts');
    const documented = documentedNames(sdkDocParts()[0]);
    expect(exported.length).toBeGreaterThan(50);
    expect(
      exported.filter((n) => !documented.includes(n)),
      'exported but not in docs/sdk.md',
    ).toEqual([]);
    expect(
      documented.filter((n) => !exported.includes(n)),
      'in docs/sdk.md but not exported',
    ).toEqual([]);
    // A whole type-check of lib/: seconds on a loaded machine (the pack test builds beside it).
  }, 60_000);

  it('documents every export of lib/protocol.ts (netsession/protocol) in its section, and nothing else', () => {
    const exported = exportedNames('lib/protocol.ts');
    const documented = documentedNames(sdkDocParts()[1]);
    expect(exported.length).toBeGreaterThan(30);
    expect(
      exported.filter((n) => !documented.includes(n)),
      'exported but not in docs/sdk.md',
    ).toEqual([]);
    expect(
      documented.filter((n) => !exported.includes(n)),
      'in docs/sdk.md but not exported',
    ).toEqual([]);
  }, 60_000);

  it('package.json exports exactly the two entry points, each with its types', () => {
    const pkg = JSON.parse(read('package.json')) as { exports: Record<string, { types: string; default: string }> };
    expect(pkg.exports).toEqual({
      '.': { types: './dist/lib/index.d.ts', default: './dist/lib/index.js' },
      './protocol': { types: './dist/lib/protocol.d.ts', default: './dist/lib/protocol.js' },
    });
  });
});

describe('docs/errors.md', () => {
  it('has an anchor for every NS_ERR_* code in lib/errors.ts, and no other', () => {
    const codes = [...new Set([...read('lib/errors.ts').matchAll(/'(NS_ERR_[A-Z_]+)'/g)].map((m) => m[1]!))].sort();
    const anchors = [...read('docs/errors.md').matchAll(/<a id="(ns_err_[a-z_]+)"><\/a>/g)]
      .map((m) => m[1]!.toUpperCase())
      .sort();
    expect(codes.length).toBeGreaterThan(20);
    expect(
      codes.filter((c) => !anchors.includes(c)),
      'codes without an anchor',
    ).toEqual([]);
    expect(
      anchors.filter((a) => !codes.includes(a)),
      'anchors without a code',
    ).toEqual([]);
    expect(new Set(anchors).size).toBe(anchors.length);
  });

  it('names each code next to its class, as lib/errors.ts pairs them', () => {
    const src = read('lib/errors.ts');
    const md = read('docs/errors.md');
    const pairs = [...src.matchAll(/export class (\w+) extends \w+ \{\s*readonly code = '(NS_ERR_[A-Z_]+)'/g)];
    expect(pairs.length).toBeGreaterThan(20);
    for (const m of pairs) {
      expect(md, `${m[2]} should be documented with ${m[1]}`).toContain(`\`${m[2]}\` — \`${m[1]}\``);
    }
  });
});

describe('README quick start', () => {
  it('is exactly typings/readme-quick-start.test-d.ts, which tsd type-checks', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const block = /## Quick start\n\n```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    const file = readFileSync(new URL('../../typings/readme-quick-start.test-d.ts', import.meta.url), 'utf8');
    expect(block).toBe(file);
    expect(file.split('\n').filter((l) => l.trim() && !l.trim().startsWith('//')).length).toBeLessThanOrEqual(15);
  });
});

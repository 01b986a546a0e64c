/**
 * The man pages as man(1) shows them: generated from docs/ and the daemon's --help, rendered by
 * `man -l` (man-db and groff, installed by scripts/install-deps.sh) without a groff warning, with
 * the sections a man page has and everything the sources name.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../../bin/cli/args.js';
import { GENERAL_KEYS, USAGE } from '../../../daemon/config.js';
import { type ManPage, manPages } from '../../../scripts/man/pages.js';

let dir: string;
const rendered = new Map<string, string>();
let pages: ManPage[];

/** What `man -l` prints for a page: plain text (no bold overstrike), 100 columns. */
function man(file: string): string {
  return execFileSync('man', ['-l', file], {
    encoding: 'utf8',
    env: { ...process.env, MANWIDTH: '100', MAN_KEEP_FORMATTING: '', MANPAGER: 'cat', PAGER: 'cat', GROFF_NO_SGR: '1' },
  }).replace(/.\x08/g, '');
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'netsession-man-'));
  pages = manPages();
  for (const p of pages) {
    writeFileSync(join(dir, p.file), `${p.roff}\n`);
    rendered.set(p.file, man(join(dir, p.file)));
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The section headings of a rendered page (lines starting at column 0, upper case). */
const sections = (text: string): string[] => text.split('\n').filter((l) => /^[A-Z][A-Z :,]+$/.test(l));

describe('man pages', () => {
  it('are netsessiond(8), netsessionctl(1) and netsessiond.conf(5), each with its name and version in the header', () => {
    expect(pages.map((p) => p.file)).toEqual(['netsessiond.8', 'netsessionctl.1', 'netsessiond.conf.5']);
    for (const p of pages)
      expect(rendered.get(p.file)!.split('\n')[0]).toMatch(
        new RegExp(`^${p.name.toUpperCase().replace('.', '\\.')}\\(${p.section}\\)`),
      );
  });

  it('render with no groff warning (unknown macro, bad escape, unbalanced font)', () => {
    for (const p of pages) {
      const r = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z', join(dir, p.file)], { encoding: 'utf8' });
      expect({ page: p.file, status: r.status, stderr: r.stderr }).toEqual({ page: p.file, status: 0, stderr: '' });
    }
  });

  it("netsessiond(8): NAME, SYNOPSIS, DESCRIPTION, OPTIONS with every --help option, the doc's sections, SEE ALSO", () => {
    const text = rendered.get('netsessiond.8')!;
    expect(sections(text)).toEqual(
      expect.arrayContaining([
        'NAME',
        'SYNOPSIS',
        'DESCRIPTION',
        'OPTIONS',
        'SAFETY: THE NETWORK NAMESPACE',
        'MANAGE MODE',
        'SEE ALSO',
      ]),
    );
    expect(sections(text).indexOf('OPTIONS')).toBe(3);
    for (const opt of USAGE.matchAll(/^\s+(--[a-z0-9-]+)/gm))
      expect(text, opt[1]).toMatch(new RegExp(`^ {7}${opt[1]}\\b`, 'm'));
  });

  it('netsessionctl(1): EXIT STATUS, COMMANDS with a subsection per command', () => {
    const text = rendered.get('netsessionctl.1')!;
    expect(sections(text)).toEqual(
      expect.arrayContaining(['NAME', 'SYNOPSIS', 'DESCRIPTION', 'EXIT STATUS', 'COMMANDS', 'SEE ALSO']),
    );
    expect(text).toMatch(/^SYNOPSIS\n {7}netsessionctl \[--json\]/m);
    for (const c of COMMANDS.filter((c) => c !== 'help' && c !== 'disable' && c !== 'session'))
      expect(text, c).toMatch(new RegExp(`^ {3}\\S*.*\\b${c}\\b`, 'm'));
    // Literal options keep a real minus sign: copied from the page they work.
    expect(text).toContain('netsessionctl --json state');
  });

  it('netsessiond.conf(5): every [General] key with its default', () => {
    const text = rendered.get('netsessiond.conf.5')!;
    expect(sections(text)).toEqual(expect.arrayContaining(['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'SEE ALSO']));
    for (const key of GENERAL_KEYS) expect(text, key).toMatch(new RegExp(`^ {7}${key} = `, 'm'));
    expect(text).toMatch(/^ {7}FwmarkMask = 0x0fff0000$/m);
    expect(text).toMatch(/^ {3}\[Bearers\]$/m);
  });
});

/**
 * What the SDK and the daemon bring into an installation: the production tree as npm installed
 * it (`npm ls --omit=dev --all`) holds no package version with a known vulnerability or a known
 * compromise, and no D-Bus library (the SDK and the daemon speak D-Bus through lib/dbus).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

type Version = [number, number, number];

function parse(v: string): Version {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(v);
  if (!m) throw new Error(`not a version: ${v}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

function cmp(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/** `[from, to)`; `from` '0.0.0' for "every version before". */
type Range = [string, string];

/** Known-bad versions: advisories and compromised releases. Add to it; never remove. */
const KNOWN_BAD: Record<string, { ranges: Range[]; why: string }> = {
  xml2js: { ranges: [['0.0.0', '0.5.0']], why: 'CVE-2023-0842 (prototype pollution), fixed in 0.5.0' },
  undici: {
    ranges: [
      ['0.0.0', '5.28.5'],
      ['6.0.0', '6.21.1'],
      ['7.0.0', '7.2.3'],
    ],
    why: 'CVE-2025-22150 (predictable multipart boundary)',
  },
  semver: {
    ranges: [
      ['0.0.0', '5.7.2'],
      ['6.0.0', '6.3.1'],
      ['7.0.0', '7.5.2'],
    ],
    why: 'CVE-2022-25883 (ReDoS)',
  },
  minimist: { ranges: [['0.0.0', '1.2.6']], why: 'CVE-2021-44906 (prototype pollution)' },
  'event-stream': { ranges: [['3.3.6', '3.3.7']], why: 'compromised release (flatmap-stream)' },
  'flatmap-stream': { ranges: [['0.0.0', '999.0.0']], why: 'malicious package' },
  'ua-parser-js': {
    ranges: [
      ['0.7.29', '0.7.30'],
      ['0.8.0', '0.8.1'],
      ['1.0.0', '1.0.1'],
    ],
    why: 'hijacked releases',
  },
  'node-ipc': {
    ranges: [
      ['10.1.1', '10.1.4'],
      ['11.0.0', '11.0.1'],
    ],
    why: 'protestware releases',
  },
};

/** Packages that must not be in the production tree at all. */
const BANNED: Record<string, string> = {
  'dbus-next': 'unmaintained since 2021 and brings xml2js into every consumer; lib/dbus replaces it',
  '@jellybrick/dbus-next': 'a D-Bus library; lib/dbus replaces it',
  '@homebridge/dbus-native': 'a D-Bus library; lib/dbus replaces it',
};

function productionTree(): Array<{ name: string; version: string; path: string }> {
  const out = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable', '--long'], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pkgs: Array<{ name: string; version: string; path: string }> = [];
  for (const line of out.split('\n')) {
    // path:name@version[:...]
    const m = /^([^:]+):((?:@[^@/:]+\/)?[^@:]+)@([^:]+)/.exec(line);
    if (m) pkgs.push({ path: m[1]!, name: m[2]!, version: m[3]! });
  }
  return pkgs;
}

export function findBad(pkgs: Array<{ name: string; version: string }>): string[] {
  const found: string[] = [];
  for (const p of pkgs) {
    if (Object.hasOwn(BANNED, p.name)) found.push(`${p.name}@${p.version}: ${BANNED[p.name]}`);
    const bad = Object.hasOwn(KNOWN_BAD, p.name) ? KNOWN_BAD[p.name]! : null;
    if (!bad) continue;
    const v = parse(p.version);
    if (bad.ranges.some(([from, to]) => cmp(v, parse(from)) >= 0 && cmp(v, parse(to)) < 0))
      found.push(`${p.name}@${p.version}: ${bad.why}`);
  }
  return found;
}

describe('production dependencies', () => {
  it('the check itself finds what it should', () => {
    expect(findBad([{ name: 'xml2js', version: '0.4.23' }])).toEqual([
      'xml2js@0.4.23: CVE-2023-0842 (prototype pollution), fixed in 0.5.0',
    ]);
    expect(
      findBad([
        { name: 'xml2js', version: '0.6.2' },
        { name: 'undici', version: '7.30.2' },
        { name: 'semver', version: '7.5.2' },
      ]),
    ).toEqual([]);
    expect(
      findBad([
        { name: 'undici', version: '6.21.0' },
        { name: 'dbus-next', version: '0.10.2' },
      ]),
    ).toHaveLength(2);
  });

  it('hold no known-bad version and no D-Bus library', () => {
    const pkgs = productionTree();
    // The runtime dependencies are there: the listing was read, not empty.
    expect(pkgs.map((p) => p.name)).toEqual(expect.arrayContaining(['undici']));
    // koffi is the SDK's optional peer (abstract bus addresses only): an app does not get it unasked.
    expect(pkgs.map((p) => p.name)).not.toContain('koffi');
    expect(findBad(pkgs)).toEqual([]);
  });
});

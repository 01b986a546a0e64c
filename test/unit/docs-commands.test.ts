/**
 * Every shell command shown in README.md and docs/*.md (```sh blocks) is run by a test, so the
 * docs cannot drift from the code. Commands that need a sandbox are run by the integration test
 * named for them; the rest are run here.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');

function docCommands(): Array<{ file: string; line: string }> {
  const files = [
    'README.md',
    ...readdirSync(join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];
  const out: Array<{ file: string; line: string }> = [];
  for (const file of files) {
    let inSh = false;
    for (const raw of read(file).split('\n')) {
      if (raw.startsWith('```')) {
        inSh = !inSh && raw.trim() === '```sh';
        continue;
      }
      const line = raw.replace(/\s+#.*$/, '').trim();
      if (inSh && line) out.push({ file, line });
    }
  }
  return out;
}

/** Who runs each kind of command; `run` runs it here and returns an error message or null. */
const RULES: Array<{ match: (line: string) => boolean; covered: () => string | null }> = [
  {
    // docs/netsessionctl.md: run one by one against the daemon by test/integration/cli.test.ts.
    match: (l) => l.startsWith('netsessionctl '),
    covered: () =>
      /doc-commands/.test(read('test/integration/cli.test.ts'))
        ? null
        : 'cli.test.ts no longer runs the documented commands',
  },
  {
    match: (l) => l.startsWith('netsessiond'),
    covered: () => null,
  },
  {
    // The demo is run by test/integration/demo.test.ts through the same script.
    match: (l) => l === 'npm ci && npm run demo',
    covered: () => {
      const script = JSON.parse(read('package.json')).scripts.demo as string;
      return script.includes('scripts/demo.ts') && read('test/integration/demo.test.ts').includes('scripts/demo.ts')
        ? null
        : 'demo is not run by demo.test.ts';
    },
  },
  {
    // CI runs exactly this (and it is what runs this test).
    match: (l) => l === 'npm test',
    covered: () =>
      /^NETSESSION_INTEGRATION=require npm test$/m.test(read('.ci/run')) ? null : '.ci/run does not run npm test',
  },
];

describe('commands in the docs', () => {
  const commands = docCommands();

  it('are all known to a test', () => {
    expect(commands.length).toBeGreaterThan(5);
    const orphans = commands.filter((c) => !RULES.some((r) => r.match(c.line))).map((c) => `${c.file}: ${c.line}`);
    expect(orphans).toEqual([]);
    const uncovered = commands.flatMap((c) => {
      const why = RULES.find((r) => r.match(c.line))?.covered();
      return why ? [`${c.file}: ${c.line}: ${why}`] : [];
    });
    expect(uncovered).toEqual([]);
  });

  it.each(commands.filter((c) => c.line.startsWith('netsessiond')).map((c) => [c.line]))('runs `%s`', (line) => {
    const args = line.split(/\s+/).slice(1);
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'daemon/main.ts'), ...args], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(args.includes('--version') ? /^netsessiond \d+\.\d+\.\d+\n$/ : /^usage: netsessiond/);
  });
});

/** docs/netsessionctl.md stays in step with the CLI (the integration test runs its commands). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COMMANDS, parseArgs } from '../../../bin/cli/args.js';
import {
  LIST_FIELDS,
  SERVICE_COLUMNS,
  SESSION_COLUMNS,
  STATS_COLUMNS,
  TECHNOLOGY_COLUMNS,
} from '../../../bin/cli/columns.js';
import { EXIT, EXIT_RUN } from '../../../bin/cli/errors.js';

const COLUMN_SETS = {
  services: SERVICE_COLUMNS,
  technologies: TECHNOLOGY_COLUMNS,
  sessions: SESSION_COLUMNS,
  stats: STATS_COLUMNS,
};

import { docCommands, NETSESSIONCTL_DOC, shellWords } from '../../integration/support/doc-commands.js';

const md = readFileSync(NETSESSIONCTL_DOC, 'utf8');

describe('docs/netsessionctl.md', () => {
  it('every command in its sh blocks parses', () => {
    const cmds = docCommands(md);
    expect(cmds.length).toBeGreaterThan(10);
    for (const argv of cmds) expect(() => parseArgs(argv), argv.join(' ')).not.toThrow();
  });

  it('shows every command at least once, each with a section', () => {
    const shown = new Set(docCommands(md).map((argv) => parseArgs(argv).command.name));
    const expected = [
      'state',
      'services',
      'technologies',
      'power',
      'connect',
      'autoconnect',
      'offline',
      'sessions',
      'session-create',
      'monitor',
      'run',
      'stats',
    ];
    expect([...shown].sort()).toEqual(expected.sort());
    for (const c of COMMANDS.filter((c) => c !== 'help' && c !== 'disable' && c !== 'session'))
      expect(md, c).toMatch(new RegExp(`^### .*\\b${c}\\b`, 'm'));
  });

  it('documents the exit codes the code uses', () => {
    for (const code of Object.values(EXIT)) expect(md).toMatch(new RegExp(`^\\| ${code} \\|`, 'm'));
    expect(md).toContain(`${EXIT_RUN.cgroup} means`);
  });

  it('splits shell words as the docs quote them', () => {
    expect(shellWords(`a -- sh -c 'echo "x $Y"' "b \\"c\\"" d`)).toEqual([
      'a',
      '--',
      'sh',
      '-c',
      'echo "x $Y"',
      'b "c"',
      'd',
    ]);
  });
});

describe('docs/netsessionctl.md: fields', () => {
  it('lists every field -o accepts, per list, with the defaults first', () => {
    const section = md.slice(md.indexOf('### Fields'));
    for (const [list, fields] of Object.entries(LIST_FIELDS)) {
      const row = section.split('\n').find((l) => l.startsWith(`| \`${list}\` |`));
      expect(row, list).toBeDefined();
      const [, , defaults = '', more = ''] = row!.split('|');
      const named = (cell: string) =>
        [...cell.matchAll(/`([a-z0-9-]+)`/g)].map((m) => m[1]!).filter((f) => !/^[A-Z]/.test(f));
      const cols = COLUMN_SETS[list as keyof typeof COLUMN_SETS];
      expect(named(defaults), list).toEqual(cols.defaults);
      expect([...named(defaults), ...named(more).filter((f) => fields.includes(f))].sort(), list).toEqual(
        [...fields].sort(),
      );
    }
  });
});

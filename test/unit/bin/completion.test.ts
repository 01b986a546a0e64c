/**
 * Shell completion for netsessionctl. bash: the script is sourced in a real bash, registered
 * (`complete -p`), and its function driven as bash drives it (COMP_WORDS split at
 * COMP_WORDBREAKS, COMP_CWORD, COMP_LINE, COMP_POINT). zsh: the function loads through compinit
 * in an interactive zsh on a pseudo-terminal (zpty) and lists its matches for a typed line and
 * a Tab. Live names come from a stand-in netsessionctl that records how it was asked; the real
 * daemon answers in test/integration/cli-tools.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../../bin/cli/args.js';
import { LIST_FIELDS } from '../../../bin/cli/columns.js';
import { BEARERS } from '../../../lib/index.js';

const ROOT = join(import.meta.dirname, '../../..');
const BASH = join(ROOT, 'bin/completions/netsessionctl.bash');
const ZSH_DIR = join(ROOT, 'bin/completions');

let dir: string;
let fake: string;

/** Splits a command line as bash does for COMP_WORDS: at blanks, and around each of `=` and `:` (COMP_WORDBREAKS). */
function compWords(line: string): string[] {
  const words: string[] = [];
  for (const blank of line.split(/ +/)) {
    for (const part of blank.split(/([=:])/)) if (part !== '') words.push(part);
  }
  if (line.endsWith(' ')) words.push('');
  return words;
}

/** The completions bash offers for `line` (cursor at its end), through the script's function. */
function bashComplete(line: string, env: Record<string, string> = {}): string[] {
  const words = compWords(line);
  const script = [
    `source ${JSON.stringify(BASH)}`,
    `COMP_LINE=${shq(line)}; COMP_POINT=\${#COMP_LINE}`,
    `COMP_WORDS=(${words.map(shq).join(' ')}); COMP_CWORD=${words.length - 1}`,
    '_netsessionctl',
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n');
  const out = execFileSync('bash', ['--norc', '--noprofile', '-c', script], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  return out.split('\n').filter((l) => l !== '');
}

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'netsession-completion-'));
  // Stands in for the daemon-facing lookups: records its arguments, answers like the real one.
  fake = join(dir, 'netsessionctl');
  writeFileSync(
    fake,
    [
      '#!/bin/sh',
      `echo "$*" >> ${dir}/calls`,
      'case "$*" in',
      '  *"services -o interface,id --no-headers") printf "eth-a  ethernet_020000000001_cable\\neth-b  wifi_020000000002_eth_b\\n" ;;',
      '  *"services -o interface --no-headers") printf "eth-a\\neth-b\\n" ;;',
      '  *"technologies -o type --no-headers") printf "ethernet\\nwifi\\n" ;;',
      '  *"sessions -o path --no-headers") printf "/sessions/_1_9/netsession/812/s1\\n" ;;',
      'esac',
    ].join('\n'),
  );
  chmodSync(fake, 0o755);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const calls = (): string[] => {
  try {
    return readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n');
  } catch {
    return [];
  }
};

describe('bash completion', () => {
  it('registers _netsessionctl for netsessionctl', () => {
    const out = execFileSync(
      'bash',
      ['--norc', '--noprofile', '-c', `source ${shq(BASH)} && complete -p netsessionctl`],
      { encoding: 'utf8' },
    );
    expect(out.trim()).toBe('complete -F _netsessionctl netsessionctl');
  });

  it('knows every command, bearer and -o field the CLI has', () => {
    const script = `source ${shq(BASH)}; echo "$_netsessionctl_commands"; echo "$_netsessionctl_bearers"; for l in ${Object.keys(LIST_FIELDS).join(' ')}; do _netsessionctl_fields $l; done`;
    const [commands, bearers, ...fields] = execFileSync('bash', ['--norc', '--noprofile', '-c', script], {
      encoding: 'utf8',
    })
      .trim()
      .split('\n');
    expect(commands!.split(' ')).toEqual([...COMMANDS]);
    expect(bearers!.split(' ').sort()).toEqual([...BEARERS].sort());
    expect(fields.map((f) => f.split(' '))).toEqual(Object.values(LIST_FIELDS));
  });

  it('completes commands, global options and subcommands', () => {
    expect(bashComplete('netsessionctl se')).toEqual(['services', 'sessions', 'session']);
    expect(bashComplete('netsessionctl --json st')).toEqual(['state', 'stats']);
    expect(bashComplete('netsessionctl --')).toEqual([
      '--json',
      '--bus',
      '--output',
      '--no-headers',
      '--help',
      '--version',
    ]);
    expect(bashComplete('netsessionctl session ')).toEqual(['create']);
    expect(bashComplete('netsessionctl session create --so')).toEqual(['--source-ip-rule']);
    expect(bashComplete('netsessionctl run --wa')).toEqual(['--wait', '--wait=']);
    expect(bashComplete('netsessionctl monitor --i')).toEqual(['--interval']);
    expect(bashComplete('netsessionctl offline o')).toEqual(['on', 'off']);
  });

  it('completes values: bearer lists, types, -o fields of the list named (also as --output=)', () => {
    expect(bashComplete('netsessionctl session create --bearers cellular,w')).toEqual(['cellular,wifi']);
    expect(bashComplete('netsessionctl run --bearers=e')).toEqual(['ethernet']);
    expect(bashComplete('netsessionctl session create --type i')).toEqual(['internet']);
    expect(bashComplete('netsessionctl services -o interface,ip')).toEqual(['interface,ipv4', 'interface,ipv6']);
    expect(bashComplete('netsessionctl stats --output=rx')).toEqual(['rx-bytes', 'rx-packets']);
    expect(bashComplete('netsessionctl technologies -o p')).toEqual(['powered', 'path']);
  });

  it('asks the running daemon for service names, technologies and session paths, on the bus given', () => {
    rmSync(join(dir, 'calls'), { force: true });
    expect(bashComplete(`${fake} connect e`)).toEqual(['eth-a', 'ethernet_020000000001_cable', 'eth-b']);
    expect(bashComplete(`${fake} --bus unix:path=/run/test-bus autoconnect eth-a `)).toEqual(['on', 'off']);
    expect(bashComplete(`${fake} --bus unix:path=/run/test-bus services w`)).toEqual(['wifi_020000000002_eth_b']);
    expect(bashComplete(`${fake} --bus=unix:path=/run/x enable `)).toEqual(['ethernet', 'wifi']);
    expect(bashComplete(`${fake} stats /s`)).toEqual(['/sessions/_1_9/netsession/812/s1']);
    expect(bashComplete(`${fake} session create --interface eth-`)).toEqual(['eth-a', 'eth-b']);
    expect(calls()).toEqual([
      'services -o interface,id --no-headers',
      '--bus unix:path=/run/test-bus services -o interface,id --no-headers',
      '--bus=unix:path=/run/x technologies -o type --no-headers',
      'sessions -o path --no-headers',
      'services -o interface --no-headers',
    ]);
  });

  it('after -- (run), completes the command to run', () => {
    expect(bashComplete('netsessionctl run --interface eth-c -- ech')).toContain('echo');
  });

  it('offers nothing from the daemon when it does not answer (no error, no output)', () => {
    expect(bashComplete(`${join(dir, 'missing-netsessionctl')} connect e`)).toEqual([]);
  });
});

describe('zsh completion', () => {
  /** What zsh lists (or inserts) for `line` + Tab Tab in an interactive shell with compinit; `$PATH` starts with the fake. */
  function zshComplete(line: string): string {
    const driver = join(dir, 'drive.zsh');
    writeFileSync(
      driver,
      [
        'zmodload zsh/zpty',
        'zpty z zsh -f -i',
        `zpty -w z "PS1='%% '; PATH=${dir}:\\$PATH; fpath=(${ZSH_DIR} \\$fpath); autoload -Uz compinit; compinit -u -D; zstyle ':completion:*' list-prompt ''; LISTMAX=0; stty columns 200; print RE''ADY"`,
        // Wait until compinit is done however loaded the machine is (the echoed line says RE''ADY).
        "zpty -r z setup '*READY*'",
        // A second Tab lists the matches when the first could extend the word to their common prefix.
        'zpty -w -n z "$1"$\'\\t\'',
        'sleep 1.5',
        "zpty -w -n z $'\\t'",
        'sleep 1',
        'out=""',
        'while zpty -r -t z chunk; do out+=$chunk; done',
        'zpty -d z',
        'print -r -- $out',
      ].join('\n'),
    );
    return execFileSync('zsh', ['-f', driver, line], { encoding: 'utf8', timeout: 30_000 })
      .replace(/\r/g, '')
      .replace(/\x1b\[[0-9;?]*[a-zA-Z]/g, '');
  }

  it('parses, and defines _netsessionctl for #compdef netsessionctl', () => {
    execFileSync('zsh', ['-n', join(ZSH_DIR, '_netsessionctl')]);
    expect(readFileSync(join(ZSH_DIR, '_netsessionctl'), 'utf8').split('\n')[0]).toBe('#compdef netsessionctl');
  });

  it('lists commands with their descriptions, and live services for connect', () => {
    const commands = zshComplete('netsessionctl se');
    expect(commands).toMatch(/services +-- the services/);
    expect(commands).toMatch(/sessions +-- every session/);
    expect(commands).toMatch(/session +-- create a session/);
    const services = zshComplete('netsessionctl connect e');
    expect(services).toMatch(/eth-a/);
    expect(services).toMatch(/eth-b/);
  }, 30_000);

  it('completes session options after `session create` and their values', () => {
    expect(zshComplete('netsessionctl session create --b')).toMatch(/session create --bearers=/);
    expect(zshComplete('netsessionctl run --type ')).toMatch(/any +internet +local/);
    expect(zshComplete('netsessionctl enable ')).toMatch(/ethernet +wifi/);
  }, 30_000);
});

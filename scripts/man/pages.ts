/**
 * The man pages, generated from what the docs and the programs already say, so they cannot
 * drift: netsessionctl(1) from docs/netsessionctl.md, netsessiond(8) from docs/netsessiond.md
 * with OPTIONS from the daemon's own --help text, netsessiond.conf(5) from
 * docs/netsessiond.conf.example. Pure apart from reading those files.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Token } from 'marked';
import { USAGE as DAEMON_USAGE } from '../../daemon/config.js';
import { confSections } from './conf.js';
import { blocks, lex, roffEscape } from './roff.js';

const ROOT = join(import.meta.dirname, '../..');

/** One generated page. */
export interface ManPage {
  /** File name, e.g. `netsessionctl.1`. */
  file: string;
  name: string;
  section: 1 | 5 | 8;
  roff: string;
}

const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

/** The package's version, and the date its changelog entry gives (the page's date; reproducible). */
export function release(): { version: string; date: string } {
  const { version } = JSON.parse(read('package.json')) as { version: string };
  const entry = new RegExp(`^## \\[${version.replace(/\./g, '\\.')}\\] - (\\d{4}-\\d{2}-\\d{2})$`, 'm').exec(
    read('CHANGELOG.md'),
  );
  const epoch = process.env.SOURCE_DATE_EPOCH;
  const date = entry?.[1] ?? (epoch ? new Date(Number(epoch) * 1000) : new Date()).toISOString().slice(0, 10);
  return { version, date };
}

const MANUAL: Record<ManPage['section'], string> = {
  1: 'User Commands',
  5: 'File Formats',
  8: 'System Administration',
};

function header(name: string, section: ManPage['section'], summary: string): string {
  const { version, date } = release();
  // No hyphenation, ragged right: paths, option names and addresses stay whole.
  return [
    `.TH ${name.toUpperCase()} ${section} "${date}" "netsession ${version}" "${MANUAL[section]}"`,
    '.nh',
    '.ad l',
    '.SH NAME',
    `${roffEscape(name)} \\- ${roffEscape(summary)}`,
  ].join('\n');
}

/** Splits a doc into its introduction (before the first `##`) and the rest. */
function splitIntro(tokens: Token[]): { intro: Token[]; rest: Token[] } {
  const at = tokens.findIndex((t) => t.type === 'heading' && (t as { depth: number }).depth === 2);
  return at < 0 ? { intro: tokens, rest: [] } : { intro: tokens.slice(0, at), rest: tokens.slice(at) };
}

function synopsis(lines: readonly string[]): string {
  return ['.SH SYNOPSIS', '.nf', ...lines.map((l) => roffEscape(l, true)), '.fi'].join('\n');
}

function seeAlso(refs: readonly string[]): string {
  return ['.SH "SEE ALSO"', refs.map((r) => r.replace(/^(.+)\((\d)\)$/, '\\fB$1\\fR($2)')).join(',\n')].join('\n');
}

/** `  --opt ARG    text` lines of a --help text as tagged paragraphs. */
export function optionsFromUsage(usage: string): string {
  const out = ['.SH OPTIONS'];
  for (const line of usage.split('\n')) {
    const m = /^\s+(-\S+)((?: [A-Z][A-Z-]*)?)\s{2,}(.+)$/.exec(line);
    if (!m) continue;
    out.push(
      '.TP',
      `\\fB${roffEscape(m[1]!, true)}\\fR${m[2] ? ` \\fI${roffEscape(m[2].trim())}\\fR` : ''}`,
      roffEscape(m[3]!),
    );
  }
  return out.join('\n');
}

export function netsessionctlPage(): ManPage {
  const { intro, rest } = splitIntro(lex(read('docs/netsessionctl.md')));
  // The doc's own synopsis block is the SYNOPSIS; the rest of its introduction the DESCRIPTION.
  const code = intro.findIndex((t) => t.type === 'code');
  const synopsisLines =
    code >= 0 ? (intro[code] as { text: string }).text.split('\n') : ['netsessionctl [OPTIONS] COMMAND [ARGS]'];
  const description = intro.filter((_, i) => i !== code);
  const roff = [
    header('netsessionctl', 1, 'control netsessiond: its services, technologies and network sessions'),
    synopsis(synopsisLines),
    '.SH DESCRIPTION',
    blocks(description),
    blocks(rest),
    seeAlso(['netsessiond(8)', 'netsessiond.conf(5)', 'connmanctl(1)']),
  ].join('\n');
  return { file: 'netsessionctl.1', name: 'netsessionctl', section: 1, roff };
}

export function netsessiondPage(): ManPage {
  const { intro, rest } = splitIntro(lex(read('docs/netsessiond.md')));
  const roff = [
    header('netsessiond', 8, 'per-application network sessions for Linux, a ConnMan-compatible daemon'),
    synopsis(['netsessiond [OPTIONS]']),
    '.SH DESCRIPTION',
    // The introduction's `netsessiond --help` example is what OPTIONS below shows.
    blocks(intro.filter((t) => t.type !== 'code')),
    optionsFromUsage(DAEMON_USAGE),
    blocks(rest),
    seeAlso(['netsessionctl(1)', 'netsessiond.conf(5)', 'connmand(8)', 'ip-rule(8)', 'nft(8)']),
  ].join('\n');
  return { file: 'netsessiond.8', name: 'netsessiond', section: 8, roff };
}

export function netsessiondConfPage(): ManPage {
  const { description, body } = confSections(read('docs/netsessiond.conf.example'));
  const roff = [
    header('netsessiond.conf', 5, 'configuration file of netsessiond'),
    synopsis(['/etc/netsession/netsessiond.conf']),
    '.SH DESCRIPTION',
    '.PP',
    description,
    '.PP',
    'An INI file: \\fB[Section]\\fR headers, \\fBKey = value\\fR lines and \\fB#\\fR comments. Each key below is shown with its default.',
    '.SH OPTIONS',
    body,
    seeAlso(['netsessiond(8)', 'netsessionctl(1)', 'connman.conf(5)']),
  ].join('\n');
  return { file: 'netsessiond.conf.5', name: 'netsessiond.conf', section: 5, roff };
}

/** Every page, in the order they are written. */
export function manPages(): ManPage[] {
  return [netsessiondPage(), netsessionctlPage(), netsessiondConfPage()];
}

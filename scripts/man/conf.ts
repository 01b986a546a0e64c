/**
 * docs/netsessiond.conf.example (every key with its default, each explained by the comment
 * above it) as the body of netsessiond.conf(5): the leading comment is the description, each
 * `[Section]` a subsection, each key a tagged paragraph `Key = default` with its comment. Keys
 * that follow one comment without one of their own share it (one entry, several tags). Comment
 * lines that are themselves `key = value` examples are shown as such (no fill).
 */
import { roffEscape } from './roff.js';

interface Entry {
  keys: Array<[string, string]>;
  comment: string[];
}

interface Section {
  name: string;
  /** Comments not followed by a key (e.g. a section that only has examples). */
  notes: string[];
  entries: Entry[];
}

/** Parses the example into its leading description and its sections. */
export function parseConfExample(text: string): { description: string[]; sections: Section[] } {
  const description: string[] = [];
  const sections: Section[] = [];
  let comment: string[] = [];
  let last: Entry | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const section = /^\[([^\]]+)\]$/.exec(line);
    if (section) {
      if (sections.length === 0) description.push(...comment);
      else sections.at(-1)!.notes.push(...comment);
      sections.push({ name: section[1]!, notes: [], entries: [] });
      comment = [];
      last = null;
    } else if (line.startsWith('#')) {
      comment.push(line.replace(/^#\s?/, ''));
    } else if (line === '') {
      // A blank line ends a group: the next key starts a new entry.
      last = null;
    } else {
      const eq = line.indexOf('=');
      const key: [string, string] = eq < 0 ? [line, ''] : [line.slice(0, eq).trim(), line.slice(eq + 1).trim()];
      const current = sections.at(-1);
      if (!current) throw new Error(`conf example: '${line}' comes before any [section]`);
      if (comment.length === 0 && last) last.keys.push(key);
      else {
        last = { keys: [key], comment };
        current.entries.push(last);
      }
      comment = [];
    }
  }
  if (sections.length === 0) description.push(...comment);
  else sections.at(-1)!.notes.push(...comment);
  return { description, sections };
}

const isExample = (line: string): boolean => /^\S+\s*=\s*\S/.test(line) && !/[.:;]$/.test(line);

/** Comment lines as roff: prose filled, `key = value` examples kept as lines. */
function commentText(lines: readonly string[]): string {
  const out: string[] = [];
  let inExample = false;
  for (const line of lines) {
    const example = isExample(line);
    if (example && !inExample) out.push('.RS 4', '.nf');
    if (!example && inExample) out.push('.fi', '.RE');
    inExample = example;
    out.push(roffEscape(line, example));
  }
  if (inExample) out.push('.fi', '.RE');
  return out.join('\n');
}

/** The roff for the example's sections (each `.SS [Name]`). */
export function confSections(text: string): { description: string; body: string } {
  const { description, sections } = parseConfExample(text);
  const body: string[] = [];
  for (const s of sections) {
    body.push(`.SS "[${roffEscape(s.name)}]"`);
    for (const e of s.entries) {
      const [first, ...more] = e.keys.map(
        ([k, v]) => `\\fB${roffEscape(k, true)}\\fR = ${v === '' ? '(empty)' : `\\fI${roffEscape(v, true)}\\fR`}`,
      );
      body.push('.TP', first!);
      // .TQ: another tag for the same paragraph (groff and mandoc).
      for (const m of more) body.push('.TQ', m);
      body.push(commentText(e.comment) || '\\&');
    }
    if (s.notes.length) body.push('.PP', commentText(s.notes));
  }
  return { description: commentText(description), body: body.join('\n') };
}

/**
 * The netsessionctl commands shown in docs/netsessionctl.md: every line starting with
 * `netsessionctl ` inside a ```sh block, split into argv as a POSIX shell would for the quoting
 * the docs use (single quotes, double quotes with backslash escapes). Tests run them, so the
 * docs cannot drift from the code.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const NETSESSIONCTL_DOC = fileURLToPath(new URL('../../../docs/netsessionctl.md', import.meta.url));

/** Splits one command line into words. Throws on an unterminated quote. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let cur: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated ' in: ${line}`);
      cur = (cur ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      let s = '';
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && j + 1 < line.length) j++;
        s += line[j];
      }
      if (j >= line.length) throw new Error(`unterminated " in: ${line}`);
      cur = (cur ?? '') + s;
      i = j;
    } else if (c === ' ' || c === '\t') {
      if (cur !== null) words.push(cur);
      cur = null;
    } else {
      cur = (cur ?? '') + c;
    }
  }
  if (cur !== null) words.push(cur);
  return words;
}

/** Each documented command as argv without the leading `netsessionctl`, in document order. */
export function docCommands(md: string = readFileSync(NETSESSIONCTL_DOC, 'utf8')): string[][] {
  const out: string[][] = [];
  for (const block of md.matchAll(/^```sh\n([\s\S]*?)^```/gm)) {
    for (const line of block[1]!.split('\n')) {
      if (!line.startsWith('netsessionctl ')) continue;
      out.push(shellWords(line).slice(1));
    }
  }
  return out;
}

/**
 * Interface-name globs, as used by the link source's include/ignore lists and bearer overrides.
 * Deliberately small: `*`, `?`, `[abc]`, `[a-z]`, `[!abc]` / `[^abc]`, and `\` to escape one
 * character. Matching is case-sensitive and anchored (the whole name must match), like
 * fnmatch(3) without flags — interface names never contain `/`, so no path semantics are needed.
 *
 * A pure copy of daemon/adapters/rtnetlink/glob.ts so core code (manage-mode.ts) can match names:
 * the core may not import adapters. Keep the two identical until the adapter re-exports this one.
 */

/** A compiled glob: true when `name` matches. */
export type GlobMatcher = (name: string) => boolean;

const REGEX_SPECIAL = /[.*+?^${}()|[\]\\/-]/g;

function escapeRegex(s: string): string {
  return s.replace(REGEX_SPECIAL, '\\$&');
}

/**
 * Translates a bracket expression starting at `glob[start] === '['`. Returns the regex source and
 * the index after the closing `]`, or null when the bracket is unterminated (then `[` is literal,
 * as in fnmatch).
 */
function bracket(glob: string, start: number): { source: string; end: number } | null {
  let i = start + 1;
  let negate = false;
  if (glob[i] === '!' || glob[i] === '^') {
    negate = true;
    i++;
  }
  let body = '';
  let first = true;
  while (i < glob.length) {
    const c = glob[i] as string;
    // A `]` right after `[` or `[!` is a literal member, not the end.
    if (c === ']' && !first) {
      if (body === '') return null;
      return { source: `[${negate ? '^' : ''}${body}]`, end: i + 1 };
    }
    first = false;
    if (c === '\\' && i + 1 < glob.length) {
      body += escapeRegex(glob[i + 1] as string);
      i += 2;
      continue;
    }
    // A range `a-z` keeps its dash unescaped; a dash at either end is literal.
    if (c === '-' && body !== '' && i + 1 < glob.length && glob[i + 1] !== ']') {
      body += '-';
      i++;
      continue;
    }
    body += escapeRegex(c);
    i++;
  }
  return null;
}

/** Compiles `glob` into a matcher. Never throws: unterminated brackets are taken literally,
 * a reversed range (`[z-a]`) matches nothing. */
export function compileGlob(glob: string): GlobMatcher {
  let source = '';
  for (let i = 0; i < glob.length; ) {
    const c = glob[i] as string;
    if (c === '*') {
      source += '.*';
      i++;
    } else if (c === '?') {
      source += '.';
      i++;
    } else if (c === '\\' && i + 1 < glob.length) {
      source += escapeRegex(glob[i + 1] as string);
      i += 2;
    } else if (c === '[') {
      const b = bracket(glob, i);
      if (b) {
        source += b.source;
        i = b.end;
      } else {
        source += '\\[';
        i++;
      }
    } else {
      source += escapeRegex(c);
      i++;
    }
  }
  let re: RegExp;
  try {
    // `s` flag so `?`/`*` also match a newline; names never have one, but the semantics stay exact.
    re = new RegExp(`^${source}$`, 's');
  } catch {
    // Only a reversed range (`[z-a]`) gets here; fnmatch matches nothing with it, and so do we.
    return () => false;
  }
  return (name) => re.test(name);
}

/** True when `name` matches `glob`. Compiles on every call; use {@link compileGlob} in loops. */
export function globMatch(glob: string, name: string): boolean {
  return compileGlob(glob)(name);
}

/** Compiles a list of globs into one matcher that is true when any of them matches. */
export function compileGlobList(globs: readonly string[]): GlobMatcher {
  const matchers = globs.map(compileGlob);
  return (name) => matchers.some((m) => m(name));
}

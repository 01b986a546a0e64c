/**
 * A strict reader for GLib-style key files (`[group]`, `key = value`, `#`/`;` comments), shared
 * by policy and provisioning files. Stricter than GLib on purpose: a repeated group or key is an
 * error (GLib merges or keeps the last one, which hides mistakes). Each caller supplies its
 * vocabulary and wording; every error carries the 1-based line.
 */

/** One value with the line it came from. */
export interface KeyFileEntry {
  value: string;
  line: number;
}

/** One group, in file order. */
export interface KeyFileGroup {
  name: string;
  line: number;
  values: Map<string, KeyFileEntry>;
}

/** What a file format accepts, and how its errors are worded. */
export interface KeyFileSyntax {
  /** Shown in "malformed group header '…' (expected …)". */
  headerHint: string;
  /** Shown in "malformed line '…' (expected …, [group] or a # comment)". */
  lineHint: string;
  /** Shown in "key '…' appears before any … header". */
  groupWord: string;
  /** Trim spaces inside `[ name ]`. */
  trimGroupName: boolean;
  /** An error detail for a group name, or null when it is fine. */
  checkGroup(name: string): string | null;
  /** An error detail for a key (and its value) in a group, or null when it is fine. */
  checkKey(group: string, key: string, value: string): string | null;
  /** Whether a group counts against a {@link GroupCap} (default: every group). */
  countsGroup?(name: string): boolean;
}

/** A cap on the groups one read may return; the reader stops at the first group over it. */
export interface GroupCap {
  max: number;
  /** The whole error detail for the group over the cap (the line is added by the caller). */
  detail: string;
}

/** A line as quoted in an error: a one-line 1 MiB file must not make a 1 MiB log line. */
function quote(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Reads `text`; `fail(line, detail)` must throw (the caller's typed error). */
export function readKeyFile(
  text: string,
  syntax: KeyFileSyntax,
  fail: (line: number, detail: string) => never,
  cap?: GroupCap,
): KeyFileGroup[] {
  const groups: KeyFileGroup[] = [];
  const names = new Set<string>();
  let current: KeyFileGroup | null = null;
  let counted = 0;
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (const [i, rawLine] of lines.entries()) {
    const line = i + 1;
    const trimmed = rawLine.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) continue;
    if (trimmed.startsWith('[')) {
      const m = /^\[([^[\]]*)\]$/.exec(trimmed)?.[1];
      const name = syntax.trimGroupName ? m?.trim() : m;
      if (name === undefined)
        return fail(line, `malformed group header '${quote(trimmed)}' (expected ${syntax.headerHint})`);
      const bad = syntax.checkGroup(name);
      if (bad) return fail(line, bad);
      if (names.has(name)) return fail(line, `group [${name}] appears twice in this file`);
      if (cap && syntax.countsGroup?.(name) !== false && ++counted > cap.max) return fail(line, cap.detail);
      names.add(name);
      current = { name, line, values: new Map() };
      groups.push(current);
      continue;
    }
    const eq = trimmed.indexOf('=');
    if (eq < 0)
      return fail(line, `malformed line '${quote(trimmed)}' (expected ${syntax.lineHint}, [group] or a # comment)`);
    const key = trimmed.slice(0, eq).trim();
    const value = trimmed.slice(eq + 1).trim();
    if (key === '') return fail(line, 'missing key before =');
    const group: KeyFileGroup | null = current;
    if (group === null) return fail(line, `key '${quote(key)}' appears before any ${syntax.groupWord} header`);
    const bad = syntax.checkKey(group.name, key, value);
    if (bad) return fail(line, bad);
    if (group.values.has(key)) return fail(line, `duplicate key '${key}' in group [${group.name}]`);
    group.values.set(key, { value, line });
  }
  return groups;
}

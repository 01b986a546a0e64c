/**
 * The version netsessionctl and netsessiond report: the `version` of the package they were
 * installed from. Read at run time from the nearest package.json above this file, so the same
 * code answers from the source tree (bin/cli/) and from the build (dist/bin/cli/), and a copy
 * of dist/ inside another package reports that package's version.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The `version` of the first package.json found walking up from `fromUrl`'s directory. */
export function packageVersion(fromUrl: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(fromUrl));
  for (;;) {
    let text: string | null = null;
    try {
      text = readFileSync(join(dir, 'package.json'), 'utf8');
    } catch {
      // none here: look one level up
    }
    if (text !== null) {
      const version = (JSON.parse(text) as { version?: unknown }).version;
      if (typeof version === 'string') return version;
    }
    const up = dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
}

/** `--version`'s line: `<program> <version>`, as coreutils and systemctl print it. */
export function versionLine(program: string): string {
  return `${program} ${packageVersion()}`;
}

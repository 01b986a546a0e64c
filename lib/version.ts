/**
 * The package's version, for `--version` of netsessiond and netsessionctl. Read from the
 * package.json above this file, which is one level up from source (`lib/`) and two from the
 * build (`dist/lib/`); the name check keeps an unrelated package.json from answering.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** This package's version line, `netsession 0.1.0` (`netsession (version unknown)` when its package.json is missing). */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'netsession' && pkg.version) return `netsession ${pkg.version}`;
    } catch {
      // Not here: look one level up.
    }
    dir = dirname(dir);
  }
  return 'netsession (version unknown)';
}

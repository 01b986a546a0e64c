/**
 * The {@link SysctlWriter} port over /proc/sys. Writes go to the daemon's own network
 * namespace: /proc/sys/net shows the namespace of the process that opens the file.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SysctlWriter } from '../../ports.js';

/** A path that stays below the root: relative, no empty, `.` or `..` segment. */
function checked(path: string): string {
  if (path.startsWith('/') || path.split('/').some((s) => s === '' || s === '.' || s === '..'))
    throw new Error(`not a sysctl path: ${JSON.stringify(path)}`);
  return path;
}

/** Creates the adapter; `root` is replaceable in tests. */
export function createProcSysctl(root = '/proc/sys'): SysctlWriter {
  return {
    async read(path) {
      try {
        const n = Number.parseInt((await readFile(join(root, checked(path)), 'utf8')).trim(), 10);
        return Number.isNaN(n) ? null : n;
      } catch {
        return null;
      }
    },
    async write(path, value) {
      await writeFile(join(root, checked(path)), `${value}\n`);
    },
  };
}

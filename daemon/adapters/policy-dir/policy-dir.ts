/**
 * PolicySource over a directory of `*.policy` files: all files at start, then each change as
 * it happens (fs.watch on the directory). Editors that write a temp file and rename it show up
 * as a rename of the final name, which is read like any change. A file written in place is
 * truncated first and filled after; reading it in between would load an empty (valid!) policy,
 * so each file's events settle for a moment before it is read. A malformed result keeps the
 * previous version (the engine's rule).
 */
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isPolicyFileName } from '../../core/policy.js';
import type { Logger, PolicySource } from '../../ports.js';

/** How long a file's change events must be quiet before it is read. */
export const POLICY_SETTLE_MS = 100;

export function createPolicyDir(dir: string, log: Logger, settleMs = POLICY_SETTLE_MS): PolicySource {
  let watcher: FSWatcher | null = null;
  const known = new Map<string, string>();
  const pending = new Map<string, NodeJS.Timeout>();

  async function readOne(file: string, onFile: (file: string, text: string | null) => void): Promise<void> {
    let text: string | null;
    try {
      text = await readFile(join(dir, file), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log('warn', `policy ${file}: ${(err as Error).message}`);
      text = null;
    }
    // fs.watch fires several events per write; only real content changes reach the engine.
    if (text === null ? !known.has(file) : known.get(file) === text) return;
    if (text === null) known.delete(file);
    else known.set(file, text);
    onFile(file, text);
  }

  return {
    async start(onFile) {
      await mkdir(dir, { recursive: true, mode: 0o755 });
      watcher = watch(dir, { persistent: false }, (_event, name) => {
        if (!name || !isPolicyFileName(name)) return;
        clearTimeout(pending.get(name));
        const t = setTimeout(() => {
          pending.delete(name);
          void readOne(name, onFile);
        }, settleMs);
        t.unref();
        pending.set(name, t);
      });
      for (const f of (await readdir(dir)).filter(isPolicyFileName).sort()) await readOne(f, onFile);
    },
    async stop() {
      watcher?.close();
      watcher = null;
      for (const t of pending.values()) clearTimeout(t);
      pending.clear();
    },
  };
}

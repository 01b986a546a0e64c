/**
 * A directory of text files delivered as a PolicySource: all accepted files at start (sorted by
 * name), then each change as it happens (fs.watch on the directory). Editors that write a temp
 * file and rename it show up as a rename of the final name, which is read like any change. A
 * file written in place is truncated first and filled after; reading it in between would load an
 * empty (valid!) file, so each file's events settle for a moment before it is read. Only real
 * content changes are delivered; a deleted file is delivered as null.
 */
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger, PolicySource } from '../../ports.js';

/** Default for how long a file's change events must be quiet before it is read. */
export const DEFAULT_SETTLE_MS = 100;

/** Options of {@link createWatchedDir}. */
export interface WatchedDirOptions {
  /** Created (mode 0755) at start when missing. */
  dir: string;
  /** Which file names are delivered; all others are ignored. */
  accept: (name: string) => boolean;
  /** What the files are, for log lines (`policy`, `provisioning`). */
  label: string;
  log: Logger;
  /** Quiet time after a file's last event before it is read. */
  settleMs?: number;
}

/** Watches `opts.dir`; see the module comment. */
export function createWatchedDir(opts: WatchedDirOptions): PolicySource {
  const { dir, accept, label, log } = opts;
  const settleMs = opts.settleMs ?? DEFAULT_SETTLE_MS;
  let watcher: FSWatcher | null = null;
  const known = new Map<string, string>();
  const pending = new Map<string, NodeJS.Timeout>();

  async function readOne(file: string, onFile: (file: string, text: string | null) => void): Promise<void> {
    let text: string | null;
    try {
      text = await readFile(join(dir, file), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log('warn', `${label} ${file}: ${(err as Error).message}`);
      text = null;
    }
    // fs.watch fires several events per write; only real content changes reach the consumer.
    if (text === null ? !known.has(file) : known.get(file) === text) return;
    if (text === null) known.delete(file);
    else known.set(file, text);
    onFile(file, text);
  }

  return {
    async start(onFile) {
      await mkdir(dir, { recursive: true, mode: 0o755 });
      watcher = watch(dir, { persistent: false }, (_event, name) => {
        if (!name || !accept(name)) return;
        clearTimeout(pending.get(name));
        const t = setTimeout(() => {
          pending.delete(name);
          void readOne(name, onFile);
        }, settleMs);
        t.unref();
        pending.set(name, t);
      });
      for (const f of (await readdir(dir)).filter(accept).sort()) await readOne(f, onFile);
    },
    async stop() {
      watcher?.close();
      watcher = null;
      for (const t of pending.values()) clearTimeout(t);
      pending.clear();
    },
  };
}

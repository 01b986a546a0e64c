/**
 * A directory of text files delivered as a PolicySource: all accepted files at start (sorted by
 * name), then each change as it happens (fs.watch on the directory). Editors that write a temp
 * file and rename it show up as a rename of the final name, which is read like any change. A
 * file written in place is truncated first and filled after; reading it in between would load an
 * empty (valid!) file, so each file's events settle for a moment before it is read. Only real
 * content changes are delivered; a deleted file is delivered as null.
 *
 * Files are read with capped-read.ts (regular files only, size cap); a file that cannot be read
 * (refused, EACCES, a symlink loop) is logged once per change and never delivered, so its
 * previous version stays in force. At most `maxFiles` files are held; more are refused. What is
 * remembered per file is a digest, not the text, so memory does not grow with file sizes.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger, PolicySource } from '../../ports.js';
import { DEFAULT_MAX_DIR_FILES, DEFAULT_MAX_FILE_BYTES, DIR_FILES_CAP, overCap } from '../../file-caps.js';
import { readCappedFile } from '../system/capped-read.js';

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
  /** What an accepted name looks like, for the line about ignored names (e.g. `*.policy`). */
  pattern?: string;
  log: Logger;
  /** Quiet time after a file's last event before it is read. */
  settleMs?: number;
  /** Bytes per file (default {@link DEFAULT_MAX_FILE_BYTES}). */
  maxFileBytes?: number;
  /** Files held at once (default {@link DEFAULT_MAX_DIR_FILES}). */
  maxFiles?: number;
}

const digest = (text: string): string => createHash('sha256').update(text).digest('base64');

/** Watches `opts.dir`; see the module comment. */
export function createWatchedDir(opts: WatchedDirOptions): PolicySource {
  const { dir, accept, label, log } = opts;
  const settleMs = opts.settleMs ?? DEFAULT_SETTLE_MS;
  const maxBytes = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const maxFiles = opts.maxFiles ?? DEFAULT_MAX_DIR_FILES;
  let watcher: FSWatcher | null = null;
  const known = new Map<string, string>();
  const pending = new Map<string, NodeJS.Timeout>();
  const rejected = (file: string, detail: string) => log('error', `${label} rejected, previous version kept: ${join(dir, file)}: ${detail}`);

  async function readOne(file: string, onFile: (file: string, text: string | null) => void, quietCap = false): Promise<boolean> {
    if (!known.has(file) && known.size >= maxFiles) {
      if (!quietCap) rejected(file, overCap(`file ${known.size + 1}`, maxFiles, DIR_FILES_CAP));
      return false;
    }
    let text: string | null;
    try {
      text = await readCappedFile(join(dir, file), maxBytes);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      rejected(file, e.code ? `${e.code}: cannot read it` : e.message.slice(join(dir, file).length + 2));
      return true;
    }
    // fs.watch fires several events per write; only real content changes reach the consumer.
    const sum = text === null ? null : digest(text);
    if (sum === null ? !known.has(file) : known.get(file) === sum) return true;
    if (sum === null) known.delete(file);
    else known.set(file, sum);
    onFile(file, text);
    return true;
  }

  return {
    async start(onFile) {
      let names: string[];
      try {
        await mkdir(dir, { recursive: true, mode: 0o755 });
        names = await readdir(dir);
      } catch (err) {
        // Not fatal: sessions work without policies; the daemon must not keep the network down.
        log('warn', `${label} directory ${dir} is unusable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); no ${label} files are loaded; fix: make ${dir} a directory the daemon can read, then restart it`);
        return;
      }
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
      // An error on the watch (the directory removed, inotify limits) must not end the daemon.
      watcher.on('error', (err) => log('warn', `${label} directory ${dir}: watch stopped (${err.message}); files in force stay`));
      const ignored = names.filter((n) => !accept(n) && !n.startsWith('.'));
      if (ignored.length) log('info', `${label}: ignoring ${ignored.length} file(s) in ${dir} not named ${opts.pattern ?? 'as expected'}: ${ignored.slice(0, 3).join(', ')}${ignored.length > 3 ? ', …' : ''}`);
      let over = 0;
      let firstOver = '';
      for (const f of names.filter(accept).sort()) {
        if (!(await readOne(f, onFile, true))) {
          over += 1;
          firstOver ||= f;
        }
      }
      if (over) log('error', `${label}: ${over} file(s) not loaded from ${dir}, from ${firstOver} on: ${overCap(`${known.size + over} files`, maxFiles, DIR_FILES_CAP)}`);
    },
    async stop() {
      watcher?.close();
      watcher = null;
      for (const t of pending.values()) clearTimeout(t);
      pending.clear();
    },
  };
}

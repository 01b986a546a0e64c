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
 *
 * inotify drops events when its queue overflows (thousands of files written at once), and
 * fs.watch does not say so; a rescan every `rescanMs` (stat of each name, a read only where
 * inode, size or mtime changed) picks up whatever was missed.
 */
import { createHash } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_MAX_DIR_FILES, DEFAULT_MAX_FILE_BYTES, DIR_FILES_CAP, overCap } from '../../file-caps.js';
import type { Logger, PolicySource } from '../../ports.js';
import { readCappedFile } from '../files/capped-read.js';

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
  /** Interval of the backstop rescan (default {@link DEFAULT_RESCAN_MS}). */
  rescanMs?: number;
}

/** Default interval of the backstop rescan. */
export const DEFAULT_RESCAN_MS = 10_000;

const first = (set: ReadonlySet<string>): string | undefined => set.values().next().value;

const digest = (text: string): string => createHash('sha256').update(text).digest('base64');

/** Watches `opts.dir`; see the module comment. */
export function createWatchedDir(opts: WatchedDirOptions): PolicySource {
  const { dir, accept, label, log } = opts;
  const settleMs = opts.settleMs ?? DEFAULT_SETTLE_MS;
  const maxBytes = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const maxFiles = opts.maxFiles ?? DEFAULT_MAX_DIR_FILES;
  let watcher: FSWatcher | null = null;
  const known = new Map<string, string>();
  /** Per name, what stat said when it was last looked at (for the rescan). */
  const looked = new Map<string, string>();
  /** Per name refused as unreadable, the stat it had then: logged once per version. */
  const refused = new Map<string, string>();
  /**
   * Per name, when its last change event came. One timer sweeps them all: 10,000 files written
   * at once must not cost 10,000 timers (memory the daemon keeps after the burst).
   */
  const pending = new Map<string, number>();
  let sweepTimer: NodeJS.Timeout | null = null;
  /** Names settled and waiting to be read, in order; one reader drains them. */
  const queue = new Set<string>();
  let draining = false;
  let deliver: ((file: string, text: string | null) => void) | null = null;
  let rescanTimer: NodeJS.Timeout | null = null;
  const signature = (file: string) =>
    stat(join(dir, file)).then(
      (st) => `${st.ino}:${st.size}:${st.mtimeMs}`,
      (e: NodeJS.ErrnoException) => e.code ?? 'error',
    );
  const rejected = (file: string, detail: string) =>
    log('error', `${label} rejected, previous version kept: ${join(dir, file)}: ${detail}`);

  /**
   * Reads run one at a time: the file cap is checked against files actually held (10,000
   * concurrent reads would all pass it), and at most one file's bytes are in memory.
   */
  let chain: Promise<unknown> = Promise.resolve();
  function readOne(
    file: string,
    onFile: (file: string, text: string | null) => void,
    quietCap = false,
  ): Promise<boolean> {
    const next = chain.then(() => readNow(file, onFile, quietCap));
    chain = next.catch(() => {});
    return next;
  }

  async function readNow(
    file: string,
    onFile: (file: string, text: string | null) => void,
    quietCap: boolean,
  ): Promise<boolean> {
    const sig = await signature(file);
    // Over the file cap nothing is remembered about a name (10,000 names would cost megabytes):
    // the rescan then skips it, and each of its change events gets one line.
    // Unreadable names count too: they are remembered (to log them once per version).
    if (sig !== 'ENOENT' && !known.has(file) && !refused.has(file) && known.size + refused.size >= maxFiles) {
      if (!quietCap) rejected(file, overCap(`file ${known.size + 1}`, maxFiles, DIR_FILES_CAP));
      return false;
    }
    if (sig === 'ENOENT') looked.delete(file);
    else looked.set(file, sig);
    // One line per refused version: more events for the same, unchanged file say nothing new.
    const refuse = (detail: string) => {
      if (refused.get(file) !== sig) rejected(file, detail);
      refused.set(file, sig);
    };
    let text: string | null;
    try {
      text = await readCappedFile(join(dir, file), maxBytes);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      refuse(e.code ? `${e.code}: cannot read it` : e.message.slice(join(dir, file).length + 2));
      return true;
    }
    refused.delete(file);
    if (text === null) looked.delete(file);
    // fs.watch fires several events per write; only real content changes reach the consumer.
    const sum = text === null ? null : digest(text);
    if (sum === null ? !known.has(file) : known.get(file) === sum) return true;
    if (sum === null) known.delete(file);
    else known.set(file, sum);
    onFile(file, text);
    return true;
  }

  /** Reads every name whose stat changed since it was last looked at, and every one gone. */
  async function rescan(onFile: (file: string, text: string | null) => void): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(dir)).filter(accept);
    } catch {
      return;
    }
    const present = new Set(names);
    for (const f of [...looked.keys()])
      if (!present.has(f) && !pending.has(f) && !queue.has(f)) await readOne(f, onFile);
    for (const f of names) {
      // Names over the file cap are not looked at again until a held file goes.
      if (pending.has(f) || queue.has(f) || (!looked.has(f) && known.size + refused.size >= maxFiles)) continue;
      if ((await signature(f)) !== looked.get(f)) await readOne(f, onFile);
    }
  }

  function onEvent(name: string): void {
    pending.set(name, Date.now());
    if (!sweepTimer) armSweep(settleMs);
  }

  function armSweep(ms: number): void {
    sweepTimer = setTimeout(sweep, ms);
    sweepTimer.unref();
  }

  /** Moves names quiet for `settleMs` to the read queue; re-arms for the earliest of the rest. */
  function sweep(): void {
    sweepTimer = null;
    const now = Date.now();
    let next = Infinity;
    for (const [name, at] of pending) {
      if (now - at >= settleMs) {
        pending.delete(name);
        queue.add(name);
      } else next = Math.min(next, at + settleMs - now);
    }
    if (next !== Infinity) armSweep(Math.max(1, next));
    void drain();
  }

  async function drain(): Promise<void> {
    if (draining || !deliver) return;
    draining = true;
    try {
      for (let name = first(queue); name !== undefined; name = first(queue)) {
        queue.delete(name);
        await readOne(name, deliver);
      }
    } finally {
      draining = false;
    }
  }

  function scheduleRescan(onFile: (file: string, text: string | null) => void): void {
    rescanTimer = setTimeout(() => {
      void rescan(onFile).finally(() => {
        if (rescanTimer) scheduleRescan(onFile);
      });
    }, opts.rescanMs ?? DEFAULT_RESCAN_MS);
    rescanTimer.unref();
  }

  return {
    async start(onFile) {
      let names: string[];
      try {
        await mkdir(dir, { recursive: true, mode: 0o755 });
        names = await readdir(dir);
      } catch (err) {
        // Not fatal: sessions work without policies; the daemon must not keep the network down.
        log(
          'warn',
          `${label} directory ${dir} is unusable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); no ${label} files are loaded; fix: make ${dir} a directory the daemon can read, then restart it`,
        );
        return;
      }
      watcher = watch(dir, { persistent: false }, (_event, name) => {
        if (name && accept(name)) onEvent(name);
      });
      // An error on the watch (the directory removed, inotify limits) must not end the daemon.
      watcher.on('error', (err) =>
        log('warn', `${label} directory ${dir}: watch stopped (${err.message}); files in force stay`),
      );
      const ignored = names.filter((n) => !accept(n) && !n.startsWith('.'));
      if (ignored.length)
        log(
          'info',
          `${label}: ignoring ${ignored.length} file(s) in ${dir} not named ${opts.pattern ?? 'as expected'}: ${ignored.slice(0, 3).join(', ')}${ignored.length > 3 ? ', …' : ''}`,
        );
      let over = 0;
      let firstOver = '';
      for (const f of names.filter(accept).sort()) {
        if (!(await readOne(f, onFile, true))) {
          over += 1;
          firstOver ||= f;
        }
      }
      if (over)
        log(
          'error',
          `${label}: ${over} file(s) not loaded from ${dir}, from ${firstOver} on: ${overCap(`${known.size + over} files`, maxFiles, DIR_FILES_CAP)}`,
        );
      // Events that came during the initial read are read now.
      deliver = onFile;
      void drain();
      scheduleRescan(onFile);
    },
    async stop() {
      if (rescanTimer) clearTimeout(rescanTimer);
      rescanTimer = null;
      watcher?.close();
      watcher = null;
      if (sweepTimer) clearTimeout(sweepTimer);
      sweepTimer = null;
      pending.clear();
      queue.clear();
      deliver = null;
    },
  };
}
